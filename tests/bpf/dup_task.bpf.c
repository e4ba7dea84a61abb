// SPDX-License-Identifier: GPL-2.0
/*
 * task_struct->pid read, then bpf_core_type_id_kernel(struct task_struct), in that order. On
 * kernels with several task_struct (centos 8, kylin V10, bclinux in the sample; the hand-built
 * target of tests/minimize/test_decision_oracle.py) the read matches every copy, so libbpf keeps
 * them all for the type id relocation, which then fails ("relocation decision ambiguity").
 */
#include "common.h"

struct task_struct {
	int pid;
} __attribute__((preserve_access_index));

SEC("tracepoint/syscalls/sys_enter_getpid")
int dup_task(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	int pid = BPF_CORE_READ(task, pid);

	return pid + bpf_core_type_id_kernel(struct task_struct);
}

char LICENSE[] SEC("license") = "GPL";
