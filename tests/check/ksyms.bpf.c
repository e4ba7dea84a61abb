// SPDX-License-Identifier: GPL-2.0
/* Kernel variables as externs: a typed one (libbpf checks its BTF type; the verifier then asks
 * kallsyms for its address) and a typeless one (libbpf looks it up in /proc/kallsyms). */
#include "common.h"

extern const int bpf_prog_active __ksym;  /* DEFINE_PER_CPU(int, bpf_prog_active) */
extern const void jiffies __ksym;

int seen;
long seen_addr;

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec)
{
	const int *active = bpf_this_cpu_ptr(&bpf_prog_active);

	seen = *active;
	seen_addr = (long)&jiffies;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
