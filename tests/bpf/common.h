/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal stand-in for vmlinux.h: the scalar typedefs libbpf's headers need and a few enums.
 * Every kernel struct is declared by the program that uses it, with preserve_access_index,
 * so each object carries only the local types it relocates.
 */
#ifndef BTFMIRROR_TEST_COMMON_H
#define BTFMIRROR_TEST_COMMON_H

/* Makes bpf_tracing.h use the kernel's struct pt_regs field names (di, si, ...). */
#define __VMLINUX_H__ 1

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
typedef int __kernel_pid_t;
typedef __kernel_pid_t pid_t;

enum bpf_map_type {
	BPF_MAP_TYPE_UNSPEC = 0,
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
};

/* Only what bpf_tracing.h's x86 PT_REGS_PARM* macros touch. */
struct pt_regs {
	long unsigned int di;
	long unsigned int si;
	long unsigned int dx;
	long unsigned int cx;
	long unsigned int r8;
	long unsigned int sp;
	long unsigned int ip;
	long unsigned int ax;
} __attribute__((preserve_access_index));

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#endif
