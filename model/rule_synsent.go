package model

import (
	"cmp"
	"fmt"
	"github.com/tcptop/tcptop/format"
	"net/netip"
	"slices"
)

// ruleSynSent: many connections to one peer stuck in SYN_SENT (their SYN
// was retransmitted, or they were there at the previous poll): the peer is
// down, unreachable or dropping SYNs (a firewall, or a full accept queue).
func ruleSynSent(c *ruleCtx) []Finding {
	type cand struct {
		r netip.AddrPort
		a *synAcc
	}
	var cands []cand
	for r, a := range c.synSent {
		if a.stuck >= c.th.SynSent {
			cands = append(cands, cand{r, a})
		}
	}
	slices.SortFunc(cands, func(x, y cand) int {
		if v := cmp.Compare(y.a.stuck, x.a.stuck); v != 0 {
			return v
		}
		return x.r.Compare(y.r)
	})
	fails, failsKnown := c.counterRate("AttemptFails")
	out := make([]Finding, 0, len(cands))
	for _, cd := range cands {
		r, a := cd.r, cd.a
		f := Finding{
			Severity: Warning,
			Title:    Plain(fmt.Sprintf("Connects to %s failing: %s stuck in SYN_SENT", r, format.Count(a.stuck))),
			Subject:  outPeerSubject(r),
			Facts:    map[string]float64{"syn_sent": float64(a.n), "stuck": float64(a.stuck)},
			Knobs:    c.knobs("net.ipv4.tcp_syn_retries"),
		}
		if failsKnown {
			f.Facts["attempt_fails_per_sec"] = fails
		}
		if a.stuck >= c.th.SynSentCrit {
			f.Severity = Critical
		}
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("%s connections to %s in SYN_SENT, %s of them stuck (SYN retransmitted up to %d times, or there at the previous poll)",
			format.Count(a.n), r, format.Count(a.stuck), a.maxRetrans))...)
		if failsKnown {
			f.Evidence = append(f.Evidence, lines(fmt.Sprintf("Tcp AttemptFails %s (connects that failed: timeout or RST)", format.PerSec(fails)))...)
		}
		if len(a.owners) > 0 && c.s.Attributed {
			f.Evidence = append(f.Evidence, lines("connecting: "+c.topOwners(a.owners, 3))...)
		}
		if idx, ok := c.snap.lt.lookup(r); ok && c.isLocal(r.Addr()) {
			l := &c.snap.Listeners[idx]
			f.Evidence = append(f.Evidence, lines(fmt.Sprintf("the peer is a listener on this host, %s, with %d/%d in its accept queue%s",
				l.Local, l.Queue, l.Backlog, map[bool]string{true: " (full: its SYNs are dropped)", false: ""}[l.Full]))...)
		}
		f.Advice = lines(
			"The peer is down, unreachable or dropping SYNs (firewall, full accept queue): test it from here (nc -vz, curl -v)",
			fmt.Sprintf("Clients should use a short connect timeout and back off; the kernel gives up after tcp_syn_retries = %s retransmits", sysctlNow(c.snap, "net.ipv4.tcp_syn_retries")),
		)
		out = append(out, f)
	}
	return out
}
