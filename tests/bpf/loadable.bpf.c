// SPDX-License-Identifier: GPL-2.0
/* A few CO-RE reads the verifier accepts on current kernels (written for Linux 6.x). */
#include "common.h"

struct task_struct {
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	char comm[16];
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, pid_t);
	__type(value, pid_t);
} parents SEC(".maps");

SEC("tracepoint/sched/sched_process_fork")
int record_parent(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	pid_t pid = BPF_CORE_READ(task, tgid);
	pid_t ppid = BPF_CORE_READ(task, real_parent, tgid);

	bpf_map_update_elem(&parents, &pid, &ppid, BPF_ANY);
	return 0;
}

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(nanosleep_comm)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	char comm[16];

	BPF_CORE_READ_STR_INTO(&comm, task, comm);
	bpf_printk("%s sleeps, pid %d", comm, BPF_CORE_READ(task, pid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
