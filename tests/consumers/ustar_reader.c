/* An independent reader of min_core_btfs.tar.gz, written from two loaders' code, for the tests.
 *
 *   ustar_reader MODE OS_RELEASE UNAME_M UNAME_R PACKAGE OUT
 *
 * MODE bcc: bcc libbpf-tools' ensure_core_btf() (libbpf-tools/btf_helpers.c):
 *   - os-release read line by line with sscanf("ID=%64s") (os-release's quotes stay in the ID)
 *     and sscanf("VERSION_ID=\"%64s") minus the last byte (an unquoted VERSION_ID reads empty);
 *   - the name "./%s/%s/%s/%s.btf" built in char name[100]: snprintf overflow is a failure;
 *   - the package inflated with inflateInit2(16 + MAX_WBITS): gzip only;
 *   - tar_file_start(): raw 512-byte ustar headers walked until name[0] == 0, the name field
 *     compared with strcmp (no PAX, no GNU long names, no ustar prefix), the size field read with
 *     sscanf("%o"), the first match's bytes copied (a hard link's size is 0: 0 bytes, success).
 * MODE bpf-compatible: bpf-compatible-sys' ensure_core_btf_with_tar_binary() (the reader linked
 *   into C loaders): GzDecoder (gzip only), the name "./btfhub-archive/<ID>/<VERSION_ID>/
 *   <uname -m>/<uname -r>.btf" compared with each entry's raw header name, the entry's bytes
 *   copied from the header's size (a hard link: 0 bytes, success), and the loop does not stop:
 *   the last match wins. Its os-release comes from the os_release crate, whose parse_line()
 *   strips one pair of enclosing quotes from every value: ID="centos" reads centos and an
 *   unquoted VERSION_ID reads as written. The name buffer is bcc's char name[100] here too
 *   (the Rust reader has no such limit; a raw-header reader cannot see longer names anyway).
 *
 * The walk is bounds-checked (bcc's is not: past the end it is undefined behaviour, nothing to
 * reproduce). Exit status: 0 found (OUT written, possibly empty), 1 not found, 2 name too long,
 * 3 not gzip / corrupt, 4 usage or I/O error. The name looked for goes to stderr.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define FIELD_LEN 65
#define ID_FMT "ID=%64s"
#define VERSION_FMT "VERSION_ID=\"%64s"

struct os_info {
	char id[FIELD_LEN];
	char version[FIELD_LEN];
};

/* bcc's get_os_info(), reading a given file instead of /etc/os-release. */
static int os_info_bcc(const char *path, struct os_info *info)
{
	char *line = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	memset(info, 0, sizeof(*info));
	while (getline(&line, &len, f) != -1) {
		if (sscanf(line, ID_FMT, info->id) == 1)
			continue;
		if (sscanf(line, VERSION_FMT, info->version) == 1) {
			/* remove '"' suffix */
			info->version[strlen(info->version) - 1] = 0;
			continue;
		}
	}
	free(line);
	fclose(f);
	return 0;
}

/* The os_release crate: `if line.starts_with("ID=") { id = parse_line(line, 3) }`, where
 * parse_line trims whitespace and drops one pair of enclosing '"' or '\''. */
static void parse_value(const char *line, size_t skip, char *out)
{
	const char *start = line + skip;
	size_t n;

	while (*start == ' ' || *start == '\t')
		start++;
	n = strlen(start);
	while (n && (start[n - 1] == '\n' || start[n - 1] == '\r' || start[n - 1] == ' ' ||
		     start[n - 1] == '\t'))
		n--;
	if (n >= 2 && (start[0] == '"' || start[0] == '\'') && start[n - 1] == start[0]) {
		start++;
		n -= 2;
	}
	if (n >= FIELD_LEN)
		n = FIELD_LEN - 1;
	memcpy(out, start, n);
	out[n] = 0;
}

static int os_info_crate(const char *path, struct os_info *info)
{
	char *line = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	memset(info, 0, sizeof(*info));
	while (getline(&line, &len, f) != -1) {
		if (!strncmp(line, "ID=", 3))
			parse_value(line, 3, info->id);
		else if (!strncmp(line, "VERSION_ID=", 11))
			parse_value(line, 11, info->version);
	}
	free(line);
	fclose(f);
	return 0;
}

/* bcc's inflate_gz(): inflateInit2(16 + MAX_WBITS) takes a gzip stream and nothing else. */
static int inflate_gz(const unsigned char *src, size_t src_size, unsigned char **dst,
		      size_t *dst_size)
{
	size_t cap = 4 << 20, used = 0;
	unsigned char *buf = malloc(cap);
	z_stream strm;
	int ret;

	if (!buf)
		return -1;
	memset(&strm, 0, sizeof(strm));
	if (inflateInit2(&strm, 16 + MAX_WBITS) != Z_OK) {
		free(buf);
		return -1;
	}
	strm.next_in = (unsigned char *)src;
	strm.avail_in = (uInt)src_size;
	do {
		if (used == cap) {
			unsigned char *bigger = realloc(buf, cap * 2);

			if (!bigger) {
				ret = Z_MEM_ERROR;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
		strm.next_out = buf + used;
		strm.avail_out = (uInt)(cap - used);
		ret = inflate(&strm, Z_NO_FLUSH);
		used = cap - strm.avail_out;
	} while (ret == Z_OK);
	inflateEnd(&strm);
	if (ret != Z_STREAM_END) {
		free(buf);
		return -1;
	}
	*dst = buf;
	*dst_size = used;
	return 0;
}

/* The ustar header, as bcc declares it (from libtar). */
struct tar_header {
	char name[100];
	char mode[8];
	char uid[8];
	char gid[8];
	char size[12];
	char mtime[12];
	char chksum[8];
	char typeflag;
	char linkname[100];
	char magic[6];
	char version[2];
	char uname[32];
	char gname[32];
	char devmajor[8];
	char devminor[8];
	char prefix[155];
	char padding[12];
};

/* bcc's tar_file_start(), bounds-checked; `last` keeps walking (bpf-compatible's loop). */
static const unsigned char *tar_file_start(const unsigned char *buf, size_t size,
					   const char *name, int *length, int last)
{
	const unsigned char *found = NULL;
	int found_length = 0;
	size_t off = 0;

	while (off + 512 <= size && buf[off]) {
		const struct tar_header *tar = (const struct tar_header *)(buf + off);
		char field[101], size_field[13];
		size_t blocks;

		memcpy(size_field, tar->size, 12);
		size_field[12] = 0;
		sscanf(size_field, "%o", length); /* on failure *length keeps its value, as bcc's */
		memcpy(field, tar->name, 100);
		field[100] = 0;
		if (*length < 0 || off + 512 + (size_t)*length > size)
			return NULL;
		if (!strcmp(field, name)) {
			found = buf + off + 512;
			found_length = *length;
			if (!last)
				break;
		}
		blocks = 1 + ((size_t)*length + 511) / 512;
		off += blocks * 512;
	}
	*length = found_length;
	return found;
}

static int read_file(const char *path, unsigned char **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, used = 0, n;
	unsigned char *buf = malloc(cap);

	if (!f || !buf)
		return -1;
	while ((n = fread(buf + used, 1, cap - used, f)) > 0) {
		used += n;
		if (used == cap) {
			unsigned char *bigger = realloc(buf, cap * 2);

			if (!bigger)
				return -1;
			buf = bigger;
			cap *= 2;
		}
	}
	fclose(f);
	*data = buf;
	*size = used;
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode, *machine, *release;
	unsigned char *packed, *tar;
	size_t packed_size, tar_size;
	const unsigned char *start;
	struct os_info info;
	char name[100];
	int bcc, ret, length = 0;
	FILE *out;

	if (argc != 7) {
		fprintf(stderr, "usage: %s bcc|bpf-compatible OS_RELEASE UNAME_M UNAME_R PACKAGE OUT\n",
			argv[0]);
		return 4;
	}
	mode = argv[1];
	machine = argv[3];
	release = argv[4];
	bcc = !strcmp(mode, "bcc");
	if (!bcc && strcmp(mode, "bpf-compatible")) {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 4;
	}
	if ((bcc ? os_info_bcc : os_info_crate)(argv[2], &info) < 0) {
		perror(argv[2]);
		return 4;
	}
	/* bcc: strncpy(info->arch, u.machine, FIELD_LEN), the same for the release */
	if (strlen(machine) >= FIELD_LEN || strlen(release) >= FIELD_LEN) {
		fprintf(stderr, "uname field longer than %d bytes\n", FIELD_LEN - 1);
		return 2;
	}
	ret = snprintf(name, sizeof(name),
		       bcc ? "./%s/%s/%s/%s.btf" : "./btfhub-archive/%s/%s/%s/%s.btf", info.id,
		       info.version, machine, release);
	if (ret < 0 || (size_t)ret >= sizeof(name)) {
		fprintf(stderr, "name too long for char name[100]\n");
		return 2;
	}
	fprintf(stderr, "%s\n", name);
	if (read_file(argv[5], &packed, &packed_size) < 0) {
		perror(argv[5]);
		return 4;
	}
	if (inflate_gz(packed, packed_size, &tar, &tar_size) < 0) {
		fprintf(stderr, "not a gzip stream\n");
		return 3;
	}
	start = tar_file_start(tar, tar_size, name, &length, !bcc);
	if (!start)
		return 1;
	out = fopen(argv[6], "wb");
	if (!out || fwrite(start, 1, (size_t)length, out) != (size_t)length || fclose(out)) {
		perror(argv[6]);
		return 4;
	}
	return 0;
}
