package model

import (
	"cmp"
	"fmt"
	"github.com/tcptop/tcptop/format"
	"slices"
	"strings"
)

// ruleEphemeralPorts (incident 1): connect() is running out of local ports,
// to one destination (a port can be reused for another destination, so
// exhaustion is per local IP and remote ip:port) or over the whole range.
func ruleEphemeralPorts(c *ruleCtx) []Finding {
	e := &c.snap.Ephemeral
	if e.Usable <= 0 {
		return nil
	}
	th := c.th
	if len(e.Destinations) > 0 && e.Destinations[0].Fraction >= th.PortsWarn {
		f := c.destinationExhaustion(&e.Destinations[0])
		// Every destination past the threshold is named, not only the
		// worst (they are sorted, worst first).
		var more []Text
		for i := 1; i < len(e.Destinations) && e.Destinations[i].Fraction >= th.PortsWarn; i++ {
			d := &e.Destinations[i]
			if len(more) == 8 {
				more = append(more, Plain("and more: see the ports panel"))
				break
			}
			more = append(more, Text{Words("also " + d.LocalIP), Arrow, Words(fmt.Sprintf("%s holds %s of the %s usable ports (%s, %s TIME_WAIT)", d.Remote, format.Count(d.InUse), format.Count(e.Usable), format.Percent(d.Fraction), format.Count(d.TimeWait)))})
		}
		if n := countAtLeast(e.Destinations, th.PortsWarn) - 1; n > 0 {
			f.Title = append(f.Title, Words(fmt.Sprintf(" (+%d more %s)", n, map[bool]string{true: "destination", false: "destinations"}[n == 1])))
			f.Facts["destinations_over"] = float64(n + 1)
		}
		f.Evidence = append(f.Evidence[:1:1], append(more, f.Evidence[1:]...)...)
		return []Finding{f}
	}
	if e.Fraction < th.PortsWarn {
		return nil
	}
	f := Finding{
		Severity: severityAt(e.Fraction, th.PortsWarn, th.PortsCrit),
		Title:    Plain(fmt.Sprintf("Ephemeral ports %s used (%s of %s usable)", format.Percent(e.Fraction), format.Count(e.InUse), format.Count(e.Usable))),
		Subject:  hostSubject(),
	}
	f.Evidence = append(f.Evidence, lines(fmt.Sprintf("%s of %s usable local ports are held, spread over %s destinations",
		format.Count(e.InUse), format.Count(e.Usable), format.Count(e.DestinationCount)))...)
	worst := 0.0
	if len(e.Destinations) > 0 {
		worst = e.Destinations[0].Fraction
	}
	// connect() picks a port per destination and may reuse it for another
	// one, so many ports over many destinations, none near its own limit,
	// are ports taken host-wide: bind() before connect() (the error is
	// EADDRINUSE from bind) or sockets bound to ports in the range.
	f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("no single destination explains it (the busiest holds %s of the range): connect() can reuse a port for every other destination, so these ports are taken host-wide — typically bind() before connect() (EADDRINUSE from bind), which reserves a port for all destinations",
		format.Percent(worst))))
	for i, d := range e.Destinations {
		if i == 3 {
			break
		}
		f.Evidence = append(f.Evidence, Text{Words(d.LocalIP), Arrow, Words(fmt.Sprintf("%s holds %s (%s TIME_WAIT)", d.Remote, format.Count(d.InUse), format.Count(d.TimeWait)))})
	}
	if r, span, ok := c.growth(func(p *Point) (float64, bool) { return float64(p.PortsInUse), true }); ok && r > 0 {
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("growing %s over the last %s: the range is gone in %s at that rate",
			format.PerSec(r), format.Duration(span.Seconds()), format.Duration(float64(e.Usable-e.InUse)/r)))...)
	}
	f.Advice, f.Knobs = c.hostPortAdvice(e)
	f.Facts = map[string]float64{"in_use": float64(e.InUse), "usable": float64(e.Usable), "fraction": e.Fraction, "destinations": float64(e.DestinationCount)}
	return []Finding{f}
}

// countAtLeast counts destinations at frac or more of the range.
func countAtLeast(ds []Destination, frac float64) int {
	n := 0
	for i := range ds {
		if ds[i].Fraction >= frac {
			n++
		}
	}
	return n
}

// hostPortAdvice is what works when the ports are taken host-wide, not
// by one destination: tcp_tw_reuse does not apply to bind().
func (c *ruleCtx) hostPortAdvice(e *Ephemeral) ([]Text, []Knob) {
	sc := &c.s.Sysctl
	return lines(
			"Don't bind() before connect(): let connect() choose the local port, so one port can serve many destinations",
			"Where a source address must be chosen, set IP_BIND_ADDRESS_NO_PORT on the socket before bind(): the port is then picked at connect(), per destination",
			"net.ipv4.ip_autobind_reuse=1 (Linux 5.8+) lets bind() to port 0 reuse ports of sockets bound the same way; only with SO_REUSEADDR on every such socket",
			fmt.Sprintf("Widen net.ipv4.ip_local_port_range (now %d %d, %s usable), reserving service ports in ip_local_reserved_ports first", sc.PortLow, sc.PortHigh, format.Count(e.Usable)),
			fmt.Sprintf("tcp_tw_reuse (now %s) only helps connect()'s own port choice, not bind(); reusing connections (keep-alive, pooling) helps either way", sysctlNow(c.snap, "net.ipv4.tcp_tw_reuse")),
		),
		c.knobs("net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_tw_reuse")
}

// destinationExhaustion builds the finding for one destination.
func (c *ruleCtx) destinationExhaustion(d *Destination) Finding {
	e := &c.snap.Ephemeral
	th := c.th
	f := Finding{
		Severity: severityAt(d.Fraction, th.PortsWarn, th.PortsCrit),
		Title: Plain(fmt.Sprintf("Ephemeral ports to %s %s used (%s of %s)",
			d.Remote, format.Percent(d.Fraction), format.Count(d.InUse), format.Count(e.Usable))),
		Subject: destSubject(d),
	}
	tw := 0.0
	if d.InUse > 0 {
		tw = float64(d.TimeWait) / float64(d.InUse)
	}
	f.Evidence = append(f.Evidence, Text{Words(d.LocalIP), Arrow, Words(fmt.Sprintf("%s holds %s of the %s usable local ports (range %d-%d, %s reserved); connect() to it fails with EADDRNOTAVAIL when none is left",
		d.Remote, format.Count(d.InUse), format.Count(e.Usable), e.Low, e.High, format.Count(e.Reserved)))})
	f.Evidence = append(f.Evidence, lines(
		fmt.Sprintf("%s of them (%s) are in TIME_WAIT: this host closes first, so each 4-tuple is held for 60 s",
			format.Count(d.TimeWait), format.Percent(tw)))...)
	id := d.Key
	if r, span, ok := c.growth(func(p *Point) (float64, bool) { v, ok := p.dests[id]; return float64(v), ok }); ok {
		switch {
		case d.InUse >= e.Usable:
			f.Evidence = append(f.Evidence, lines(fmt.Sprintf("exhausted now (%s over the last %s): new connections to it fail", format.PerSec(r), format.Duration(span.Seconds())))...)
		case r > 0:
			f.Evidence = append(f.Evidence, lines(fmt.Sprintf("growing %s over the last %s: exhausted in %s at that rate",
				format.PerSec(r), format.Duration(span.Seconds()), format.Duration(float64(e.Usable-d.InUse)/r)))...)
		default:
			f.Evidence = append(f.Evidence, lines(fmt.Sprintf("%s over the last %s", format.PerSec(r), format.Duration(span.Seconds())))...)
		}
	}
	if d.TimeWait > 0 {
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("TIME_WAIT drains: the next port frees in %s, all %s in %s if no new ones come",
			format.Duration(float64(d.NextFreeMS)/1000), format.Count(d.TimeWait), format.Duration(float64(d.DrainMS)/1000)))...)
	}
	ebpf := c.ebpfConnectors(&f, func(p *EBPFProcRow) bool { return p.Peer.Remote == id.Remote && p.LocalAddr == id.Local })
	switch {
	case ebpf, !c.s.Attributed:
	case len(c.point.destOwners[id]) > 0:
		f.Evidence = append(f.Evidence, lines("connections from "+c.topOwners(c.point.destOwners[id], 3))...)
	default:
		seen := false
		for i := len(c.hist) - 2; i >= 0 && !seen; i-- {
			if o := c.hist[i].destOwners[id]; len(o) > 0 {
				f.Evidence = append(f.Evidence, lines(fmt.Sprintf("connections from %s (seen %s ago; the connections are shorter than a poll)",
					c.topOwners(o, 3), format.Duration(c.snap.Time.Sub(c.hist[i].Time).Seconds())))...)
				seen = true
			}
		}
		if !seen {
			f.Evidence = append(f.Evidence, Text{Words("no process holds an open connection to it at the polls: each lasts less than a poll and TIME_WAIT sockets own no process; catch the caller with `ss -tnp dst " + d.Remote + "` in a loop, or a faster refresh"), Key(ActionFaster)})
		}
	}
	f.Advice, f.Knobs = c.portAdvice(e)
	facts := map[string]float64{"in_use": float64(d.InUse), "usable": float64(e.Usable), "fraction": d.Fraction, "time_wait": float64(d.TimeWait)}
	for k, v := range f.Facts { // eBPF's
		facts[k] = v
	}
	f.Facts = facts
	return f
}

// topOwners formats the k pids with most sockets: "curl[12] (800), php[9] (20)".
func (c *ruleCtx) topOwners(n map[int32]int, k int) string {
	return topCounts(n, k, cmp.Compare[int32], c.procLabel, "and %d more")
}

// topCounts formats the k keys with the largest counts, ties broken by
// key, as "label (count), ...", then moreFmt with how many were left out.
func topCounts[K comparable](n map[K]int, k int, byKey func(a, b K) int, label func(K) string, moreFmt string) string {
	type kc struct {
		key K
		n   int
	}
	l := make([]kc, 0, len(n))
	for key, v := range n {
		l = append(l, kc{key, v})
	}
	slices.SortFunc(l, func(a, b kc) int {
		if x := cmp.Compare(b.n, a.n); x != 0 {
			return x
		}
		return byKey(a.key, b.key)
	})
	var parts []string
	for i, e := range l {
		if i == k {
			parts = append(parts, fmt.Sprintf(moreFmt, len(l)-k))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", label(e.key), format.Count(e.n)))
	}
	return strings.Join(parts, ", ")
}

// portAdvice lists the fixes, and the knobs they name with their values.
func (c *ruleCtx) portAdvice(e *Ephemeral) ([]Text, []Knob) {
	sc := &c.s.Sysctl
	reuse := sysctlNow(c.snap, "net.ipv4.tcp_tw_reuse")
	ts := sysctlNow(c.snap, "net.ipv4.tcp_timestamps")
	knobs := c.knobs("net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_timestamps", "net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports")
	return lines(
		"Reuse connections (HTTP keep-alive, a connection pool) instead of one per request: no new port, no TIME_WAIT",
		"Let the server close first (send `Connection: close`): TIME_WAIT then lands on the server, where each client's 4-tuple differs",
		fmt.Sprintf("net.ipv4.tcp_tw_reuse=1 lets new outgoing connections reuse TIME_WAIT ports (now %s; 2 = loopback only) and needs tcp_timestamps=1 (now %s)", reuse, ts),
		fmt.Sprintf("Widen net.ipv4.ip_local_port_range (now %d %d, %s usable), reserving service ports in ip_local_reserved_ports first", sc.PortLow, sc.PortHigh, format.Count(e.Usable)),
		"tcp_fin_timeout does not shorten TIME_WAIT (fixed at 60 s); tcp_tw_recycle is gone since Linux 4.12",
	), knobs
}

// knobs lists tunables with their values now (sysctlNow).
func (c *ruleCtx) knobs(names ...string) []Knob {
	out := make([]Knob, len(names))
	for i, n := range names {
		out[i] = Knob{Name: n, Value: sysctlNow(c.snap, n)}
	}
	return out
}

// sysctlNow is a tunable's value as read, or "unknown".
func sysctlNow(snap *Snapshot, name string) string {
	if v, ok := snap.Sysctl[name]; ok {
		if v == "" {
			return "empty"
		}
		return v
	}
	return "unknown"
}

// severityAt maps a value to warning at warn and critical at crit.
func severityAt(v, warn, crit float64) Severity {
	switch {
	case v >= crit:
		return Critical
	case v >= warn:
		return Warning
	}
	return Info
}
