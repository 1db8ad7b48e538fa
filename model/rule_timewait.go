package model

import (
	"fmt"

	"github.com/tcptop/tcptop/source"
)

// ruleTimeWaitBuckets (incident 4): TIME_WAIT is at or near
// tcp_max_tw_buckets; beyond it closing sockets skip TIME_WAIT (TcpExt
// TCPTimeWaitOverflow), so late segments of an old connection can reach a
// new one with the same 4-tuple.
func ruleTimeWaitBuckets(c *ruleCtx) []Finding {
	limit := c.s.Sysctl.MaxTwBuckets
	tw := c.snap.States[source.TimeWait]
	overflow, known := c.counterRate("TCPTimeWaitOverflow")
	rising := known && overflow > 0
	near := limit > 0 && float64(tw) >= c.th.TimeWaitBuckets*float64(limit)
	if !rising && !near {
		return nil
	}
	f := Finding{Severity: Warning, Subject: hostSubject()}
	if rising {
		f.Severity = Critical
	}
	share := "?"
	if limit > 0 {
		share = pct(float64(tw) / float64(limit))
	}
	f.Title = Plain(fmt.Sprintf("TIME_WAIT at the bucket cap: %s of tcp_max_tw_buckets %s (%s)", count(tw), count(limit), share))
	f.Evidence = append(f.Evidence, lines(fmt.Sprintf("%s TIME_WAIT sockets against net.ipv4.tcp_max_tw_buckets = %s", count(tw), count(limit)))...)
	if known {
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("TcpExt TCPTimeWaitOverflow %s: closing sockets skip TIME_WAIT", perSec(overflow)))...)
	}
	if r, ok := c.counterRate("TWRecycled"); ok {
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("TcpExt TWRecycled %s (TIME_WAIT reused by tcp_tw_reuse = %s)", perSec(r), sysctlNow(c.snap, "net.ipv4.tcp_tw_reuse")))...)
	}
	for _, name := range []string{"TCPAbortOnData", "TCPAbortOnClose"} {
		if r, ok := c.counterRate(name); ok && r > 0 {
			f.Evidence = append(f.Evidence, lines(fmt.Sprintf("TcpExt %s %s: connections closed with RST (SO_LINGER 0, or unread data), which skips TIME_WAIT", name, perSec(r)))...)
		}
	}
	// The subject is where the TIME_WAIT is: on a listener (this host
	// closed first as the server) or toward a destination (as the client).
	inIdx, inTW := -1, 0
	for idx, n := range c.timeWaitIn {
		if n > inTW || (n == inTW && idx < inIdx) {
			inIdx, inTW = idx, n
		}
	}
	outTW := 0
	ds := c.snap.Ephemeral.Destinations
	for i := range ds {
		outTW = max(outTW, ds[i].TimeWait)
	}
	incoming := 0
	for _, n := range c.timeWaitIn {
		incoming += n
	}
	f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("%s of them on incoming connections (this host closed first as the server), %s on outgoing ones", count(incoming), count(tw-incoming))))
	switch {
	case inTW > 0 && inTW >= outTW:
		l := &c.snap.Listeners[inIdx]
		f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("most TIME_WAIT on one listener: %s (%s): the service closes its connections first", l.Local, count(inTW))))
		f.Subject = listenerSubject(l)
	case outTW > 0:
		best := &ds[0]
		for i := range ds {
			if ds[i].TimeWait > best.TimeWait {
				best = &ds[i]
			}
		}
		f.Evidence = append(f.Evidence, Text{Words("most TIME_WAIT to one destination: " + best.LocalIP), Arrow, Words(fmt.Sprintf("%s (%s)", best.Remote, count(best.TimeWait)))})
		f.Subject = destSubject(best)
	}
	f.Advice = append([]Text{{Words("Find who closes first and why so often: sort the peers by TIME_WAIT"), Key(ActionSortTimeWait)}}, lines(
		"Reuse connections (keep-alive, pooling) so fewer close at all",
		fmt.Sprintf("Raise net.ipv4.tcp_max_tw_buckets (now %s) if memory allows: a TIME_WAIT socket costs a few hundred bytes", count(limit)),
		fmt.Sprintf("net.ipv4.tcp_tw_reuse=1 with tcp_timestamps=1 lets outgoing connections reuse TIME_WAIT 4-tuples (now %s and %s)",
			sysctlNow(c.snap, "net.ipv4.tcp_tw_reuse"), sysctlNow(c.snap, "net.ipv4.tcp_timestamps")),
	)...)
	f.Knobs = c.knobs("net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_timestamps")
	f.Facts = map[string]float64{"time_wait": float64(tw), "max_tw_buckets": float64(limit)}
	if known {
		f.Facts["overflow_per_sec"] = overflow
	}
	return []Finding{f}
}
