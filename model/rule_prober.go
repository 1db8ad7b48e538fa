package model

import (
	"cmp"
	"fmt"
	"github.com/tcptop/tcptop/format"
	"slices"
	"strconv"
	"strings"

	"github.com/tcptop/tcptop/source"
)

// ruleLocalProber (incident 2): something on this host connects to its own
// listeners and closes each time (a health checker, or any local client
// without keep-alive), filling TIME_WAIT on this host. Counted: TIME_WAIT sockets whose two ends are local and
// one end is a listening port, by that port.
func ruleLocalProber(c *ruleCtx) []Finding {
	type portAcc struct {
		port                      uint16
		listener                  *Listener
		n, clientSide, serverSide int
		probers                   map[int32]int
	}
	ports := map[uint16]*portAcc{}
	total := 0
	for i := c.fresh; i < c.s.NumSockets(); i++ { // TIME_WAIT: none carried
		sk := c.s.Socket(i)
		if sk.State != source.TimeWait || !c.isLocal(sk.Remote.Addr()) {
			continue
		}
		// The service's end (it closed first) or the prober's end (it did).
		idx, server := c.snap.lt.lookup(sk.Local)
		port := sk.Local.Port()
		if !server {
			var client bool
			if idx, client = c.snap.lt.lookup(sk.Remote); !client {
				continue
			}
			port = sk.Remote.Port()
		}
		a := ports[port]
		if a == nil {
			a = &portAcc{port: port, listener: &c.snap.Listeners[idx], probers: map[int32]int{}}
			ports[port] = a
		}
		a.n++
		total++
		if server {
			a.serverSide++
		} else {
			a.clientSide++
			for _, pid := range sk.Owners {
				a.probers[pid]++
			}
		}
	}
	listen := c.snap.States[source.Listen]
	if total < c.th.ProberTimeWait || float64(total) < c.th.ProberRatio*float64(max(1, listen)) {
		return nil
	}
	list := make([]*portAcc, 0, len(ports))
	client, server := 0, 0
	probers := map[int32]int{}
	for _, a := range ports {
		list = append(list, a)
		client += a.clientSide
		server += a.serverSide
		for pid, n := range a.probers {
			probers[pid] += n
		}
	}
	slices.SortFunc(list, func(a, b *portAcc) int {
		if x := cmp.Compare(b.clientSide, a.clientSide); x != 0 {
			return x
		}
		if x := cmp.Compare(b.n, a.n); x != 0 {
			return x
		}
		return cmp.Compare(a.port, b.port)
	})
	top := list[0]
	// Only TIME_WAIT on the connecting side holds an ephemeral port: when
	// the service closes first, its TIME_WAIT sits on the listening port,
	// whose 4-tuples differ per client port, and nothing runs out.
	warn := client >= c.th.ProberTimeWait && float64(client) >= c.th.ProberRatio*float64(max(1, listen))
	f := Finding{
		Severity: Warning,
		Title: Plain(fmt.Sprintf("Local prober or client: %s TIME_WAIT between local endpoints on listening port :%d",
			format.Count(total), top.port)),
		Subject: listenerSubject(top.listener),
		Facts:   map[string]float64{"time_wait": float64(total), "listen": float64(listen), "client_side": float64(client), "server_side": float64(server)},
	}
	if !warn {
		f.Severity = Info
		f.Title = Plain(fmt.Sprintf("Local client: %s TIME_WAIT on listening port :%d, closed first by the service", format.Count(total), top.port))
	}
	var byPort []string
	for i, a := range list {
		if i == 4 {
			byPort = append(byPort, fmt.Sprintf("%d more ports", len(list)-4))
			break
		}
		byPort = append(byPort, fmt.Sprintf(":%d %s", a.port, format.Count(a.n)))
	}
	f.Evidence = append(f.Evidence, lines(fmt.Sprintf("%s TIME_WAIT sockets have both ends on this host and one end on a listener: %s",
		format.Count(total), strings.Join(byPort, ", ")),
		fmt.Sprintf("that is %.0fx the %d LISTEN sockets", float64(total)/float64(max(1, listen)), listen))...)
	f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("closed first by the connecting side: %s; by the service: %s", format.Count(client), format.Count(server))))
	if !warn {
		f.Evidence = append(f.Evidence, Plain("the service closes first, so its TIME_WAIT holds the listening port, not an ephemeral port: no port runs out; each costs a few hundred bytes until it expires (60 s)"))
	}
	if !c.ebpfConnectors(&f, func(p *EBPFProcRow) bool {
		_, ok := ports[p.Peer.Remote.Port()]
		return ok && c.isLocal(p.Peer.Remote.Addr())
	}) && len(probers) > 0 {
		f.Evidence = append(f.Evidence, Plain("connecting process: "+c.topOwners(probers, 3)))
	}
	if r, span, ok := c.growth(func(p *Point) (float64, bool) { return float64(p.States[source.TimeWait]), true }); ok && r > 0 {
		f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("TIME_WAIT growing %s over the last %s", format.PerSec(r), format.Duration(span.Seconds()))))
	}
	var inRange []string
	var reserve []string
	for i := range c.snap.Listeners {
		l := &c.snap.Listeners[i]
		if l.InEphemeralRange {
			inRange = append(inRange, l.Local)
			if p := strconv.Itoa(int(l.Addr.Port())); !slices.Contains(reserve, p) && len(reserve) < 8 {
				reserve = append(reserve, p)
			}
		}
	}
	if len(inRange) > 0 {
		f.Evidence = append(f.Evidence, Plain(fmt.Sprintf("listeners inside the ephemeral range and not reserved: %s (a restart can find the port taken)",
			strings.Join(firstN(inRange, 4), ", "))))
	}
	if !warn {
		f.Advice = lines("Nothing runs out: to keep TIME_WAIT off the server, let the client close first or reuse its connections (keep-alive)")
	} else {
		f.Advice = lines(
			"A health checker: keep one long-lived probe connection (read the whole response so it is reused) instead of connecting per check",
			"Another local client (a proxy, an app calling a local cache): keep its connections alive or pool them",
			"Bind the prober to a port above the ephemeral range, or probe less often",
		)
	}
	// Reserving a port only matters inside the ephemeral range: outside
	// it, connect() never hands it out anyway.
	if len(reserve) > 0 {
		f.Advice = append(f.Advice, Plain(fmt.Sprintf("Reserve the service ports inside the ephemeral range so connect() never hands them out: sysctl net.ipv4.ip_local_reserved_ports=%s (now %s)",
			strings.Join(reserve, ","), sysctlNow(c.snap, "net.ipv4.ip_local_reserved_ports"))))
	}
	f.Advice = append(f.Advice, Plain("SO_REUSEADDR lets a restarting service bind its port despite TIME_WAIT"))
	f.Knobs = c.knobs("net.ipv4.ip_local_reserved_ports", "net.ipv4.ip_local_port_range")
	return []Finding{f}
}

// ruleListenerInEphemeral: listeners whose port connect() may hand out as
// an ephemeral port: a restart of the service can then fail with "address
// in use". Informational, one finding for all of them.
func ruleListenerInEphemeral(c *ruleCtx) []Finding {
	var in []*Listener
	var ports []string
	for i := range c.snap.Listeners {
		l := &c.snap.Listeners[i]
		if !l.InEphemeralRange {
			continue
		}
		in = append(in, l)
		if p := strconv.Itoa(int(l.Addr.Port())); !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	if len(in) == 0 {
		return nil
	}
	names := make([]string, len(in))
	for i, l := range in {
		names[i] = l.Local
	}
	title := "Listener " + in[0].Local + " is inside the ephemeral port range"
	if len(in) > 1 {
		title = fmt.Sprintf("%d listeners are inside the ephemeral port range: %s", len(in), strings.Join(firstN(names, 3), ", "))
	}
	slices.SortFunc(ports, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return cmp.Compare(x, y) })
	return []Finding{{
		Severity: Info,
		Title:    Plain(title),
		Subject:  listenerSubject(in[0]),
		Evidence: lines(
			fmt.Sprintf("their ports are in net.ipv4.ip_local_port_range (%s) and not in ip_local_reserved_ports (%s): %s",
				sysctlNow(c.snap, "net.ipv4.ip_local_port_range"), sysctlNow(c.snap, "net.ipv4.ip_local_reserved_ports"), strings.Join(firstN(names, 12), ", "))),
		Advice: lines(fmt.Sprintf("Add the ports to net.ipv4.ip_local_reserved_ports (%s), or move the services below the range, so an outgoing connection can never take one while its service restarts",
			strings.Join(firstN(ports, 12), ","))),
		Knobs: c.knobs("net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports"),
		Facts: map[string]float64{"listeners": float64(len(in))},
	}}
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("%d more", len(s)-n))
	}
	return s
}
