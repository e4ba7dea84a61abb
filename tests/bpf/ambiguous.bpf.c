// SPDX-License-Identifier: GPL-2.0
/*
 * One target_type_id relocation on struct task_struct. Kernels whose BTF carries several
 * task_struct definitions (un-deduplicated BTF, e.g. some bclinux, centos and kylin builds)
 * give several matching candidates with different ids: libbpf reports
 * "relocation decision ambiguity" and bpftool gen min_core_btf aborts.
 */
#include "common.h"

struct task_struct {
	int pid;
} __attribute__((preserve_access_index));

SEC("tracepoint/syscalls/sys_enter_getpid")
int task_struct_id(void *ctx)
{
	return bpf_core_type_id_kernel(struct task_struct);
}

char LICENSE[] SEC("license") = "GPL";
