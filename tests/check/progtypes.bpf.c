// SPDX-License-Identifier: GPL-2.0
/*
 * One program per BTF-dependent attach kind, for btfmirror check's program-type verdicts:
 * fentry/fexit need BPF_PROG_TYPE_TRACING and the target FUNC in the kernel BTF, lsm needs
 * BPF_PROG_TYPE_LSM and FUNC bpf_lsm_<hook> (CONFIG_BPF_LSM), tp_btf needs TYPEDEF
 * btf_trace_<event>, iter needs FUNC bpf_iter_<target>; a tracepoint and a kprobe need
 * nothing more than their program type. No CO-RE relocation.
 */
#include "common.h"

SEC("fentry/do_exit")
int on_exit_entry(void *ctx) { return 0; }

SEC("fexit/do_exit")
int on_exit_return(void *ctx) { return 0; }

SEC("lsm/file_open")
int on_file_open(void *ctx) { return 0; }

SEC("tp_btf/sched_switch")
int on_switch(void *ctx) { return 0; }

SEC("iter/task")
int each_task(void *ctx) { return 0; }

SEC("tracepoint/sched/sched_process_exec")
int on_exec(void *ctx) { return 0; }

SEC("kprobe/do_exit")
int on_exit_kprobe(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
