// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * tcptop's in-kernel aggregation. Every event is counted in a per-CPU hash
 * map keyed by network namespace, peer and (for connections this host
 * opens) the process that called connect(); user space reads the maps
 * once per poll. Nothing is sent per event: the cost is a map update in
 * the kernel, whatever the rate.
 *
 * Attribution: the process is the task that called connect(): the move
 * CLOSE -> SYN_SENT runs inside tcp_v4_connect/tcp_v6_connect, in that
 * task. It is remembered in socket storage with the socket's start time
 * and its peer, so later transitions (in softirq, where the current task
 * is whoever was interrupted) are attributed by socket, never by current
 * task. Passive (accepted) connections are attributed to their listener
 * in user space.
 *
 * Only BTF tracepoints are required (no ftrace, kprobes or tracefs):
 * inet_sock_set_state, tcp_retransmit_skb, tcp_send_reset,
 * tcp_receive_reset, tcp_retransmit_synack, kfree_skb. Where the kernel
 * allows fentry, three optional programs see what no tracepoint shows:
 * SYNs dropped by a full accept queue (tcp_conn_request) and tail-loss
 * probes (tcp_send_loss_probe).
 *
 * The move into TIME_WAIT is invisible here (the kernel swaps in a
 * minisocket): a connection counts as closed when its full socket reaches
 * CLOSE, and TIME_WAIT counts come from sock_diag.
 *
 * GPL-compatible licence: bpf_probe_read_kernel and the tracing helpers
 * are GPL-only.
 */
#include "tcptop.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define LIFE_BUCKETS 32
#define MAX_PEERS 16384
#define MAX_PROCS 16384

/* Direction of a peer key. */
enum {
	DIR_NS = 0,      /* namespace-wide counters, no peer */
	DIR_OUT = 1,     /* this host connected: remote ip:port, local ip */
	DIR_IN = 2,      /* accepted: remote ip, local ip:port */
	DIR_LISTEN = 3,  /* a listener: local ip:port */
	DIR_UNKNOWN = 4, /* a socket older than the programs: full 4-tuple */
};

struct peer_key {
	__u32 netns;
	__u8 dir;
	__u8 family;
	__u16 lport;
	__u16 rport;
	__u16 pad;
	__u8 laddr[16];
	__u8 raddr[16];
};

struct peer_val {
	__u64 born; /* ktime ns when this key was created */
	__u64 opens;
	__u64 closes;
	__u64 refused;
	__u64 timedout;
	__u64 abandoned;
	__u64 unreachable;
	__u64 noport;
	__u64 retrans;
	__u64 tlp;
	__u64 rst_sent;
	__u64 rst_recv;
	__u64 overflows;
	__u64 life[LIFE_BUCKETS]; /* closes by log2 of lifetime in µs */
};

struct proc_key {
	struct peer_key peer;
	__u32 tgid;
	__u32 pad;
	__u64 pstart; /* the process's start, ns after boot */
	char comm[16];
};

struct proc_val {
	__u64 born;
	__u64 opens;
	__u64 closes;
	__u64 failed;
	__u64 noport;
	__u64 life_us; /* sum of the lifetimes of closed connections */
};

/* What a socket carries from connect() (or accept) to its close. */
struct sock_info {
	struct peer_key key;
	__u64 start; /* ktime ns at SYN_SENT or SYN_RECV */
	__u64 pstart;
	__u32 tgid;
	__u8 pad0;
	__u8 keyed; /* key holds the socket's peer */
	__u8 opened;
	__u8 pad;
	char comm[16];
};

/* Counters of aggregation failures and unattributed events. */
enum {
	STAT_PEERS_FULL = 0,
	STAT_PROCS_FULL = 1,
	STAT_STORAGE = 2,
	STAT_RST_NO_SOCK = 3,
	STAT_MAX = 8,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, MAX_PEERS);
	__type(key, struct peer_key);
	__type(value, struct peer_val);
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, MAX_PROCS);
	__type(key, struct proc_key);
	__type(value, struct proc_val);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Scratch space for a new map value (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct peer_val);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_info);
} socks SEC(".maps");

/* Force the generated Go code to define these types. */
const struct peer_key *unused_peer_key __attribute__((unused));
const struct peer_val *unused_peer_val __attribute__((unused));
const struct proc_key *unused_proc_key __attribute__((unused));
const struct proc_val *unused_proc_val __attribute__((unused));

#define ADD(p, field, n) __sync_fetch_and_add(&(p)->field, (n))

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline __u32 netns_of(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* key_from_sk fills k with sk's peer as dir sees it. */
static __always_inline void key_from_sk(struct peer_key *k, const struct sock *sk, __u8 dir)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->netns = netns_of(sk);
	k->dir = dir;
	k->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (k->family == AF_INET) {
		__be32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(k->laddr, &l, 4);
		__builtin_memcpy(k->raddr, &r, 4);
	} else {
		BPF_CORE_READ_INTO(&k->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&k->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	__u16 rport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	switch (dir) {
	case DIR_OUT: /* clients come from ever-new local ports */
		k->rport = rport;
		break;
	case DIR_IN:
		k->lport = lport;
		break;
	case DIR_LISTEN:
		k->lport = lport;
		__builtin_memset(k->raddr, 0, sizeof(k->raddr));
		break;
	default:
		k->lport = lport;
		k->rport = rport;
	}
}

static __always_inline struct peer_val *peer_get(const struct peer_key *k)
{
	struct peer_val *v = bpf_map_lookup_elem(&peers, k);
	if (v)
		return v;
	__u32 zero = 0;
	struct peer_val *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	__builtin_memset(s, 0, sizeof(*s));
	s->born = bpf_ktime_get_ns();
	/* EEXIST: another CPU created it meanwhile; look it up again. */
	bpf_map_update_elem(&peers, k, s, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&peers, k);
	if (!v)
		stat_inc(STAT_PEERS_FULL);
	return v;
}

static __always_inline struct proc_val *proc_get(const struct sock_info *si)
{
	struct proc_key k;
	__builtin_memset(&k, 0, sizeof(k));
	k.peer = si->key;
	k.tgid = si->tgid;
	k.pstart = si->pstart;
	__builtin_memcpy(k.comm, si->comm, sizeof(k.comm));
	struct proc_val *v = bpf_map_lookup_elem(&procs, &k);
	if (v)
		return v;
	struct proc_val z = {};
	z.born = bpf_ktime_get_ns();
	bpf_map_update_elem(&procs, &k, &z, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&procs, &k);
	if (!v)
		stat_inc(STAT_PROCS_FULL);
	return v;
}

static __always_inline struct sock_info *info_of(struct sock *sk)
{
	return bpf_sk_storage_get(&socks, sk, 0, 0);
}

/* remember_task records the current task as the socket's process. */
static __always_inline void remember_task(struct sock_info *si)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	si->tgid = bpf_get_current_pid_tgid() >> 32;
	si->pstart = BPF_CORE_READ(t, group_leader, start_boottime);
	/* The process's name (/proc/PID/comm), not the calling thread's. */
	BPF_CORE_READ_INTO(&si->comm, t, group_leader, comm);
}

static __always_inline __u32 life_bucket(__u64 us)
{
	__u32 b = 0;
	if (us == 0)
		return 0;
	if (us >> 32) { us >>= 32; b += 32; }
	if (us >> 16) { us >>= 16; b += 16; }
	if (us >> 8) { us >>= 8; b += 8; }
	if (us >> 4) { us >>= 4; b += 4; }
	if (us >> 2) { us >>= 2; b += 2; }
	if (us >> 1) { b += 1; }
	b += 1;
	return b < LIFE_BUCKETS ? b : LIFE_BUCKETS - 1;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(set_state, struct sock *sk, int oldstate, int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct sock_info *si;

	if (newstate == TCP_SYN_SENT) {
		/* Process context: the task calling connect(). */
		si = bpf_sk_storage_get(&socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!si) {
			stat_inc(STAT_STORAGE);
			return 0;
		}
		remember_task(si);
		key_from_sk(&si->key, sk, DIR_OUT);
		si->keyed = 1;
		si->start = now;
		si->opened = 0;
		return 0;
	}
	if (newstate == TCP_SYN_RECV && oldstate == TCP_LISTEN) {
		/* A passive child, in softirq: attributed by its listener. */
		si = bpf_sk_storage_get(&socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!si) {
			stat_inc(STAT_STORAGE);
			return 0;
		}
		key_from_sk(&si->key, sk, DIR_IN);
		si->keyed = 1;
		si->tgid = 0;
		si->start = now;
		si->opened = 0;
		return 0;
	}
	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		si = info_of(sk);
		if (!si || !si->keyed)
			return 0; /* a handshake begun before the programs loaded */
		si->opened = 1;
		struct peer_val *pv = peer_get(&si->key);
		if (pv)
			ADD(pv, opens, 1);
		if (si->tgid) {
			struct proc_val *cv = proc_get(si);
			if (cv)
				ADD(cv, opens, 1);
		}
		return 0;
	}
	if (newstate != TCP_CLOSE || oldstate == TCP_LISTEN || oldstate == TCP_CLOSE)
		return 0;

	si = info_of(sk);
	if (!si || !si->keyed || si->start == 0) {
		/* Opened before the programs loaded: counted per namespace. */
		struct peer_key k;
		__builtin_memset(&k, 0, sizeof(k));
		k.netns = netns_of(sk);
		k.dir = DIR_NS;
		struct peer_val *pv = peer_get(&k);
		if (pv && oldstate != TCP_SYN_SENT)
			ADD(pv, closes, 1);
		return 0;
	}
	struct peer_val *pv = peer_get(&si->key);
	if (oldstate == TCP_SYN_SENT) {
		int err = BPF_CORE_READ(sk, sk_err);
		/* No error and not shut down by close(): connect() itself
		 * failed after SYN_SENT, where inet_hash_connect found no
		 * local port (EADDRNOTAVAIL). */
		int port = err != 0 || BPF_CORE_READ(sk, sk_shutdown) != 0;
		if (pv) {
			if (!port)
				ADD(pv, noport, 1);
			else if (err == ECONNREFUSED)
				ADD(pv, refused, 1);
			else if (err == ETIMEDOUT)
				ADD(pv, timedout, 1);
			else if (err == 0)
				ADD(pv, abandoned, 1);
			else
				ADD(pv, unreachable, 1);
		}
		if (si->tgid) {
			struct proc_val *cv = proc_get(si);
			if (cv) {
				ADD(cv, failed, 1);
				if (!port)
					ADD(cv, noport, 1);
			}
		}
		si->start = 0;
		return 0;
	}
	if (!si->opened) {
		si->start = 0;
		return 0;
	}
	__u64 us = (now - si->start) / 1000;
	if (pv) {
		ADD(pv, closes, 1);
		__u32 b = life_bucket(us);
		if (b < LIFE_BUCKETS)
			ADD(pv, life[b], 1);
	}
	if (si->tgid) {
		struct proc_val *cv = proc_get(si);
		if (cv) {
			ADD(cv, closes, 1);
			ADD(cv, life_us, us);
		}
	}
	si->start = 0;
	return 0;
}

/* peer_of returns the counters of sk's peer: its remembered key, or for a
 * socket older than the programs (or a minisocket) its 4-tuple. */
static __always_inline struct peer_val *peer_of(struct sock *sk)
{
	struct sock_info *si = info_of(sk);
	if (si && si->keyed)
		return peer_get(&si->key);
	struct peer_key k;
	key_from_sk(&k, sk, DIR_UNKNOWN);
	return peer_get(&k);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(retransmit, struct sock *sk)
{
	struct peer_val *pv = peer_of(sk);
	if (pv)
		ADD(pv, retrans, 1);
	return 0;
}

SEC("fentry/tcp_send_loss_probe")
int BPF_PROG(loss_probe, struct sock *sk)
{
	struct peer_val *pv = peer_of(sk);
	if (pv)
		ADD(pv, tlp, 1);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(send_reset, struct sock *sk)
{
	if (!sk) {
		stat_inc(STAT_RST_NO_SOCK);
		return 0;
	}
	struct peer_val *pv = peer_of(sk);
	if (pv)
		ADD(pv, rst_sent, 1);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(receive_reset, struct sock *sk)
{
	struct peer_val *pv = peer_of(sk);
	if (pv)
		ADD(pv, rst_recv, 1);
	return 0;
}

static __always_inline void listener_add(struct sock *sk, int synack)
{
	struct peer_key k;
	key_from_sk(&k, sk, DIR_LISTEN);
	struct peer_val *pv = peer_get(&k);
	if (!pv)
		return;
	if (synack)
		ADD(pv, retrans, 1);
	else
		ADD(pv, overflows, 1);
}

/* A SYN-ACK retransmitted by a listener: the handshake's last ACK did not
 * come, or came to a full accept queue and was dropped. */
SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(retransmit_synack, struct sock *sk)
{
	listener_add(sk, 1);
	return 0;
}

#define SKB_DROP_REASON_TCP_LISTEN_OVERFLOW 40

/* The handshake's last ACK dropped because the listener's accept queue was
 * full (Linux 6.12+ passes the receiving socket). Optional. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb, void *skb, void *location, int reason, struct sock *rx_sk)
{
	if (reason != SKB_DROP_REASON_TCP_LISTEN_OVERFLOW || !rx_sk)
		return 0;
	listener_add(rx_sk, 0);
	return 0;
}

/* A SYN to a full accept queue is dropped without a tracepoint: where the
 * kernel allows fentry, check the kernel's own test (sk_acceptq_is_full)
 * as the SYN arrives. Optional. */
SEC("fentry/tcp_conn_request")
int BPF_PROG(conn_request, struct request_sock_ops *rsk_ops, const struct tcp_request_sock_ops *af_ops, struct sock *sk)
{
	__u32 q = BPF_CORE_READ(sk, sk_ack_backlog);
	__u32 max = BPF_CORE_READ(sk, sk_max_ack_backlog);
	if (q > max)
		listener_add(sk, 0);
	return 0;
}
