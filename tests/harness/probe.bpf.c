// SPDX-License-Identifier: GPL-2.0
/*
 * Minimal kprobe program for the loader harness: a few CO-RE relocations of different kinds
 * against kernel types, declared locally with preserve_access_index (no vmlinux.h needed).
 * No pt_regs access, so it builds for any arch; only loaded, never attached.
 */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef int pid_t;

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	/* No kernel has this member: its read is poisoned, and guarded so it stays dead code. */
	int btfmirror_no_such_member;
} __attribute__((preserve_access_index));

SEC("kprobe/do_nanosleep")
int probe_nanosleep(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	int pid = BPF_CORE_READ(task, pid);
	int ppid = BPF_CORE_READ(task, real_parent, tgid);
	int odd = 0;

	if (bpf_core_field_exists(task->btfmirror_no_such_member))
		odd = BPF_CORE_READ(task, btfmirror_no_such_member);
	bpf_printk("pid %d ppid %d size %d", pid, ppid, bpf_core_type_size(struct task_struct));
	bpf_printk("odd %d", odd);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
