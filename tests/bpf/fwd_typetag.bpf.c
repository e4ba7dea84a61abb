// SPDX-License-Identifier: GPL-2.0
/*
 * Type-based relocations that make bpftool gen min_core_btf abort while marking the target:
 * key_ref_t is a pointer to a struct the kernel only forward-declares (FWD), and user_int_ptr
 * is a pointer through a btf_type_tag (TYPE_TAG). bpftool's btfgen_mark_type() reports
 * "unsupported kind" for both; btfmirror keeps them and warns (fails with --strict).
 */
#include "common.h"

struct __key_reference_with_attributes;
typedef struct __key_reference_with_attributes *key_ref_t;
typedef int __attribute__((btf_type_tag("user"))) *user_int_ptr;

SEC("tracepoint/syscalls/sys_enter_getuid")
int fwd_and_tag(void *ctx)
{
	int found = 0;

	if (bpf_core_type_exists(key_ref_t))
		found |= 1;
	if (bpf_core_type_exists(user_int_ptr))
		found |= 2;
	return found;
}

char LICENSE[] SEC("license") = "GPL";
