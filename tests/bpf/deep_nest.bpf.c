// SPDX-License-Identifier: GPL-2.0
/*
 * One field read, deep_nest->x. In the hand-built target of
 * tests/minimize/test_decision_oracle.py x sits below 70 anonymous structs, past libbpf's
 * BPF_CORE_SPEC_MAX_LEN (64): matching the candidate fails ("error matching candidate").
 */
#include "common.h"

struct deep_nest {
	int x;
} __attribute__((preserve_access_index));

SEC("tracepoint/syscalls/sys_enter_getpid")
int deep_nest(void *ctx)
{
	struct deep_nest *s = (void *)bpf_get_current_task();

	return BPF_CORE_READ(s, x);
}

char LICENSE[] SEC("license") = "GPL";
