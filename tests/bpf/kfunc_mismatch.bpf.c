// SPDX-License-Identifier: GPL-2.0
/* kfuncs libbpf refuses or skips: bpf_rcu_read_lock declared with a parameter the kernel's
 * has not (libbpf: "func_proto ... incompatible"), and a weak kfunc no kernel has (left
 * unresolved: the call needs a guard). */
#include "common.h"

struct task_struct {
	pid_t pid;
} __attribute__((preserve_access_index));

extern void bpf_rcu_read_lock(int depth) __ksym;
extern int bpf_btfmirror_no_such_kfunc(int x) __ksym __weak;

int seen_pid;

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task)
{
	bpf_rcu_read_lock(1);
	seen_pid = bpf_btfmirror_no_such_kfunc(BPF_CORE_READ(task, pid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
