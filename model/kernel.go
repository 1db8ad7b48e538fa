package model

import (
	"cmp"
	"slices"
)

// The kernel view: the tunables that decide how TCP behaves in the five
// incidents, and the TcpExt/Tcp counters that prove what happened, each
// with a one-line meaning. Pure data; the front ends only lay it out.

// KernelTunable is one sysctl with its value as read and what it does.
type KernelTunable struct {
	Name  string
	Value string
	// Readable is false when the file could not be read (Value is empty).
	Readable bool
	Meaning  string
}

// KernelCounter is one TcpExt or Tcp counter with its value, its rate
// since the previous poll (HasRate false in the first snapshot) and, for
// the counters the incidents name, what it counts.
type KernelCounter struct {
	Name    string
	Value   int64
	Rate    Rate
	HasRate bool
	Meaning string
	// Alarming: a rise of this counter means trouble (drops, failures,
	// resets), so a front end may mark a non-zero rate.
	Alarming bool
}

type meaning struct{ name, text string }

// tunables are the sysctls tcptop reads, in the order they are shown.
var tunables = []meaning{
	{"net.ipv4.ip_local_port_range", "ports connect() picks local ports from (the ephemeral range)"},
	{"net.ipv4.ip_local_reserved_ports", "ports connect() never hands out: put service ports here"},
	{"net.core.somaxconn", "caps every listen() backlog; fixed at listen(): restart after raising"},
	{"net.ipv4.tcp_max_syn_backlog", "half-open (SYN_RECV) connections a listener keeps"},
	{"net.ipv4.tcp_fin_timeout", "seconds an orphaned FIN_WAIT2 lasts; does not shorten TIME_WAIT (60 s)"},
	{"net.ipv4.tcp_tw_reuse", "1: new connects may reuse TIME_WAIT 4-tuples (needs timestamps); 2: loopback only"},
	{"net.ipv4.tcp_max_tw_buckets", "TIME_WAIT cap: beyond it closing sockets skip TIME_WAIT"},
	{"net.ipv4.tcp_timestamps", "TCP timestamps; tcp_tw_reuse needs them"},
	{"net.ipv4.tcp_max_orphans", "sockets no process holds before the kernel resets them"},
	{"net.ipv4.tcp_syn_retries", "SYN retransmits before connect() gives up (6 is about 2 minutes)"},
	{"net.ipv4.tcp_synack_retries", "SYN-ACK retransmits for a half-open incoming connection"},
	{"net.ipv4.tcp_syncookies", "1: answer with SYN cookies when the SYN queue overflows"},
	{"net.ipv4.tcp_abort_on_overflow", "1: a full accept queue answers RST instead of dropping (clients fail fast)"},
	{"net.ipv4.tcp_keepalive_time", "seconds idle before keepalive probes (sockets that ask for them)"},
}

// counters are the counters worth a meaning, the ones the incidents name
// first, in the order they are shown among equals.
var counters = []meaning{
	{"ListenOverflows", "connections dropped: a listener's accept queue was full"},
	{"ListenDrops", "SYNs to listeners dropped (overflows included)"},
	{"TCPTimeWaitOverflow", "closing sockets that skipped TIME_WAIT: tcp_max_tw_buckets reached"},
	{"TWRecycled", "TIME_WAIT 4-tuples reused by new connects (tcp_tw_reuse at work)"},
	{"TW", "TIME_WAIT sockets that ran their 60 s"},
	{"TCPAbortOnData", "resets on close with SO_LINGER 0, or data arriving after close"},
	{"TCPAbortOnClose", "resets: the application closed with unread data"},
	{"ActiveOpens", "connects started (CLOSED to SYN_SENT)"},
	{"PassiveOpens", "connections accepted by listeners (LISTEN to SYN_RECV)"},
	{"AttemptFails", "connects that failed: the peer is down, refusing or dropping SYNs"},
	{"EstabResets", "established connections reset"},
	{"CurrEstab", "connections ESTABLISHED or CLOSE_WAIT now (a gauge)"},
	{"RetransSegs", "segments retransmitted: loss, or a peer too slow to ACK"},
	{"TCPSynRetrans", "SYNs and SYN-ACKs retransmitted"},
	{"TCPAbortOnTimeout", "connections dropped after too many retransmits"},
	{"TCPAbortOnMemory", "connections reset: TCP out of memory"},
	{"TCPAbortOnLinger", "resets after SO_LINGER timed out"},
	{"TCPReqQFullDrop", "SYNs dropped: SYN queue full and no SYN cookies"},
	{"TCPReqQFullDoCookies", "SYN queue full: answered with SYN cookies"},
	{"SyncookiesSent", "SYN cookies sent: the SYN queue overflowed"},
	{"SyncookiesFailed", "SYN cookies that did not validate"},
	{"TCPBacklogDrop", "segments dropped: socket backlog full (the application is not reading)"},
	{"TCPTimeouts", "retransmission timeouts"},
	{"OutRsts", "resets sent"},
	{"InErrs", "segments received with errors"},
	{"TCPMemoryPressures", "times TCP entered memory pressure"},
}

// alarming are the counters whose rise means trouble: drops, failures.
var alarming = []string{"ListenOverflows", "ListenDrops", "TCPTimeWaitOverflow", "AttemptFails", "TCPAbortOnTimeout", "TCPAbortOnMemory", "TCPReqQFullDrop", "TCPBacklogDrop"}

// TunableNames lists the tunables in display order.
func TunableNames() []string {
	out := make([]string, len(tunables))
	for i, t := range tunables {
		out[i] = t.name
	}
	return out
}

// KeyCounterNames lists the counters with a meaning, in display order.
func KeyCounterNames() []string {
	out := make([]string, len(counters))
	for i, c := range counters {
		out[i] = c.name
	}
	return out
}

// TunableMeaning is what a tunable does, in one line ("" when unknown).
func TunableMeaning(name string) string { return lookup(tunables, name) }

// CounterMeaning is what a counter counts, in one line ("" when it is not
// one the incidents name).
func CounterMeaning(name string) string { return lookup(counters, name) }

func lookup(ms []meaning, name string) string {
	for _, m := range ms {
		if m.name == name {
			return m.text
		}
	}
	return ""
}

func rank(ms []meaning, name string) int {
	for i, m := range ms {
		if m.name == name {
			return i
		}
	}
	return len(ms)
}

// KernelTunables lists the known tunables in display order (unreadable
// ones included, marked), then any other sysctl present, by name.
func KernelTunables(sysctl map[string]string) []KernelTunable {
	out := make([]KernelTunable, 0, max(len(tunables), len(sysctl)))
	for _, t := range tunables {
		v, ok := sysctl[t.name]
		out = append(out, KernelTunable{Name: t.name, Value: v, Readable: ok, Meaning: t.text})
	}
	var extra []string
	for name := range sysctl {
		if rank(tunables, name) == len(tunables) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		out = append(out, KernelTunable{Name: name, Value: sysctl[name], Readable: true})
	}
	return out
}

// KernelCounters lists every counter: first those that moved since the
// previous poll, then those that are non-zero, then the zeros. Within each
// group the counters the incidents name come first, in their order, then
// the rest by name, so rows do not jump around between polls.
func KernelCounters(values map[string]int64, rates map[string]Rate) []KernelCounter {
	out := make([]KernelCounter, 0, len(values))
	for name, v := range values {
		r, ok := rates[name]
		i := rank(counters, name)
		c := KernelCounter{Name: name, Value: v, Rate: r, HasRate: ok}
		if i < len(counters) {
			c.Meaning = counters[i].text
		}
		c.Alarming = slices.Contains(alarming, name)
		out = append(out, c)
	}
	group := func(c *KernelCounter) int {
		switch {
		case c.HasRate && c.Rate != 0:
			return 0
		case c.Value != 0:
			return 1
		}
		return 2
	}
	slices.SortFunc(out, func(a, b KernelCounter) int {
		if x := cmp.Compare(group(&a), group(&b)); x != 0 {
			return x
		}
		if x := cmp.Compare(rank(counters, a.Name), rank(counters, b.Name)); x != 0 {
			return x
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}
