// SPDX-License-Identifier: GPL-2.0
/* A BPF_MAP_TYPE_RINGBUF (kernel 5.8+) fed by a tracepoint, and a kprobe beside it. */
#include "common.h"

struct task_struct {
	pid_t pid;
	pid_t tgid;
	char comm[16];
} __attribute__((preserve_access_index));

struct exec_event {
	pid_t pid;
	pid_t tgid;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} drops SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int handle_exec(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct exec_event *e;
	u32 zero = 0;
	u64 *dropped;

	e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
	if (!e) {
		dropped = bpf_map_lookup_elem(&drops, &zero);
		if (dropped)
			__sync_fetch_and_add(dropped, 1);
		return 0;
	}
	e->pid = BPF_CORE_READ(task, pid);
	e->tgid = BPF_CORE_READ(task, tgid);
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("kprobe/do_exit")
int BPF_KPROBE(handle_exit, long code)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	pid_t tgid = BPF_CORE_READ(task, tgid);

	bpf_printk("exit %d code %ld", tgid, code);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
