// SPDX-License-Identifier: GPL-2.0
/*
 * task_struct.__state exists only since Linux 5.14: read once behind bpf_core_field_exists
 * (resolves everywhere) and once unguarded (poisoned on older kernels).
 */
#include "common.h"

struct task_struct {
	unsigned int __state;
} __attribute__((preserve_access_index));

SEC("kprobe/schedule")
int guarded(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned int state = 0;

	if (bpf_core_field_exists(task->__state))
		state = BPF_CORE_READ(task, __state);
	return state;
}

SEC("kprobe/schedule")
int unguarded(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, __state);
}

char LICENSE[] SEC("license") = "GPL";
