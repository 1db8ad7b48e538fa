package model

import (
	"cmp"
	"fmt"
	"github.com/tcptop/tcptop/format"
	"net/netip"
	"slices"
)

// ruleCloseWaitLeak (incident 5): a process (or a pool of processes
// sharing one listening socket) holds CLOSE_WAIT sockets that stay.
// CLOSE_WAIT means the peer closed and the process never called close():
// always an application bug, never the network.
//
// A leak is sockets that stay, so it is decided from how long each socket
// has been in CLOSE_WAIT (first seen by cookie), not from a count at one
// instant: it fires when one holder has at least th.CloseWait sockets in
// CLOSE_WAIT for th.CloseWaitAgeSec or longer. A server that closes a
// second or two after the peer's FIN never fires, however busy. A single
// look (the first poll, --once) cannot know any age: it says so at info.
func ruleCloseWaitLeak(c *ruleCtx) []Finding {
	_, hasPrev := c.previous()
	type cand struct {
		k cwKey
		a *cwAcc
	}
	var cands []cand
	for k, a := range c.closeWait {
		// A single look without the kernel's ages cannot tell a leak
		// from a slow close: such a holder is listed at info.
		if a.stale >= c.th.CloseWait || (!hasPrev && a.kernelAged == 0 && a.n >= c.th.CloseWait) {
			cands = append(cands, cand{k, a})
		}
	}
	slices.SortFunc(cands, func(x, y cand) int {
		if v := cmp.Compare(y.a.stale, x.a.stale); v != 0 {
			return v
		}
		if v := cmp.Compare(y.a.n, x.a.n); v != 0 {
			return v
		}
		if v := x.k.listener.Compare(y.k.listener); v != 0 {
			return v
		}
		return cmp.Compare(x.k.pid, y.k.pid)
	})
	out := make([]Finding, 0, len(cands))
	for _, cd := range cands {
		out = append(out, c.closeWaitFinding(cd.k, cd.a, hasPrev || cd.a.kernelAged > 0))
	}
	return out
}

// worstPid is the process holding most of a holder's sockets (pid order
// breaks ties).
func (a *cwAcc) worstPid() int32 {
	best, bn := int32(-1), -1
	for pid, n := range a.pids {
		if n > bn || (n == bn && pid < best) {
			best, bn = pid, n
		}
	}
	return max(best, 0)
}

// closeWaitFinding describes one holder; aged says its sockets' ages are
// known (an earlier poll saw them, or the kernel told).
func (c *ruleCtx) closeWaitFinding(k cwKey, a *cwAcc, aged bool) Finding {
	pid := k.pid
	pool := k.listener.IsValid()
	if pool {
		pid = a.worstPid()
	}
	p := c.s.Procs[pid]
	f := Finding{
		Severity: Warning,
		Subject:  processSubject(pid, c.s.Procs),
		Facts:    map[string]float64{"sockets": float64(a.n), "stale": float64(a.stale), "persisted": float64(a.persisted), "processes": float64(len(a.pids))},
		Knobs:    c.knobs("net.ipv4.tcp_fin_timeout"),
	}
	if a.ageKnown {
		f.Facts["oldest_seconds"] = a.oldest.Seconds()
	}
	who := c.procLabel(pid)
	if pool {
		who = fmt.Sprintf("%s pool (%d processes)", procName(pid, c.s.Procs), len(a.pids))
	}
	age := format.Duration(c.th.CloseWaitAgeSec)
	if !aged {
		f.Severity = Info
		f.Title = Plain(fmt.Sprintf("CLOSE_WAIT: %s holds %s the peer already closed (age unknown)", who, plural(a.n, "socket", "sockets")))
	} else {
		f.Title = Plain(fmt.Sprintf("CLOSE_WAIT leak: %s holds %s the peer already closed", who, plural(a.stale, "socket", "sockets")))
		if a.stale >= c.th.CloseWaitCrit {
			f.Severity = Critical
		}
	}
	line := fmt.Sprintf("%s holds %s CLOSE_WAIT sockets", c.procLabel(pid), format.Count(a.n))
	if pool {
		line = fmt.Sprintf("%s processes sharing the listener %s hold %s CLOSE_WAIT sockets (each counted once); the most: %s with %s",
			format.Count(len(a.pids)), k.listener, format.Count(a.n), c.procLabel(pid), format.Count(a.pids[pid]))
	}
	if p != nil && p.Cmdline != "" {
		line += ": " + format.Clip(p.Cmdline, 80, format.GlyphsFor(false))
	}
	if pid == 0 {
		if c.s.Attributed {
			line += " (no process found for them)"
		} else {
			line += " (run without --no-procs to see the process)"
		}
	}
	f.Evidence = append(f.Evidence, Plain(line))
	switch {
	case !aged:
		f.Evidence = append(f.Evidence, Plain("age unknown: one look cannot tell a leak from a slow close; sockets that stay "+age+" or more are a leak (watch for a few seconds, or run tcptop --check)"))
	case a.ageKnown:
		have := "have"
		if a.stale == 1 {
			have = "has"
		}
		src := fmt.Sprintf("tcptop has watched for %s", format.Duration(c.snap.Watching.Seconds()))
		if a.kernelAged > 0 {
			src = "from the kernel: the time since the peer's last segment"
		}
		f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("%s of them %s been in CLOSE_WAIT for %s or more; the oldest for at least %s (%s)",
			format.Count(a.stale), have, age, format.Duration(a.oldest.Seconds()), src)))
	}
	if r, span, ok := c.growth(func(pt *Point) (float64, bool) { v, ok := pt.closeWait[k]; return float64(v), ok }); ok && aged {
		verb := "growing"
		if r <= 0 {
			verb = "not shrinking"
			if r < 0 {
				verb = "shrinking"
			}
		}
		f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("%s: %+.0f/min over the last %s", verb, r*60, format.Duration(span.Seconds()))))
	}
	f.Evidence = append(f.Evidence, Plain("from "+topPeers(a.peers, 3)))
	if fds, limit, fpid := c.fdPressure(a); fds >= 0 && limit != 0 {
		if limit < 0 {
			f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("open files %s (no limit)", format.Count(fds))))
		} else {
			share := float64(fds) / float64(limit)
			line := fmt.Sprintf("open files %s of its limit %s (%s)", format.Count(fds), format.Count(int(limit)), format.Percent(share))
			if pool {
				line = fmt.Sprintf("open files of %s: %s of its limit %s (%s)", c.procLabel(fpid), format.Count(fds), format.Count(int(limit)), format.Percent(share))
			}
			if share >= c.th.FDWarn && aged && a.stale > 0 {
				f.Severity = Critical
				line += ": at the limit accept() and open() fail with EMFILE"
			}
			f.Evidence = append(f.Evidence, Plain(line))
		}
	}
	f.Advice = lines(
		"This is an application bug: the peer closed and the process never called close() on the socket (the network is fine)",
		"Find the code path that drops a connection without closing it: error paths, a missing defer/finally, a pool that never evicts",
		fmt.Sprintf("The peer waits in FIN_WAIT2 for up to net.ipv4.tcp_fin_timeout (now %s); restarting the process frees the sockets for now", withUnit(sysctlNow(c.snap, "net.ipv4.tcp_fin_timeout"), " s")),
	)
	return f
}

// fdPressure is the open files and limit of the holder's process closest
// to its limit (fds -1 when none is known).
func (c *ruleCtx) fdPressure(a *cwAcc) (fds int, limit int64, pid int32) {
	fds, best := -1, -1.0
	for q := range a.pids {
		p := c.s.Procs[q]
		if p == nil || p.FDs < 0 || p.FDLimit == 0 {
			continue
		}
		share := 0.0
		if p.FDLimit > 0 {
			share = float64(p.FDs) / float64(p.FDLimit)
		}
		if share > best || (share == best && q < pid) {
			fds, limit, pid, best = p.FDs, p.FDLimit, q, share
		}
	}
	return fds, limit, pid
}

// topPeers formats the k addresses with most sockets: "10.0.0.5 (40), ...".
func topPeers(n map[netip.Addr]int, k int) string {
	return topCounts(n, k, netip.Addr.Compare, netip.Addr.String, "%d more peers")
}

// withUnit appends a unit to a known value ("60" -> "60 s"), not to "unknown".
func withUnit(v, unit string) string {
	if v == "unknown" || v == "empty" {
		return v
	}
	return v + unit
}

// plural is "1 socket", "2 sockets", "1,024 sockets".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return format.Count(n) + " " + many
}
