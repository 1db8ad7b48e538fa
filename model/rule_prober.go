package model

import (
	"cmp"
	"fmt"
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
	for i := range c.s.Sockets {
		sk := &c.s.Sockets[i]
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
	for _, a := range ports {
		list = append(list, a)
	}
	slices.SortFunc(list, func(a, b *portAcc) int {
		if x := cmp.Compare(b.n, a.n); x != 0 {
			return x
		}
		return cmp.Compare(a.port, b.port)
	})
	top := list[0]
	f := Finding{
		Severity: Warning,
		Title: Plain(fmt.Sprintf("Local prober or client: %s TIME_WAIT between local endpoints on listening port :%d",
			count(total), top.port)),
		Subject: listenerSubject(top.listener),
	}
	var byPort []string
	for i, a := range list {
		if i == 4 {
			byPort = append(byPort, fmt.Sprintf("%d more ports", len(list)-4))
			break
		}
		byPort = append(byPort, fmt.Sprintf(":%d %s", a.port, count(a.n)))
	}
	f.Evidence = append(f.Evidence, lines(fmt.Sprintf("%s TIME_WAIT sockets have both ends on this host and one end on a listener: %s",
		count(total), strings.Join(byPort, ", ")),
		fmt.Sprintf("that is %.0fx the %d LISTEN sockets", float64(total)/float64(max(1, listen)), listen))...)
	client, server := 0, 0
	probers := map[int32]int{}
	for _, a := range list {
		client += a.clientSide
		server += a.serverSide
		for pid, n := range a.probers {
			probers[pid] += n
		}
	}
	f.Evidence = append(f.Evidence, lines(fmt.Sprintf("closed first by the connecting side: %s; by the service: %s", count(client), count(server)))...)
	if len(probers) > 0 {
		f.Evidence = append(f.Evidence, lines("connecting process: "+c.topOwners(probers, 3))...)
	}
	if r, span, ok := c.growth(func(p *Point) (float64, bool) { return float64(p.States[source.TimeWait]), true }); ok && r > 0 {
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("TIME_WAIT growing %s over the last %s", perSec(r), dur(span.Seconds())))...)
	}
	var inRange []string
	for _, l := range c.snap.Listeners {
		if l.InEphemeralRange {
			inRange = append(inRange, l.Local)
		}
	}
	if len(inRange) > 0 {
		f.Evidence = append(f.Evidence, lines(fmt.Sprintf("listeners inside the ephemeral range and not reserved: %s (a restart can find the port taken)",
			strings.Join(firstN(inRange, 4), ", ")))...)
	}
	portList := make([]string, 0, len(list))
	for i, a := range list {
		if i == 8 {
			break
		}
		portList = append(portList, strconv.Itoa(int(a.port)))
	}
	f.Advice = lines(
		"A health checker: keep one long-lived probe connection (read the whole response so it is reused) instead of connecting per check",
		"Another local client (a proxy, an app calling a local cache): keep its connections alive or pool them",
		"Bind the prober to a port above the ephemeral range, or probe less often",
		fmt.Sprintf("Reserve the service ports so connect() never hands them out: sysctl net.ipv4.ip_local_reserved_ports=%s (now %s)",
			strings.Join(portList, ","), sysctlNow(c.snap, "net.ipv4.ip_local_reserved_ports")),
		"SO_REUSEADDR lets a restarting service bind its port despite TIME_WAIT",
	)
	f.Knobs = c.knobs("net.ipv4.ip_local_reserved_ports", "net.ipv4.ip_local_port_range")
	f.Facts = map[string]float64{"time_wait": float64(total), "listen": float64(listen), "client_side": float64(client), "server_side": float64(server)}
	return []Finding{f}
}

// ruleListenerInEphemeral: a listener whose port connect() may hand out as
// an ephemeral port: a restart of the service can then fail with "address
// in use". Informational.
func ruleListenerInEphemeral(c *ruleCtx) []Finding {
	var out []Finding
	for i := range c.snap.Listeners {
		l := &c.snap.Listeners[i]
		if !l.InEphemeralRange {
			continue
		}
		out = append(out, Finding{
			Severity: Info,
			Title:    Plain("Listener " + l.Local + " is inside the ephemeral port range"),
			Subject:  listenerSubject(l),
			Knobs:    c.knobs("net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports"),
			Evidence: lines(fmt.Sprintf("its port is in net.ipv4.ip_local_port_range (%s) and not in ip_local_reserved_ports (%s)",
				sysctlNow(c.snap, "net.ipv4.ip_local_port_range"), sysctlNow(c.snap, "net.ipv4.ip_local_reserved_ports"))),
			Advice: lines("Add the port to net.ipv4.ip_local_reserved_ports, or move the service below the range, so an outgoing connection can never take it while the service restarts"),
		})
	}
	return out
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("%d more", len(s)-n))
	}
	return s
}
