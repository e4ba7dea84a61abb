// SPDX-License-Identifier: Apache-2.0
/*
 * btfmirror test harness: open a BPF object with bpf_object_open_opts.btf_custom_path, load it
 * (needs the bpf() syscall), and print every libbpf message, debug level included, on stdout.
 * Tests compare libbpf's CO-RE decisions ("patched insn", "substituting insn") between runs
 * against full and custom BTF.
 *
 * usage: load_btf OBJECT [BTF]     (no BTF: libbpf uses the kernel's own)
 * The last line is "btfmirror-harness: open|load ok|failed <err>"; exit 0 only when loaded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

static int print_all(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	return vfprintf(stdout, fmt, args);
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	int err;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s OBJECT [BTF]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(print_all);

	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = argc == 3 ? argv[2] : NULL);
	obj = bpf_object__open_file(argv[1], &opts);
	if (!obj) {
		err = -errno;
		printf("btfmirror-harness: open failed %d (%s)\n", err, strerror(-err));
		return 1;
	}
	err = bpf_object__load(obj);
	if (err)
		printf("btfmirror-harness: load failed %d (%s)\n", err, strerror(-err));
	else
		printf("btfmirror-harness: load ok 0\n");
	bpf_object__close(obj);
	return err ? 1 : 0;
}
