// SPDX-License-Identifier: GPL-2.0
/*
 * One type_size relocation on struct amb_size. The hand-built target of
 * tests/minimize/test_decision_oracle.py has `amb_size` (8 bytes) and `amb_size___v2` (16
 * bytes): libbpf fails with "relocation decision ambiguity". No real kernel has the type.
 */
#include "common.h"

struct amb_size {
	int x;
} __attribute__((preserve_access_index));

SEC("tracepoint/syscalls/sys_enter_getpid")
int amb_size(void *ctx)
{
	return bpf_core_type_size(struct amb_size);
}

char LICENSE[] SEC("license") = "GPL";
