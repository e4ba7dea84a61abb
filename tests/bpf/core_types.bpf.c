// SPDX-License-Identifier: GPL-2.0
/*
 * Type-based and enum relocations: type_exists, type_size, local_type_id, target_type_id,
 * enumval_exists and enumval_value on real kernel types and enums, plus a type no kernel has.
 */
#include "common.h"

struct sock {
	int __unused;
} __attribute__((preserve_access_index));

struct file {
	int __unused;
} __attribute__((preserve_access_index));

/* Unique in every sample kernel, so target_type_id is not ambiguous (see ambiguous.bpf.c). */
struct qstr {
	unsigned int len;
} __attribute__((preserve_access_index));

struct btfmirror_no_such_struct {
	int x;
};

enum pid_type {
	PIDTYPE_PID,
	PIDTYPE_TGID,
	PIDTYPE_PGID,
	PIDTYPE_SID,
	PIDTYPE_MAX,
};

/* A value that only exists in the flavored copy: no kernel has it. */
enum pid_type___fake {
	PIDTYPE_BTFMIRROR_FAKE___fake = 99,
};

struct type_facts {
	u64 sock_exists;
	u64 sock_size;
	u64 missing_exists;
	u64 pid_t_exists;
	u64 pid_t_size;
	u64 file_local_id;
	u64 qstr_kernel_id;
	u64 pid_t_kernel_id;
	u64 ringbuf_exists;
	u64 ringbuf_value;
	u64 tgid_value;
	u64 sid_exists;
	u64 fake_exists;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct type_facts);
} facts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int type_relos(void *ctx)
{
	u32 zero = 0;
	struct type_facts *f = bpf_map_lookup_elem(&facts, &zero);

	if (!f)
		return 0;
	f->sock_exists = bpf_core_type_exists(struct sock);
	f->sock_size = bpf_core_type_size(struct sock);
	f->missing_exists = bpf_core_type_exists(struct btfmirror_no_such_struct);
	f->pid_t_exists = bpf_core_type_exists(pid_t);
	f->pid_t_size = bpf_core_type_size(pid_t);
	f->file_local_id = bpf_core_type_id_local(struct file);
	f->qstr_kernel_id = bpf_core_type_id_kernel(struct qstr);
	f->pid_t_kernel_id = bpf_core_type_id_kernel(pid_t);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int enum_relos(void *ctx)
{
	u32 zero = 0;
	struct type_facts *f = bpf_map_lookup_elem(&facts, &zero);

	if (!f)
		return 0;
	f->ringbuf_exists = bpf_core_enum_value_exists(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF);
	if (f->ringbuf_exists)
		f->ringbuf_value = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF);
	f->tgid_value = bpf_core_enum_value(enum pid_type, PIDTYPE_TGID);
	f->sid_exists = bpf_core_enum_value_exists(enum pid_type, PIDTYPE_SID);
	f->fake_exists = bpf_core_enum_value_exists(enum pid_type___fake,
						    PIDTYPE_BTFMIRROR_FAKE___fake);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
