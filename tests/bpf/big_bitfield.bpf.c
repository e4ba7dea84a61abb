// SPDX-License-Identifier: GPL-2.0
/*
 * A probed bitfield read, big_bitfield->f. The hand-built target of
 * tests/minimize/test_decision_oracle.py has `big_bitfield` (f fits a 4-byte load) and
 * `big_bitfield___x` (an 8-bit int bitfield at bit 60, which no 64-bit load covers): libbpf
 * fails on the second candidate ("can't be satisfied for bitfield").
 */
#include "common.h"

struct big_bitfield {
	int a;
	int f:8;
} __attribute__((preserve_access_index));

SEC("tracepoint/syscalls/sys_enter_getpid")
int big_bitfield(void *ctx)
{
	struct big_bitfield *s = (void *)bpf_get_current_task();

	return BPF_CORE_READ_BITFIELD_PROBED(s, f);
}

char LICENSE[] SEC("license") = "GPL";
