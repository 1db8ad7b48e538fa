package model

import (
	"fmt"
	"github.com/tcptop/tcptop/format"
	"net/netip"
	"slices"
	"strings"
)

// ruleAcceptQueue (incident 3): a listener's accept queue is full (or
// nearly), so the kernel drops new SYNs and clients time out in connect().
// The queue is min(backlog asked for, somaxconn), fixed at listen().
//
// Severity follows the evidence. Critical: ListenOverflows/ListenDrops rose
// in the last acceptRecentPolls polls while a listener is, or recently was,
// at or near its cap; it stays critical while that holds, so a queue that
// drains a little between polls does not flap. Warning: a queue full at
// one look (no rate yet), or at or near its cap for acceptSustainPolls
// polls in a row. A queue that fills and drains without a dropped SYN is
// healthy: no finding.
func ruleAcceptQueue(c *ruleCtx) []Finding {
	over, overKnown := c.counterRate("ListenOverflows")
	drops, _ := c.counterRate("ListenDrops")
	recent := c.overflowedRecently()
	// Where the kernel gives each listener's own drop counter (sk_drops,
	// from the LISTEN dump), the listener that dropped is known, not
	// inferred from which one looked full.
	dropsKnown := c.snap.ListenerDropsKnown()
	var out []Finding
	for i := range c.snap.Listeners {
		l := &c.snap.Listeners[i]
		own := l.DropsPerSec != nil && *l.DropsPerSec > 0
		if !c.nearCap(l) && !own {
			continue
		}
		sev := Severity(0)
		switch {
		case own:
			sev = Critical
		case recent && !dropsKnown:
			// No per-listener counter: the overflows are put on the
			// listeners at or near their cap.
			sev = Critical
		case !overKnown && l.Full:
			sev = Warning
		case !overKnown:
			sev = Info
		case c.nearFor(l.Addr, acceptSustainPolls):
			sev = Warning
		}
		if sev == 0 {
			continue
		}
		out = append(out, c.acceptFinding(l, c.queuedClosed[i], sev, recent && (own || !dropsKnown), over, drops))
	}
	rising := overKnown && (over > 0 || drops > 0)
	if len(out) > 0 || !rising {
		return out
	}
	if dropsKnown {
		// Every listener's own counter is known and none dropped: the
		// drops were not at a listener tcptop sees now (one that closed).
		return out
	}
	// The counters rose but no listener is near its cap now: the queue
	// filled and drained between polls. Name the ones seen near it lately.
	var near []netip.AddrPort
	for i := len(c.hist) - 1; i >= 0 && i >= len(c.hist)-acceptRecentPolls-1 && len(near) < 4; i-- {
		for l := range c.hist[i].near {
			if !slices.Contains(near, l) {
				near = append(near, l)
			}
		}
	}
	slices.SortFunc(near, netip.AddrPort.Compare)
	f := Finding{
		Severity: Warning,
		Title:    Plain(fmt.Sprintf("Accept queue overflows: ListenOverflows %s, ListenDrops %s", format.PerSec(over), format.PerSec(drops))),
		Subject:  hostSubject(),
		Evidence: lines(fmt.Sprintf("TcpExt ListenOverflows %s and ListenDrops %s: SYNs to a listener with a full accept queue were dropped", format.PerSec(over), format.PerSec(drops))),
		Advice: []Text{
			{Words("The queue fills and drains between polls: poll faster"), Key(ActionFaster), Words(" or watch the listeners panel")},
			Plain("Raise the listen() backlog and net.core.somaxconn, then restart the service (the backlog is fixed at listen())"),
		},
		Facts: map[string]float64{"overflows_per_sec": over, "drops_per_sec": drops},
		Knobs: c.knobs("net.core.somaxconn"),
	}
	switch fullest := c.fullestListener(); {
	case len(near) > 0:
		// SYNs are being dropped and this listener was at its cap
		// moments ago: the incident itself, not a hint.
		f.Severity = Critical
		f.Subject = Subject{Kind: SubjectListener, Local: near[0].String(), Listener: near[0]}
		names := make([]string, len(near))
		for i, r := range near {
			names[i] = r.String()
		}
		f.Evidence = append(f.Evidence, Plain("at or near its cap in the last polls: "+strings.Join(names, ", ")))
	case fullest != nil:
		// Filling up: the overflow happened between polls.
		f.Subject = listenerSubject(fullest)
		f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("no listener was near its cap at a poll; the fullest now: %s (%d/%d)", fullest.Local, fullest.Queue, fullest.Backlog)))
	default:
		f.Evidence = append(f.Evidence, Plain("no listener was near its cap at any poll tcptop made"))
	}
	return []Finding{f}
}

// How many polls the accept-queue rule looks back.
const (
	// acceptRecentPolls: overflows within this many polls still count as
	// "rising", and a listener near its cap within them as "recently".
	acceptRecentPolls = 3
	// acceptSustainPolls: polls in a row at or near the cap, without a
	// dropped SYN, before a queue that never drains is a warning.
	acceptSustainPolls = 3
)

// nearCap: the queue is full, or at least th.AcceptFill of its backlog. A
// backlog of 0 (listen(0)) with anything queued is full.
func (c *ruleCtx) nearCap(l *Listener) bool {
	return l.Full || (l.Backlog > 0 && l.Fill >= c.th.AcceptFill)
}

// nearFor reports whether the listener was near its cap in each of the
// last n polls (this one included).
func (c *ruleCtx) nearFor(l netip.AddrPort, n int) bool {
	if len(c.hist) < n {
		return false
	}
	for _, p := range c.hist[len(c.hist)-n:] {
		if !p.near[l] {
			return false
		}
	}
	return true
}

// overflowedRecently reports whether ListenOverflows or ListenDrops rose
// between any two of the last acceptRecentPolls+1 polls.
func (c *ruleCtx) overflowedRecently() bool {
	for i := len(c.hist) - 1; i >= 1 && i >= len(c.hist)-acceptRecentPolls; i-- {
		now, then := c.hist[i].counters, c.hist[i-1].counters
		for _, k := range []string{"ListenOverflows", "ListenDrops"} {
			a, ok1 := now[k]
			b, ok2 := then[k]
			if ok1 && ok2 && a > b {
				return true
			}
		}
	}
	return false
}

func (c *ruleCtx) acceptFinding(l *Listener, closed int, sev Severity, recent bool, over, drops float64) Finding {
	sc := &c.s.Sysctl
	f := Finding{Subject: listenerSubject(l), Severity: sev}
	f.Facts = map[string]float64{"queue": float64(l.Queue), "backlog": float64(l.Backlog), "syn_recv": float64(l.SynRecv)}
	if recent {
		f.Facts["overflows_per_sec"], f.Facts["drops_per_sec"] = over, drops
	}
	f.Knobs = c.knobs("net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog")
	state := "full"
	if !l.Full {
		state = "nearly full"
	}
	f.Title = Plain(fmt.Sprintf("Accept queue %s on %s (%d/%d)", state, l.Local, l.Queue, l.Backlog))
	owner := "the application"
	if len(l.Processes) > 0 {
		var names []string
		for _, p := range l.Processes {
			names = append(names, c.procLabel(p.PID))
		}
		owner = strings.Join(firstN(names, 3), ", ")
	}
	f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("%d connections wait for accept() on a backlog of %d: %s is not accepting fast enough",
		l.Queue, l.Backlog, owner)))
	if l.Full {
		f.Evidence = append(f.Evidence, Plain("the kernel drops new SYNs to it: clients resend them after 1 s, 2 s, 4 s, ... and time out in connect()"))
	}
	if closed > 0 {
		f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("%d of the waiting connections were already closed by their clients before accept() (CLOSE_WAIT, never accepted)", closed)))
	}
	own := l.DropsPerSec != nil && *l.DropsPerSec > 0
	if own {
		f.Facts["listener_drops_per_sec"] = float64(*l.DropsPerSec)
		f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("it dropped %s itself (the listener's own drop counter): SYNs or handshakes it had no room for", format.PerSec(float64(*l.DropsPerSec)))))
		if overKnownRate, ok := c.counterRate("ListenOverflows"); ok && overKnownRate == 0 {
			f.Evidence = append(f.Evidence, Plain("ListenOverflows is not rising: the drops are not a full accept queue but the SYN queue (net.ipv4.tcp_max_syn_backlog) or a failed allocation"))
		}
	}
	switch {
	case recent:
		f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("TcpExt ListenOverflows %s, ListenDrops %s: SYNs are being dropped while it is at or near its cap", format.PerSec(over), format.PerSec(drops))))
	default:
		if v, ok := c.snap.Counters["ListenOverflows"]; ok {
			how := "no rate yet: first snapshot"
			if _, known := c.counterRate("ListenOverflows"); known {
				how = "not rising: no SYN dropped lately"
			}
			f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("TcpExt ListenOverflows %s, ListenDrops %s since boot (%s)",
				format.Count(int(v)), format.Count(int(c.snap.Counters["ListenDrops"])), how)))
		}
		if c.nearFor(l.Addr, acceptSustainPolls) {
			f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("at or near its cap for the last %d polls", acceptSustainPolls)))
		}
	}
	if sc.MaxSynBacklog > 0 {
		f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("SYN_RECV %d of tcp_max_syn_backlog %d", l.SynRecv, sc.MaxSynBacklog)))
	}
	if l.CappedBySomaxconn {
		f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("the backlog equals net.core.somaxconn (%d): the application probably asked for more and was cut down", sc.Somaxconn)))
	}
	if old, ok := c.previous(); ok && old.full[l.Addr] && l.Full {
		f.Evidence = append(f.Evidence, Plain("it was already full at the previous poll"))
	}
	if l.CappedBySomaxconn {
		f.Advice = append(f.Advice, Plain(fmt.Sprintf("Raise net.core.somaxconn (now %d) AND restart the service: the backlog is fixed when it calls listen()", sc.Somaxconn)))
	} else {
		f.Advice = append(f.Advice, Plain(fmt.Sprintf("Raise the backlog the service passes to listen() (now %d; net.core.somaxconn %d caps it) and restart it", l.Backlog, sc.Somaxconn)))
	}
	// Not tcp_abort_on_overflow: with a full queue the kernel drops the
	// SYN before that setting applies, and the kernel's documentation
	// warns it hurts clients (issue 12 item 7).
	f.Advice = append(f.Advice, lines("Check the process is alive and not stuck (a blocked accept loop, too few workers)",
		"Clients: pool connections instead of opening one per request")...)
	return f
}

// fullestListener is the listener with the fullest accept queue, nil when
// every queue is empty.
func (c *ruleCtx) fullestListener() *Listener {
	var best *Listener
	for i := range c.snap.Listeners {
		l := &c.snap.Listeners[i]
		if l.Queue > 0 && (best == nil || l.Fill > best.Fill) {
			best = l
		}
	}
	return best
}
