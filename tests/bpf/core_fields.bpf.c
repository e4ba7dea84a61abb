// SPDX-License-Identifier: GPL-2.0
/*
 * Field relocations: nested and anonymous members, arrays (fixed and flexible), pointer
 * chains, typedef chains, bitfields (BPF_CORE_READ_BITFIELD_PROBED gives byte_off, byte_sz,
 * lshift_u64, signed and rshift_u64) and a ___flavor type for a field only old kernels have.
 */
#include "common.h"

struct upid {
	int nr;
} __attribute__((preserve_access_index));

struct pid {
	unsigned int level;
	struct upid numbers[1];
} __attribute__((preserve_access_index));

struct qstr {
	union {
		struct {
			u32 hash;
			u32 len;
		};
		u64 hash_len;
	};
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
} __attribute__((preserve_access_index));

struct vfsmount;

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct mm_struct {
	struct {
		unsigned long start_code;
		unsigned long arg_start;
		struct file *exe_file;
	};
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int flags;
	struct mm_struct *mm;
	unsigned sched_reset_on_fork : 1;
	unsigned in_execve : 1;
	unsigned in_iowait : 1;
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct pid *thread_pid;
	u64 start_time;
	char comm[16];
} __attribute__((preserve_access_index));

/* `state` was renamed `__state` in 5.14; the flavor matches struct task_struct. */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

struct sock_common {
	union {
		u64 skc_addrpair;
		struct {
			__be32 skc_daddr;
			__be32 skc_rcv_saddr;
		};
	};
	union {
		u32 skc_portpair;
		struct {
			__be16 skc_dport;
			u16 skc_num;
		};
	};
	unsigned short skc_family;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	/* A bitfield up to 5.5, a u16 since: the probed read handles both. */
	unsigned int sk_protocol : 8;
	unsigned int sk_type : 16;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct sock *sk;
	unsigned int len;
	__u8 pkt_type : 3;
	__be16 protocol;
} __attribute__((preserve_access_index));

struct event {
	pid_t pid;
	pid_t ppid;
	u32 level;
	int vnr;
	long state;
	u64 start_code;
	u64 in_execve;
	u64 comm_size;
	u64 comm_off;
	char comm[16];
	char c3;
	const unsigned char *exe_name;
	u32 name_len;
	unsigned long ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, struct event);
} events SEC(".maps");

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(task_fields)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___old *old = (void *)task;
	struct event ev = {};
	u32 key;

	ev.pid = BPF_CORE_READ(task, pid);
	ev.ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev.level = BPF_CORE_READ(task, thread_pid, level);
	ev.vnr = BPF_CORE_READ(task, thread_pid, numbers[0].nr);
	ev.start_code = BPF_CORE_READ(task, mm, start_code);
	ev.in_execve = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve);
	ev.comm_size = bpf_core_field_size(task->comm);
	ev.comm_off = __builtin_preserve_field_info(task->comm, BPF_FIELD_BYTE_OFFSET);
	BPF_CORE_READ_STR_INTO(&ev.comm, task, comm);
	ev.c3 = BPF_CORE_READ(task, comm[3]);
	if (bpf_core_field_exists(old->state))
		ev.state = BPF_CORE_READ(old, state);
	ev.exe_name = BPF_CORE_READ(task, mm, exe_file, f_path.dentry, d_name.name);
	ev.name_len = BPF_CORE_READ(task, mm, exe_file, f_path.dentry, d_name.len);
	ev.ino = BPF_CORE_READ(task, mm, exe_file, f_inode, i_ino);
	key = ev.pid;
	bpf_map_update_elem(&events, &key, &ev, BPF_ANY);
	return 0;
}

struct flow {
	u32 daddr;
	u16 dport;
	u16 family;
	u32 protocol;
	u32 type;
	u32 len;
	u32 pkt_type;
};

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(sock_fields, struct sock *sk)
{
	struct flow f = {};

	f.daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	f.dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	f.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	f.protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	f.type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
	bpf_printk("flow %x:%d %d", f.daddr, f.dport, f.protocol + f.type + f.family);
	return 0;
}

SEC("kprobe/kfree_skb")
int BPF_KPROBE(skb_fields, struct sk_buff *skb)
{
	u32 len = BPF_CORE_READ(skb, len);
	u32 pkt_type = BPF_CORE_READ_BITFIELD_PROBED(skb, pkt_type);
	u16 family = BPF_CORE_READ(skb, sk, __sk_common.skc_family);

	bpf_printk("skb %u %u %u", len, pkt_type, family);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
