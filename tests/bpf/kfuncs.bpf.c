// SPDX-License-Identifier: GPL-2.0
/* kfunc calls (extern __ksym functions, resolved by libbpf against the kernel's BTF by name and
 * prototype) beside one CO-RE read. The four strong kfuncs exist from Linux 6.2; the weak one
 * exists nowhere and is called only after testing its address (what bpf_ksym_exists() does),
 * so the verifier drops that call. Loads on 6.18. */
#include "common.h"

struct task_struct {
	pid_t pid;
} __attribute__((preserve_access_index));

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern int bpf_btfmirror_no_such_kfunc(int x) __ksym __weak;

int seen_pid;

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task)
{
	struct task_struct *found;

	bpf_rcu_read_lock();
	seen_pid = BPF_CORE_READ(task, pid);
	bpf_rcu_read_unlock();
	found = bpf_task_from_pid(seen_pid);
	if (found)
		bpf_task_release(found);
	if (bpf_btfmirror_no_such_kfunc)
		seen_pid = bpf_btfmirror_no_such_kfunc(seen_pid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
