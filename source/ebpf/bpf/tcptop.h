/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Minimal CO-RE definitions for tcptop's eBPF programs: only the types and
 * fields the programs read, each relocated against the running kernel's
 * BTF at load time (preserve_access_index), so no vmlinux.h is checked in
 * and no kernel headers are needed. Field names must match the kernel's.
 */
#ifndef TCPTOP_H
#define TCPTOP_H

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
#define true 1
#define false 0

/* UAPI constants (include/uapi/linux/bpf.h): stable by definition. */
enum bpf_map_type {
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_SK_STORAGE = 24,
};
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_F_NO_PREALLOC 1
#define BPF_SK_STORAGE_GET_F_CREATE 1

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* Errors as the kernel stores them in sk_err (positive). */
#define ETIMEDOUT 110
#define ECONNREFUSED 111

/* TCP states (include/net/tcp_states.h). */
enum {
	TCP_ESTABLISHED = 1,
	TCP_SYN_SENT = 2,
	TCP_SYN_RECV = 3,
	TCP_CLOSE = 7,
	TCP_LISTEN = 10,
};

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
};

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

/* The kernel nests most of these in anonymous unions; CO-RE finds a field
 * by name through anonymous members, so they are flat here. */
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
	int sk_err;
	__u8 sk_shutdown;
	__u32 sk_ack_backlog;
	__u32 sk_max_ack_backlog;
} __attribute__((preserve_access_index));

struct sk_buff;
struct request_sock;
struct dst_entry;
struct request_sock_ops;
struct tcp_request_sock_ops;

struct task_struct {
	struct task_struct *group_leader;
	__u64 start_boottime;
	char comm[16];
} __attribute__((preserve_access_index));

#endif
