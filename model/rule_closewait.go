package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// ruleCloseWaitLeak (incident 5): a process holds CLOSE_WAIT sockets that
// persist or grow. CLOSE_WAIT means the peer closed and the process never
// called close(): always an application bug, never the network.
//
// It fires when one process holds at least th.CloseWait of them that were
// already there at the previous poll; on the first poll (or --once), when
// it holds that many at all, since there is nothing to compare with.
func ruleCloseWaitLeak(c *ruleCtx) []Finding {
	_, hasPrev := c.previous()
	type cand struct {
		pid int32
		a   *cwAcc
	}
	var cands []cand
	for pid, a := range c.closeWait {
		n := a.persisted
		if !hasPrev {
			n = a.n
		}
		if n >= c.th.CloseWait {
			cands = append(cands, cand{pid, a})
		}
	}
	slices.SortFunc(cands, func(x, y cand) int {
		if v := cmp.Compare(y.a.n, x.a.n); v != 0 {
			return v
		}
		return cmp.Compare(x.pid, y.pid)
	})
	out := make([]Finding, 0, len(cands))
	for _, cd := range cands {
		out = append(out, c.closeWaitFinding(cd.pid, cd.a, hasPrev))
	}
	return out
}

func (c *ruleCtx) closeWaitFinding(pid int32, a *cwAcc, hasPrev bool) Finding {
	p := c.s.Procs[pid]
	f := Finding{
		Severity: Warning,
		Subject:  processSubject(pid, c.s.Procs),
		Facts:    map[string]float64{"sockets": float64(a.n), "persisted": float64(a.persisted)},
		Knobs:    c.knobs("net.ipv4.tcp_fin_timeout"),
	}
	if a.ageKnown {
		f.Facts["oldest_seconds"] = a.oldest.Seconds()
	}
	who := c.procLabel(pid)
	f.Title = Plain(fmt.Sprintf("CLOSE_WAIT leak: %s holds %s sockets the peer already closed", who, count(a.n)))
	if a.n >= c.th.CloseWaitCrit {
		f.Severity = Critical
	}
	line := fmt.Sprintf("%s holds %s CLOSE_WAIT sockets", who, count(a.n))
	if p != nil && p.Cmdline != "" {
		line += ": " + truncateRunes(p.Cmdline, 80)
	}
	if pid == 0 {
		if c.s.Attributed {
			line += " (no process found for them)"
		} else {
			line += " (run without --no-procs to see the process)"
		}
	}
	f.Evidence = append(f.Evidence, lines(line)...)
	switch {
	case !hasPrev:
		f.Evidence = append(f.Evidence, lines("age unknown: this is the first snapshot (watch for a few seconds, or run tcptop --check)")...)
	case a.ageKnown:
		were := "were"
		if a.persisted == 1 {
			were = "was"
		}
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("%s of them %s already there at the previous poll; the oldest for at least %s (tcptop has watched for %s)",
			count(a.persisted), were, dur(a.oldest.Seconds()), dur(c.snap.Watching.Seconds())))...)
	}
	if r, span, ok := c.growth(func(pt *Point) (float64, bool) { return float64(pt.closeWait[pid]), true }); ok {
		verb := "growing"
		if r <= 0 {
			verb = "not shrinking"
			if r < 0 {
				verb = "shrinking"
			}
		}
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("%s: %+.0f/min over the last %s", verb, r*60, dur(span.Seconds())))...)
	}
	f.Evidence = append(f.Evidence, lines("from "+topPeers(a.peers, 3))...)
	if p != nil && p.FDs >= 0 && p.FDLimit != 0 {
		if p.FDLimit < 0 {
			f.Evidence = append(f.Evidence, lines(fmt.Sprintf("open files %s (no limit)", count(p.FDs)))...)
		} else {
			share := float64(p.FDs) / float64(p.FDLimit)
			line := fmt.Sprintf("open files %s of its limit %s (%s)", count(p.FDs), count(int(p.FDLimit)), pct(share))
			if share >= c.th.FDWarn {
				f.Severity = Critical
				line += ": at the limit accept() and open() fail with EMFILE"
			}
			f.Evidence = append(f.Evidence, lines(line)...)
		}
	}
	f.Advice = lines(
		"This is an application bug: the peer closed and the process never called close() on the socket (the network is fine)",
		"Find the code path that drops a connection without closing it: error paths, a missing defer/finally, a pool that never evicts",
		fmt.Sprintf("The peer waits in FIN_WAIT2 for up to net.ipv4.tcp_fin_timeout (now %s); restarting the process frees the sockets for now", withUnit(sysctlNow(c.snap, "net.ipv4.tcp_fin_timeout"), " s")),
	)
	return f
}

// topPeers formats the k addresses with most sockets: "10.0.0.5 (40), ...".
func topPeers(n map[netip.Addr]int, k int) string {
	return topCounts(n, k, netip.Addr.Compare, netip.Addr.String, "%d more peers")
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// withUnit appends a unit to a known value ("60" -> "60 s"), not to "unknown".
func withUnit(v, unit string) string {
	if v == "unknown" || v == "empty" {
		return v
	}
	return v + unit
}
