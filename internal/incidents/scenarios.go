package incidents

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tcptop/tcptop/model"
)

// The numbers of each scenario. Rates are ceilings (the pacer never
// catches up after a stall); every count is bounded.
const (
	// Incident 1: a client namespace joined to a server namespace by a
	// veth pair, a narrow ephemeral range in the client namespace.
	EphemeralClientIP = "10.201.0.1"
	EphemeralServerIP = "10.201.0.2"
	EphemeralPort     = 8080
	EphemeralLow      = 40000
	EphemeralHigh     = 40999 // 1,000 usable ports
	EphemeralRate     = 300   // short connections per second
	EphemeralReady    = 900   // connections made when it stands (90% of the range)

	// Incident 2: four listeners (one inside the ephemeral range), a local
	// health checker connecting and closing.
	ProberRate  = 100 // probes per second
	ProberReady = 200 // probes made (client-side TIME_WAIT) when it stands

	// Incident 3: a listener with backlog 8 (somaxconn 8 caps the 128 it
	// asks for) that never accepts; clients with a 300 ms connect timeout.
	AcceptPort      = 8080
	AcceptSomaxconn = 8
	AcceptAskedFor  = 128
	AcceptRate      = 50 // connect attempts per second
	AcceptTimeoutMS = 300
	// The same at the incident's own numbers: somaxconn 128.
	AcceptBigSomaxconn = 128
	AcceptBigRate      = 100

	// Incident 4: tcp_max_tw_buckets 100 and 200 short connections per
	// second closed by the client.
	TWBuckets  = 100
	TWClientIP = "10.203.0.1"
	TWServerIP = "10.203.0.2"
	TWPort     = 11211
	TWRate     = 200
	TWReady    = 300

	// Incident 5: a service that never closes what it accepts, a gateway
	// that connects and closes.
	CloseWaitPort  = 8080
	CloseWaitRate  = 20   // connections per second, each left in CLOSE_WAIT
	CloseWaitReady = 130  // connections made when it stands: the first are 6.5 s old, past close-wait-age
	CloseWaitMax   = 1500 // the leaky app holds at most this many

	// SYN_SENT pile-up: connects to an address whose SYNs vanish (a
	// permanent neighbour entry with a MAC nobody has).
	SynSentLocalIP  = "10.202.0.1"
	SynSentRemoteIP = "10.202.0.2"
	SynSentPort     = 5432
	SynSentRate     = 20
	SynSentMax      = 200 // connects pending at once
	SynSentReady    = 20  // connects pending for over 1.2 s (SYN retransmitted) when it stands

	// The healthy keep-alive baseline.
	HealthyConns      = 60
	HealthyIntervalMS = 200 // one request per connection per 200 ms: 300 requests/s
)

func init() {
	scenarios = []Scenario{
		{
			Name: "ephemeral", Incident: 1,
			Title: "TIME_WAIT eats the ephemeral ports (client side)",
			Builds: fmt.Sprintf("two namespaces joined by a veth pair; in the client namespace ip_local_port_range %d %d (1,000 ports), tcp_tw_reuse 0; "+
				"php-worker opens %d short connections/s to api-server at %s:%d and closes each first, so every one leaves a client-side TIME_WAIT for 60 s: "+
				"the range is gone in about %d s and connect() fails with EADDRNOTAVAIL",
				EphemeralLow, EphemeralHigh, EphemeralRate, EphemeralServerIP, EphemeralPort, (EphemeralHigh-EphemeralLow+1)/EphemeralRate+1),
			Shows: fmt.Sprintf("ephemeral_ports (critical): the destination %s:%d from %s, its TIME_WAIT share, growth and drain time", EphemeralServerIP, EphemeralPort, EphemeralClientIP),
			setup: setupEphemeral, start: startEphemeral,
		},
		{
			Name: "prober", Incident: 2,
			Title: "A local prober fills TIME_WAIT on the machine's own listeners",
			Builds: fmt.Sprintf("web-service listens on 127.0.0.1:8080, :8443, :9100 and :45000 (inside the ephemeral range); "+
				"health-check connects to them %d times/s (half to :8080) and closes each time: TIME_WAIT grows by %d/s on loopback",
				ProberRate, ProberRate),
			Shows: "local_prober_time_wait (warning) on the listener 127.0.0.1:8080; listener_in_ephemeral_range (info) for 127.0.0.1:45000",
			setup: setupOne(func(p *Population) error {
				return sysctl(p.Netns, "net.ipv4.ip_local_port_range", "32768 60999")
			}),
			start: startProber,
		},
		{
			Name: "accept-queue", Incident: 3,
			Title: "The accept queue overflows (server side)",
			Builds: fmt.Sprintf("net.core.somaxconn %d; stuck-service listens on 127.0.0.1:%d asking for a backlog of %d (cut to %d) and never accepts; "+
				"client-pool tries %d connects/s with a %d ms timeout: the queue stays full (%d/%d) and ListenOverflows/ListenDrops rise",
				AcceptSomaxconn, AcceptPort, AcceptAskedFor, AcceptSomaxconn, AcceptRate, AcceptTimeoutMS, AcceptSomaxconn+1, AcceptSomaxconn),
			Shows: fmt.Sprintf("accept_queue_overflow (critical) on the listener 127.0.0.1:%d, capped by somaxconn", AcceptPort),
			setup: setupOne(func(p *Population) error {
				return sysctl(p.Netns, "net.core.somaxconn", strconv.Itoa(AcceptSomaxconn))
			}),
			start: func(ctx context.Context, p *Population) error {
				return startAcceptWith(ctx, p, AcceptSomaxconn, AcceptRate)
			},
		},
		{
			Name: "accept-queue-128", Incident: 3,
			Title: "The accept queue overflows, at the incident's numbers (somaxconn 128)",
			Builds: fmt.Sprintf("as accept-queue with net.core.somaxconn %d and a backlog of %d, %d connects/s: "+
				"the %d connections in the full queue were closed by their clients and sit there in CLOSE_WAIT, never accepted",
				AcceptBigSomaxconn, AcceptBigSomaxconn, AcceptBigRate, AcceptBigSomaxconn+1),
			Shows: fmt.Sprintf("accept_queue_overflow (critical) on the listener 127.0.0.1:%d, capped by somaxconn; no CLOSE_WAIT leak (nothing was accepted)", AcceptPort),
			setup: setupOne(func(p *Population) error {
				return sysctl(p.Netns, "net.core.somaxconn", strconv.Itoa(AcceptBigSomaxconn))
			}),
			start: func(ctx context.Context, p *Population) error {
				return startAcceptWith(ctx, p, AcceptBigSomaxconn, AcceptBigRate)
			},
		},
		{
			Name: "tw-buckets", Incident: 4,
			Title: "TIME_WAIT hits tcp_max_tw_buckets",
			Builds: fmt.Sprintf("two namespaces joined by a veth pair; in the client namespace net.ipv4.tcp_max_tw_buckets %d; "+
				"php-fpm opens %d short connections/s to memcached at %s:%d and closes first: "+
				"TIME_WAIT sits at the cap and TCPTimeWaitOverflow rises by about %d/s",
				TWBuckets, TWRate, TWServerIP, TWPort, TWRate-TWBuckets/60),
			Shows: fmt.Sprintf("time_wait_bucket_cap (critical), naming the destination %s:%d", TWServerIP, TWPort),
			setup: setupTWBuckets, start: startTWBuckets,
		},
		{
			Name: "close-wait", Incident: 5,
			Title: "CLOSE_WAIT piles up in one application",
			Builds: fmt.Sprintf("leaky-app accepts on 127.0.0.1:%d and never closes; gateway connects %d times/s and closes: "+
				"leaky-app's CLOSE_WAIT grows by %d/s (up to %d), the gateway's sockets wait in FIN_WAIT2",
				CloseWaitPort, CloseWaitRate, CloseWaitRate, CloseWaitMax),
			Shows: "close_wait_leak (warning, critical from 200) naming leaky-app and its pid",
			setup: setupOne(nil), start: startCloseWait,
		},
		{
			Name:  "syn-sent",
			Title: "Connects pile up in SYN_SENT (the peer drops SYNs)",
			Builds: fmt.Sprintf("a veth with %s/24 and a permanent neighbour entry for %s pointing at a MAC nobody has, so SYNs vanish; "+
				"backend-caller starts %d connects/s to %s:%d, up to %d pending (30 s timeout)",
				SynSentLocalIP, SynSentRemoteIP, SynSentRate, SynSentRemoteIP, SynSentPort, SynSentMax),
			Shows: fmt.Sprintf("syn_sent_pileup (warning, critical from 100 stuck) on the peer %s:%d", SynSentRemoteIP, SynSentPort),
			setup: setupSynSent, start: startSynSent,
		},
		{
			Name:  "healthy",
			Title: "Baseline: a healthy keep-alive workload",
			Builds: fmt.Sprintf("app-server listens on 127.0.0.1:8080, :8081 and :9090; app-client keeps %d connections open and sends a request on each every %d ms (%d requests/s)",
				HealthyConns, HealthyIntervalMS, HealthyConns*1000/HealthyIntervalMS),
			Shows: "no findings",
			setup: setupOne(nil), start: startHealthy,
		},
		{
			Name:   "idle",
			Title:  "Baseline: an idle namespace",
			Builds: "a namespace with lo up and nothing else",
			Shows:  "no findings",
			setup:  setupOne(nil),
			start:  func(context.Context, *Population) error { return nil },
		},
	}
	scenarios = append(scenarios, trustScenarios()...)
}

// setupOne makes the one namespace, then runs more (may be nil).
func setupOne(more func(p *Population) error) func(p *Population) error {
	return func(p *Population) error {
		if err := p.addNetns(p.Netns); err != nil {
			return err
		}
		if more != nil {
			return more(p)
		}
		return nil
	}
}

// server is a spec for a service.
func server(comm, mode string, listen ...string) childSpec {
	return childSpec{Role: "server", Comm: comm, Mode: mode, Listen: listen}
}

// client is a spec for a dialing client.
func client(comm string, rate float64, targets ...string) childSpec {
	return childSpec{Role: "client", Kind: kindDial, Comm: comm, Rate: rate, Targets: targets}
}

func hostPort(ip string, port int) string { return ip + ":" + strconv.Itoa(port) }

// setupPair makes the observed namespace and a far namespace Netns+"-srv"
// joined by a veth pair, clientIP (the observed side) and serverIP (the far
// side) on a /24: the far side is then really another host, not loopback.
// Most scenarios observe a client and put its server far; those that
// observe a server put its clients far (the names then read backwards).
func setupPair(p *Population, clientIP, serverIP string) error {
	srv := p.Netns + "-srv"
	if err := p.addNetns(p.Netns); err != nil {
		return err
	}
	if err := p.addNetns(srv); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", p.Netns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", srv},
		{"-n", p.Netns, "addr", "add", clientIP + "/24", "dev", "eth0"},
		{"-n", srv, "addr", "add", serverIP + "/24", "dev", "eth0"},
		{"-n", p.Netns, "link", "set", "eth0", "up"},
		{"-n", srv, "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	return nil
}

func setupEphemeral(p *Population) error {
	if err := setupPair(p, EphemeralClientIP, EphemeralServerIP); err != nil {
		return err
	}
	if err := sysctl(p.Netns, "net.ipv4.ip_local_port_range", fmt.Sprintf("%d %d", EphemeralLow, EphemeralHigh)); err != nil {
		return err
	}
	// 2 (the default) reuses TIME_WAIT only on loopback; 0 says it plainly.
	return sysctl(p.Netns, "net.ipv4.tcp_tw_reuse", "0")
}

func setupTWBuckets(p *Population) error {
	if err := setupPair(p, TWClientIP, TWServerIP); err != nil {
		return err
	}
	return sysctl(p.Netns, "net.ipv4.tcp_max_tw_buckets", strconv.Itoa(TWBuckets))
}

func startEphemeral(ctx context.Context, p *Population) error {
	dst := hostPort(EphemeralServerIP, EphemeralPort)
	if _, err := p.spawn(ctx, p.Netns+"-srv", server("api-server", modeClose, dst)); err != nil {
		return err
	}
	c := client("php-worker", EphemeralRate, dst)
	c.ReadyOK = EphemeralReady
	c.MaxInflight = 64
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	p.Expect = Expect{Findings: []Want{{
		Rule:     model.RuleEphemeralPorts,
		Subject:  model.Subject{Kind: model.SubjectDestination, Remote: dst, Local: EphemeralClientIP, Direction: "out"},
		Severity: model.Critical,
	}}}
	return nil
}

func startProber(ctx context.Context, p *Population) error {
	ports := []string{"127.0.0.1:8080", "127.0.0.1:8443", "127.0.0.1:9100", "127.0.0.1:45000"}
	if _, err := p.spawn(ctx, p.Netns, server("web-service", modeClose, ports...)); err != nil {
		return err
	}
	c := client("health-check", ProberRate, ports...)
	c.Weights = []int{4, 2, 1, 1}
	c.ReadyOK = ProberReady
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	p.Expect = Expect{Findings: []Want{
		{
			Rule:     model.RuleLocalProber,
			Subject:  model.Subject{Kind: model.SubjectListener, Local: "127.0.0.1:8080"},
			Severity: model.Warning,
		},
		{
			Rule:     model.RuleListenerInEphemeral,
			Subject:  model.Subject{Kind: model.SubjectListener, Local: "127.0.0.1:45000"},
			Severity: model.Info,
		},
	}}
	return nil
}

// startAcceptWith starts the stuck service (asking for a backlog of
// AcceptAskedFor; somaxconn, set in setup, cuts it down) and its clients.
func startAcceptWith(ctx context.Context, p *Population, somaxconn int, rate float64) error {
	addr := hostPort("127.0.0.1", AcceptPort)
	s := server("stuck-service", modeNoAccept, addr)
	s.Backlog = max(AcceptAskedFor, somaxconn)
	if _, err := p.spawn(ctx, p.Netns, s); err != nil {
		return err
	}
	c := client("client-pool", rate, addr)
	c.TimeoutMS = AcceptTimeoutMS
	c.ReadyOK = somaxconn + 1 // the queue is full at backlog+1
	c.ReadyFailed = 5         // and SYNs are being dropped
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	p.Expect = Expect{Findings: []Want{{
		Rule:     model.RuleAcceptQueue,
		Subject:  model.Subject{Kind: model.SubjectListener, Local: addr},
		Severity: model.Critical,
	}}}
	return nil
}

func startTWBuckets(ctx context.Context, p *Population) error {
	addr := hostPort(TWServerIP, TWPort)
	if _, err := p.spawn(ctx, p.Netns+"-srv", server("memcached", modeClose, addr)); err != nil {
		return err
	}
	c := client("php-fpm", TWRate, addr)
	c.ReadyOK = TWReady
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	p.Expect = Expect{Findings: []Want{{
		Rule:     model.RuleTimeWaitBuckets,
		Subject:  model.Subject{Kind: model.SubjectDestination, Remote: addr, Local: TWClientIP, Direction: "out"},
		Severity: model.Critical,
	}}}
	return nil
}

func startCloseWait(ctx context.Context, p *Population) error {
	addr := hostPort("127.0.0.1", CloseWaitPort)
	s := server("leaky-app", modeLeak, addr)
	s.MaxConns = CloseWaitMax
	leaky, err := p.spawn(ctx, p.Netns, s)
	if err != nil {
		return err
	}
	c := client("gateway", CloseWaitRate, addr)
	c.ReadyOK = CloseWaitReady
	// The gateway stops once the leaky app holds all it will: past
	// MaxConns the app closes new connections at once, and that churn of
	// short local connections is a local prober's TIME_WAIT, a second
	// finding the demo does not promise. It keeps each half-closed
	// connection open, so the leak stays as long as the demo runs.
	c.Total = CloseWaitMax
	c.HoldHalfClosed = true
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	p.Expect = Expect{Findings: []Want{{
		Rule:     model.RuleCloseWaitLeak,
		Subject:  model.Subject{Kind: model.SubjectProcess, PID: int32(leaky.pid), Name: "leaky-app"},
		Severity: model.Warning,
	}}}
	return nil
}

func setupSynSent(p *Population) error {
	if err := p.addNetns(p.Netns); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", p.Netns, "link", "add", "up0", "type", "veth", "peer", "name", "up1"},
		{"-n", p.Netns, "addr", "add", SynSentLocalIP + "/24", "dev", "up0"},
		{"-n", p.Netns, "link", "set", "up0", "up"},
		{"-n", p.Netns, "link", "set", "up1", "up"},
		// Frames to this MAC reach up1, which is not it, and drop them:
		// no RST, no ICMP, the SYNs just vanish.
		{"-n", p.Netns, "neigh", "add", SynSentRemoteIP, "lladdr", "02:00:00:00:00:99", "dev", "up0", "nud", "permanent"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	return nil
}

func startSynSent(ctx context.Context, p *Population) error {
	dst := hostPort(SynSentRemoteIP, SynSentPort)
	c := client("backend-caller", SynSentRate, dst)
	c.TimeoutMS = 30_000
	c.MaxInflight = SynSentMax
	c.ReadyPending = SynSentReady
	c.ReadyPendingMS = 1200 // past the first SYN retransmit (1 s)
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	p.Expect = Expect{Findings: []Want{{
		Rule:     model.RuleSynSent,
		Subject:  model.Subject{Kind: model.SubjectPeer, Remote: dst, Direction: "out"},
		Severity: model.Warning,
	}}}
	return nil
}

func startHealthy(ctx context.Context, p *Population) error {
	ports := []string{"127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:9090"}
	if _, err := p.spawn(ctx, p.Netns, server("app-server", modeEcho, ports...)); err != nil {
		return err
	}
	c := childSpec{Role: "client", Kind: kindKeepAlive, Comm: "app-client", Targets: ports,
		Conns: HealthyConns, IntervalMS: HealthyIntervalMS}
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	p.Expect = Expect{}
	return nil
}
