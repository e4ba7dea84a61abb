// SPDX-License-Identifier: GPL-2.0
/*
 * One field read, amb_offset->x. The hand-built target of tests/minimize/test_decision_oracle.py
 * has two candidates, `amb_offset` and `amb_offset___b`, with x inside anonymous structs at
 * different offsets: libbpf fails with "field offset ambiguity". No real kernel has the type.
 */
#include "common.h"

struct amb_offset {
	int x;
} __attribute__((preserve_access_index));

SEC("tracepoint/syscalls/sys_enter_getpid")
int amb_offset(void *ctx)
{
	struct amb_offset *s = (void *)bpf_get_current_task();

	return BPF_CORE_READ(s, x);
}

char LICENSE[] SEC("license") = "GPL";
