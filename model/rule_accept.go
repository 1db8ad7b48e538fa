package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ruleAcceptQueue (incident 3): a listener's accept queue is full (or
// nearly), so the kernel drops new SYNs and clients time out in connect().
// The queue is min(backlog asked for, somaxconn), fixed at listen().
func ruleAcceptQueue(c *ruleCtx) []Finding {
	over, overKnown := c.counterRate("ListenOverflows")
	drops, _ := c.counterRate("ListenDrops")
	rising := overKnown && (over > 0 || drops > 0)
	var out []Finding
	for i := range c.snap.Listeners {
		l := &c.snap.Listeners[i]
		if !l.Full && (l.Backlog == 0 || l.Fill < c.th.AcceptFill) {
			continue
		}
		out = append(out, c.acceptFinding(l, c.queuedClosed[i], rising, over, drops))
	}
	if len(out) > 0 || !rising {
		return out
	}
	// The counters rose but no listener is full now: the queue filled and
	// drained between polls. Name the ones seen full recently.
	var recent []netip.AddrPort
	for i := len(c.hist) - 1; i >= 0 && len(recent) < 4; i-- {
		for l := range c.hist[i].full {
			if !slices.Contains(recent, l) {
				recent = append(recent, l)
			}
		}
	}
	f := Finding{
		Severity: Warning,
		Title:    Plain(fmt.Sprintf("Accept queue overflows: ListenOverflows %s, ListenDrops %s", perSec(over), perSec(drops))),
		Subject:  hostSubject(),
		Evidence: lines(fmt.Sprintf("TcpExt ListenOverflows %s and ListenDrops %s: SYNs to a listener with a full accept queue were dropped", perSec(over), perSec(drops))),
		Advice: []Text{
			{Words("The queue fills and drains between polls: poll faster"), Key(ActionFaster), Words(" or watch the listeners panel")},
			Plain("Raise the listen() backlog and net.core.somaxconn, then restart the service (the backlog is fixed at listen())"),
		},
		Facts: map[string]float64{"overflows_per_sec": over, "drops_per_sec": drops},
		Knobs: c.knobs("net.core.somaxconn"),
	}
	switch fullest := c.fullestListener(); {
	case len(recent) > 0:
		f.Subject = Subject{Kind: SubjectListener, Local: recent[0].String(), Listener: recent[0]}
		names := make([]string, len(recent))
		for i, r := range recent {
			names[i] = r.String()
		}
		f.Evidence = append(f.Evidence, lines("full in the recent polls: "+strings.Join(names, ", "))...)
	case fullest != nil:
		// Filling up: the overflow happened between polls.
		f.Subject = listenerSubject(fullest)
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("no listener was full at a poll; the fullest now: %s (%d/%d)", fullest.Local, fullest.Queue, fullest.Backlog))...)
	default:
		f.Evidence = append(f.Evidence, lines("no listener was full at any poll tcptop made")...)
	}
	return []Finding{f}
}

func (c *ruleCtx) acceptFinding(l *Listener, closed int, rising bool, over, drops float64) Finding {
	sc := &c.s.Sysctl
	f := Finding{Subject: listenerSubject(l)}
	f.Facts = map[string]float64{"queue": float64(l.Queue), "backlog": float64(l.Backlog), "syn_recv": float64(l.SynRecv)}
	if rising {
		f.Facts["overflows_per_sec"], f.Facts["drops_per_sec"] = over, drops
	}
	f.Knobs = c.knobs("net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_abort_on_overflow")
	state := "full"
	if !l.Full {
		state = "nearly full"
	}
	switch {
	case l.Full && rising:
		f.Severity = Critical
	default:
		f.Severity = Warning
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
	f.Evidence = append(f.Evidence, lines(fmt.Sprintf("%d connections wait for accept() on a backlog of %d: %s is not accepting fast enough",
		l.Queue, l.Backlog, owner))...)
	if l.Full {
		f.Evidence = append(f.Evidence, lines("the kernel drops new SYNs to it: clients resend them after 1 s, 2 s, 4 s, ... and time out in connect()")...)
	}
	if closed > 0 {
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("%d of the waiting connections are already closed by their clients (CLOSE_WAIT, never accepted): they gave up waiting", closed))...)
	}
	switch {
	case rising:
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("TcpExt ListenOverflows %s, ListenDrops %s while it was full", perSec(over), perSec(drops)))...)
	default:
		if v, ok := c.snap.Counters["ListenOverflows"]; ok {
			how := "no rate yet: first snapshot"
			if _, known := c.counterRate("ListenOverflows"); known {
				how = "not rising since the previous poll"
			}
			f.Evidence = append(f.Evidence, lines(fmt.Sprintf("TcpExt ListenOverflows %s, ListenDrops %s since boot (%s)",
				count(int(v)), count(int(c.snap.Counters["ListenDrops"])), how))...)
		}
	}
	if sc.MaxSynBacklog > 0 {
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("SYN_RECV %d of tcp_max_syn_backlog %d", l.SynRecv, sc.MaxSynBacklog))...)
	}
	if l.CappedBySomaxconn {
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("the backlog equals net.core.somaxconn (%d): the application probably asked for more and was cut down", sc.Somaxconn))...)
	}
	if old, ok := c.previous(); ok && old.full[l.Addr] && l.Full {
		f.Evidence = append(f.Evidence, lines("it was already full at the previous poll")...)
	}
	if l.CappedBySomaxconn {
		f.Advice = append(f.Advice, lines(fmt.Sprintf("Raise net.core.somaxconn (now %d) AND restart the service: the backlog is fixed when it calls listen()", sc.Somaxconn))...)
	} else {
		f.Advice = append(f.Advice, lines(fmt.Sprintf("Raise the backlog the service passes to listen() (now %d; net.core.somaxconn %d caps it) and restart it", l.Backlog, sc.Somaxconn))...)
	}
	f.Advice = append(f.Advice, lines("Check the process is alive and not stuck (a blocked accept loop, too few workers)",
		"Clients: pool connections instead of opening one per request",
		fmt.Sprintf("tcp_abort_on_overflow=1 answers with RST instead of silence, so clients fail fast (now %s)", sysctlNow(c.snap, "net.ipv4.tcp_abort_on_overflow")))...)
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
