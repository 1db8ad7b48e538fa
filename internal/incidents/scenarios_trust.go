package incidents

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tcptop/tcptop/model"
)

// The numbers of the populations of issue 12 ("findings an on-call
// engineer can trust"): healthy workloads that must raise no warning, and
// variants of the incidents whose finding must be right (severity,
// subject, advice). Each says which item of the issue it reproduces.
const (
	// Item 1: a service that closes each connection LagMS after the
	// client's FIN, at LagRate connections/s from clients on the far side
	// of a veth pair (so their TIME_WAIT is not in the observed namespace).
	LagServerIP = "10.208.0.1"
	LagClientIP = "10.208.0.2"
	LagPort     = 8080
	LagRate     = 40
	LagMS       = 1500
	LagMaxMS    = 2000 // the healthy limit the issue names: up to 2 s
	LagReady    = 100  // connections made when it stands (2.5 s)

	// Item 2: the service closes first, its clients in the same namespace:
	// TIME_WAIT lands on the service's side of loopback.
	ServiceClosesRate  = 100
	ServiceClosesReady = 300

	// Item 3: a listener with a backlog of 64; far clients send bursts of
	// PulseBurst requests (each half-closed after the request) every
	// PulseEveryMS; the service lets each burst wait PulseHoldMS in the
	// queue (60/64, 94%), then accepts all: full for less than a poll
	// interval, never overflowing.
	PulseServerIP = "10.209.0.1"
	PulseClientIP = "10.209.0.2"
	PulsePort     = 8080
	PulseBacklog  = 64
	PulseBurst    = 60
	PulseEveryMS  = 1300
	PulseHoldMS   = 400

	// Item 4: a pre-forked pool (workers sharing the listening socket),
	// each worker leaking PoolLeakEach CLOSE_WAIT.
	PoolPort        = 8080
	PoolWorkers     = 8
	PoolLeakEach    = 9 // 72 in all
	PoolBigWorkers  = 4
	PoolBigLeakEach = 50 // 200 in all: the critical threshold

	// Item 5: somaxconn 128 cuts listen(8192); the service accepts
	// SlowAcceptRate/s, SlowAcceptBatch at a time; a burst of SlowPrefill connects fills the queue,
	// then far clients try SlowClientRate/s (a little more than the
	// service accepts) with a 300 ms connect timeout: the queue stays at
	// its cap and ListenOverflows rise a few per second.
	SlowServerIP       = "10.210.0.1"
	SlowClientIP       = "10.210.0.2"
	SlowPort           = 8080
	SlowSomaxconn      = 128
	SlowAskedFor       = 8192
	SlowAcceptRate     = 20
	SlowAcceptBatch    = 10 // accept() 10 at a time, twice a second
	SlowClientRate     = 24
	SlowPrefill        = 140
	SlowConnectTimeout = 300

	// Item 6: tcp_max_tw_buckets 300; the observed host serves :80 to far
	// clients and closes first (TIME_WAIT on its listener's side), and
	// calls a database on the far side, closing first (a few TIME_WAIT
	// toward it).
	TWSideServerIP = "10.211.0.1"
	TWSideFarIP    = "10.211.0.2"
	TWSidePort     = 80
	TWSideDBPort   = 5432
	TWSideBuckets  = 300
	TWSideRate     = 150
	TWSideDBRate   = 3

	// Item 8: a client that binds (port 0) before connecting, to 20 ports
	// of one far server, in a range of 1,000 ports: no destination holds
	// more than 5 %, yet bind() fails with EADDRINUSE.
	BindClientIP = "10.212.0.1"
	BindServerIP = "10.212.0.2"
	BindPortBase = 9000
	BindPorts    = 20
	BindLow      = 40000
	BindHigh     = 40999
	BindRate     = 300

	// Item 9: three destinations at 100 % at once (500 usable ports, each
	// destination uses all of them), and two local listeners, one inside
	// the ephemeral range.
	MultiClientIP = "10.213.0.1"
	MultiServerIP = "10.213.0.2"
	MultiPortBase = 8080
	MultiDests    = 3
	MultiLow      = 40000
	MultiHigh     = 40499
	MultiRate     = 450
	MultiInRange  = 40100 // a local listener's port inside the range

	// Healthy: idle keep-alive connections, held by one client process.
	IdleConns = 5000
	// Healthy: connects refused with RST (nothing listens on port 9).
	RefusedRate  = 200
	RefusedReady = 200
	// Healthy: slow downloads from the observed server to far readers.
	SlowDLServerIP = "10.214.0.1"
	SlowDLClientIP = "10.214.0.2"
	SlowDLPort     = 8080
	SlowDLConns    = 20
	SlowDLRcvBuf   = 4096
	SlowDLReadBPS  = 20000
)

// ListenerOnlyPorts are the listener-only namespace's listeners (127.0.0.1):
// two below the ephemeral range (32768-60999) and, for item 12, four
// inside it.
var ListenerOnlyPorts = []int{8080, 9090, 40001, 45000, 50000, 55555}

func trustScenarios() []Scenario {
	return []Scenario{
		{
			Name:  "close-wait-lag",
			Title: "Healthy: a service closes each connection 1.5 s after the client's FIN (issue 12, item 1)",
			Builds: fmt.Sprintf("slow-closer serves %s:%d and closes each connection %d ms after the client's FIN; clients on the far side of a veth connect %d times/s and close at once: "+
				"about %d sockets are in CLOSE_WAIT at any instant, none for longer than %d ms",
				LagServerIP, LagPort, LagMS, LagRate, LagRate*LagMS/1000, LagMS),
			Shows: "no finding at warning or worse: CLOSE_WAIT that does not stay is not a leak",
			setup: func(p *Population) error { return setupPair(p, LagServerIP, LagClientIP) },
			start: func(ctx context.Context, p *Population) error { return startLag(ctx, p, LagMS) },
		},
		{
			Name:  "close-wait-lag-2s",
			Title: "Healthy: a service closes each connection 2 s after the client's FIN (issue 12, item 1)",
			Builds: fmt.Sprintf("as close-wait-lag with a delay of %d ms: about %d sockets in CLOSE_WAIT at any instant",
				LagMaxMS, LagRate*LagMaxMS/1000),
			Shows: "no finding at warning or worse",
			setup: func(p *Population) error { return setupPair(p, LagServerIP, LagClientIP) },
			start: func(ctx context.Context, p *Population) error { return startLag(ctx, p, LagMaxMS) },
		},
		{
			Name:  "service-closes",
			Title: "Healthy: the service closes first, its clients on the same host (issue 12, item 2)",
			Builds: fmt.Sprintf("web-service listens on 127.0.0.1:8080, :8443 and :9100, answers one request and closes first; local-client sends %d requests/s: "+
				"the TIME_WAIT sits on the listening side and blocks no ephemeral port", ServiceClosesRate),
			Shows: "no finding at warning or worse (local_prober_time_wait at most info, explained)",
			setup: setupOne(nil), start: startServiceCloses,
		},
		{
			Name:  "accept-fill-drain",
			Title: "Healthy: an accept queue fills and drains without dropping a SYN (issue 12, item 3)",
			Builds: fmt.Sprintf("pulse-service listens on %s:%d with a backlog of %d; far clients send %d requests at once every %d ms (request, half-close, read the answer); "+
				"the service lets each burst wait %d ms, then accepts it all: the queue stands at %d/%d for %d ms of every %d, ListenOverflows and ListenDrops do not move",
				PulseServerIP, PulsePort, PulseBacklog, PulseBurst, PulseEveryMS, PulseHoldMS, PulseBurst, PulseBacklog, PulseHoldMS, PulseEveryMS),
			Shows: "no finding at warning or worse",
			setup: func(p *Population) error { return setupPair(p, PulseServerIP, PulseClientIP) },
			start: startPulse,
		},
		{
			Name:  "pool-leak",
			Title: "CLOSE_WAIT leak spread over a pre-forked pool (issue 12, item 4)",
			Builds: fmt.Sprintf("php-fpm listens on 127.0.0.1:%d and starts %d workers sharing the listening socket; each worker accepts %d connections and never closes them; gateway makes %d connections and closes each: %d CLOSE_WAIT in all",
				PoolPort, PoolWorkers, PoolLeakEach, PoolWorkers*PoolLeakEach, PoolWorkers*PoolLeakEach),
			Shows: "one close_wait_leak (warning) naming the pool: its parent or worst worker, the number of workers, 72 sockets",
			setup: setupOne(nil),
			start: func(ctx context.Context, p *Population) error {
				return startPool(ctx, p, PoolWorkers, PoolLeakEach, model.Warning)
			},
		},
		{
			Name:  "pool-leak-200",
			Title: "CLOSE_WAIT leak of 200 over a pool of 4 workers (issue 12, item 4)",
			Builds: fmt.Sprintf("as pool-leak with %d workers leaking %d each: %d CLOSE_WAIT in all",
				PoolBigWorkers, PoolBigLeakEach, PoolBigWorkers*PoolBigLeakEach),
			Shows: "one close_wait_leak (critical) naming the pool",
			setup: setupOne(nil),
			start: func(ctx context.Context, p *Population) error {
				return startPool(ctx, p, PoolBigWorkers, PoolBigLeakEach, model.Critical)
			},
		},
		{
			Name: "accept-slow", Incident: 3,
			Title: "somaxconn 128 caps listen(8192), the service accepts 20/s (issue 12, items 5 and 7)",
			Builds: fmt.Sprintf("net.core.somaxconn %d; slow-service listens on %s:%d asking for %d and accepts %d/s (%d at a time); far clients fill its queue with %d connects at once, then try %d connects/s with a %d ms timeout: "+
				"the queue stays at its cap (%d/%d after each accept() batch refills at once) and ListenOverflows rise",
				SlowSomaxconn, SlowServerIP, SlowPort, SlowAskedFor, SlowAcceptRate, SlowAcceptBatch, SlowPrefill, SlowClientRate, SlowConnectTimeout, SlowSomaxconn+1, SlowSomaxconn),
			Shows: fmt.Sprintf("accept_queue_overflow (critical on every refresh while overflows rise) on %s:%d, capped by somaxconn", SlowServerIP, SlowPort),
			setup: func(p *Population) error {
				if err := setupPair(p, SlowServerIP, SlowClientIP); err != nil {
					return err
				}
				return sysctl(p.Netns, "net.core.somaxconn", strconv.Itoa(SlowSomaxconn))
			},
			start: startSlowAccept,
		},
		{
			Name: "tw-buckets-server", Incident: 4,
			Title: "TIME_WAIT at tcp_max_tw_buckets on the server side (issue 12, item 6)",
			Builds: fmt.Sprintf("net.ipv4.tcp_max_tw_buckets %d; web serves %s:%d to far clients at %d requests/s and closes first; app calls a database at %s:%d %d times/s, closing first: "+
				"TIME_WAIT at the cap, nearly all on the listener's side",
				TWSideBuckets, TWSideServerIP, TWSidePort, TWSideRate, TWSideFarIP, TWSideDBPort, TWSideDBRate),
			Shows: fmt.Sprintf("time_wait_bucket_cap (critical) about the listener %s:%d, not the database", TWSideServerIP, TWSidePort),
			setup: func(p *Population) error {
				if err := setupPair(p, TWSideServerIP, TWSideFarIP); err != nil {
					return err
				}
				return sysctl(p.Netns, "net.ipv4.tcp_max_tw_buckets", strconv.Itoa(TWSideBuckets))
			},
			start: startTWServerSide,
		},
		{
			Name: "bind-exhaustion", Incident: 1,
			Title: "Ephemeral ports exhausted by bind() before connect() (issue 12, item 8)",
			Builds: fmt.Sprintf("ip_local_port_range %d %d, tcp_tw_reuse 1; batch-job binds %s:0 then connects, %d times/s over %d ports of %s, closing first: "+
				"every port is taken host-wide, no destination holds more than 5 %%, bind() fails with EADDRINUSE",
				BindLow, BindHigh, BindClientIP, BindRate, BindPorts, BindServerIP),
			Shows: "ephemeral_ports about the host, advising IP_BIND_ADDRESS_NO_PORT (tcp_tw_reuse does not apply to bind)",
			setup: func(p *Population) error {
				if err := setupPair(p, BindClientIP, BindServerIP); err != nil {
					return err
				}
				if err := sysctl(p.Netns, "net.ipv4.ip_local_port_range", fmt.Sprintf("%d %d", BindLow, BindHigh)); err != nil {
					return err
				}
				return sysctl(p.Netns, "net.ipv4.tcp_tw_reuse", "1")
			},
			start: startBind,
		},
		{
			Name: "multi-dest", Incident: 1,
			Title: "Three destinations out of ephemeral ports at once (issue 12, item 9)",
			Builds: fmt.Sprintf("ip_local_port_range %d %d; api-caller connects %d times/s to %s:%d-%d and closes first: each destination holds the whole range; "+
				"local-svc listens on 127.0.0.1:8080 and 127.0.0.1:%d (inside the range)",
				MultiLow, MultiHigh, MultiRate, MultiServerIP, MultiPortBase, MultiPortBase+MultiDests-1, MultiInRange),
			Shows: "ephemeral_ports naming every exhausted destination; port reservations only inside the range",
			setup: func(p *Population) error {
				if err := setupPair(p, MultiClientIP, MultiServerIP); err != nil {
					return err
				}
				if err := sysctl(p.Netns, "net.ipv4.ip_local_port_range", fmt.Sprintf("%d %d", MultiLow, MultiHigh)); err != nil {
					return err
				}
				return sysctl(p.Netns, "net.ipv4.tcp_tw_reuse", "0")
			},
			start: startMultiDest,
		},
		{
			Name:   "idle-keepalive",
			Title:  "Healthy: 5,000 idle keep-alive connections",
			Builds: fmt.Sprintf("cache listens on 127.0.0.1:6379 and :6380; app-pool holds %d idle connections to it", IdleConns),
			Shows:  "no finding at warning or worse",
			setup:  setupOne(nil), start: startIdleKeepAlive,
		},
		{
			Name:   "refused",
			Title:  "Healthy: a burst of refused connects",
			Builds: fmt.Sprintf("app-server listens on 127.0.0.1:8080; retry-loop connects %d times/s to 127.0.0.1:9, where nothing listens: each is refused with RST", RefusedRate),
			Shows:  "no finding at warning or worse",
			setup:  setupOne(nil), start: startRefused,
		},
		{
			Name:  "slow-download",
			Title: "Healthy: slow downloads with a large Send-Q",
			Builds: fmt.Sprintf("file-server on %s:%d streams to %d far downloaders, each with SO_RCVBUF %d reading %d bytes/s: the server's Send-Q stays large",
				SlowDLServerIP, SlowDLPort, SlowDLConns, SlowDLRcvBuf, SlowDLReadBPS),
			Shows: "no finding at warning or worse",
			setup: func(p *Population) error { return setupPair(p, SlowDLServerIP, SlowDLClientIP) },
			start: startSlowDownload,
		},
		{
			Name:  "listeners-only",
			Title: "Healthy: a namespace with listeners only, four inside the ephemeral range (issue 12, item 12)",
			Builds: fmt.Sprintf("idle-services listens on 127.0.0.1 ports %v (range 32768-60999) and nobody connects",
				ListenerOnlyPorts),
			Shows: "one listener_in_ephemeral_range (info) listing the four; nothing at warning or worse",
			setup: setupOne(func(p *Population) error {
				return sysctl(p.Netns, "net.ipv4.ip_local_port_range", "32768 60999")
			}),
			start: startListenersOnly,
		},
	}
}

func startLag(ctx context.Context, p *Population, lagMS int64) error {
	addr := hostPort(LagServerIP, LagPort)
	s := server("slow-closer", modeLag, addr)
	s.LagMS = lagMS
	if _, err := p.spawn(ctx, p.Netns, s); err != nil {
		return err
	}
	c := client("frontend", LagRate, addr)
	c.ReadyOK = LagReady
	if _, err := p.spawn(ctx, p.Netns+"-srv", c); err != nil {
		return err
	}
	p.Expect = Expect{}
	return nil
}

func startServiceCloses(ctx context.Context, p *Population) error {
	ports := []string{"127.0.0.1:8080", "127.0.0.1:8443", "127.0.0.1:9100"}
	if _, err := p.spawn(ctx, p.Netns, server("web-service", modeRespond, ports...)); err != nil {
		return err
	}
	c := client("local-client", ServiceClosesRate, ports...)
	c.Weights = []int{4, 2, 1}
	c.Request = true
	c.ReadyOK = ServiceClosesReady
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	p.Expect = Expect{}
	return nil
}

func startPulse(ctx context.Context, p *Population) error {
	addr := hostPort(PulseServerIP, PulsePort)
	s := server("pulse-service", modePulse, addr)
	s.Backlog = PulseBacklog
	s.PauseMS = PulseHoldMS
	if _, err := p.spawn(ctx, p.Netns, s); err != nil {
		return err
	}
	c := client("burst-client", 0, addr)
	c.Burst, c.BurstEveryMS = PulseBurst, PulseEveryMS
	c.Request, c.HalfClose = true, true
	c.MaxInflight = PulseBurst
	c.ReadyOK = 2 * PulseBurst // two bursts
	if _, err := p.spawn(ctx, p.Netns+"-srv", c); err != nil {
		return err
	}
	p.Expect = Expect{}
	return nil
}

// startPool starts the pool and the gateway that makes exactly
// workers*each connections, so that each worker leaks exactly each.
func startPool(ctx context.Context, p *Population, workers, each int, sev model.Severity) error {
	addr := hostPort("127.0.0.1", PoolPort)
	s := server("php-fpm", modePool, addr)
	s.Workers = workers
	s.MaxConns = each
	if _, err := p.spawn(ctx, p.Netns, s); err != nil {
		return err
	}
	c := client("gateway", 100, addr)
	c.Total = workers * each
	c.ReadyOK = workers * each
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	// The subject is the pool: its master or one of its workers (the test
	// checks which); no other rule should warn.
	p.Expect = Expect{Allowed: []string{model.RuleCloseWaitLeak}}
	return nil
}

func startSlowAccept(ctx context.Context, p *Population) error {
	addr := hostPort(SlowServerIP, SlowPort)
	s := server("slow-service", modeSlowAccept, addr)
	s.Backlog = SlowAskedFor
	s.AcceptRate = SlowAcceptRate
	s.AcceptBatch = SlowAcceptBatch
	if _, err := p.spawn(ctx, p.Netns, s); err != nil {
		return err
	}
	fill := client("client-burst", 0, addr)
	fill.Burst, fill.BurstEveryMS, fill.Total = SlowPrefill, 3_600_000, SlowPrefill
	fill.TimeoutMS = SlowConnectTimeout
	fill.Request = true
	fill.MaxInflight = SlowPrefill
	fill.ReadyOK = SlowSomaxconn + 1 // the queue is full
	fill.ReadyFailed = 5             // and SYNs are dropped
	if _, err := p.spawn(ctx, p.Netns+"-srv", fill); err != nil {
		return err
	}
	c := client("client-pool", SlowClientRate, addr)
	c.TimeoutMS = SlowConnectTimeout
	c.Request = true
	c.MaxInflight = 256
	c.ReadyFailed = 5 // its SYNs are dropped too
	if _, err := p.spawn(ctx, p.Netns+"-srv", c); err != nil {
		return err
	}
	p.Expect = Expect{Findings: []Want{{
		Rule:     model.RuleAcceptQueue,
		Subject:  model.Subject{Kind: model.SubjectListener, Local: addr},
		Severity: model.Critical,
	}}}
	return nil
}

func startTWServerSide(ctx context.Context, p *Population) error {
	db := hostPort(TWSideFarIP, TWSideDBPort)
	web := hostPort(TWSideServerIP, TWSidePort)
	if _, err := p.spawn(ctx, p.Netns+"-srv", server("postgres", modeClose, db)); err != nil {
		return err
	}
	// The database's TIME_WAIT first, while there is room under the cap.
	app := client("app", TWSideDBRate, db)
	app.ReadyOK = 2 * TWSideDBRate
	if _, err := p.spawn(ctx, p.Netns, app); err != nil {
		return err
	}
	if _, err := p.spawn(ctx, p.Netns, server("web", modeRespond, web)); err != nil {
		return err
	}
	lb := client("load-balancer", TWSideRate, web)
	lb.Request = true
	lb.ReadyOK = TWSideBuckets + 100
	if _, err := p.spawn(ctx, p.Netns+"-srv", lb); err != nil {
		return err
	}
	// The subject (listener or incoming peer) is checked by the test.
	p.Expect = Expect{Allowed: []string{model.RuleTimeWaitBuckets}}
	return nil
}

func startBind(ctx context.Context, p *Population) error {
	var targets []string
	for i := range BindPorts {
		targets = append(targets, hostPort(BindServerIP, BindPortBase+i))
	}
	if _, err := p.spawn(ctx, p.Netns+"-srv", server("backends", modeClose, targets...)); err != nil {
		return err
	}
	c := client("batch-job", BindRate, targets...)
	c.BindIP = BindClientIP
	c.MaxInflight = 64
	c.ReadyFailed = 20 // bind() said EADDRINUSE
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	p.Expect = Expect{Allowed: []string{model.RuleEphemeralPorts}}
	return nil
}

func startMultiDest(ctx context.Context, p *Population) error {
	var targets []string
	for i := range MultiDests {
		targets = append(targets, hostPort(MultiServerIP, MultiPortBase+i))
	}
	if _, err := p.spawn(ctx, p.Netns+"-srv", server("backends", modeClose, targets...)); err != nil {
		return err
	}
	local := []string{"127.0.0.1:8080", hostPort("127.0.0.1", MultiInRange)}
	if _, err := p.spawn(ctx, p.Netns, server("local-svc", modeEcho, local...)); err != nil {
		return err
	}
	c := client("api-caller", MultiRate, targets...)
	c.MaxInflight = 64
	c.ReadyFailed = 20 // connect() said EADDRNOTAVAIL
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	p.Expect = Expect{Allowed: []string{model.RuleEphemeralPorts}}
	return nil
}

func startIdleKeepAlive(ctx context.Context, p *Population) error {
	ports := []string{"127.0.0.1:6379", "127.0.0.1:6380"}
	if _, err := p.spawn(ctx, p.Netns, server("cache", modeEcho, ports...)); err != nil {
		return err
	}
	c := childSpec{Role: "client", Kind: kindKeepAlive, Comm: "app-pool", Targets: ports, Conns: IdleConns, Idle: true}
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	p.Expect = Expect{}
	return nil
}

func startRefused(ctx context.Context, p *Population) error {
	if _, err := p.spawn(ctx, p.Netns, server("app-server", modeEcho, "127.0.0.1:8080")); err != nil {
		return err
	}
	c := client("retry-loop", RefusedRate, "127.0.0.1:9")
	c.ReadyFailed = RefusedReady
	if _, err := p.spawn(ctx, p.Netns, c); err != nil {
		return err
	}
	p.Expect = Expect{}
	return nil
}

func startSlowDownload(ctx context.Context, p *Population) error {
	addr := hostPort(SlowDLServerIP, SlowDLPort)
	if _, err := p.spawn(ctx, p.Netns, server("file-server", modeStream, addr)); err != nil {
		return err
	}
	c := childSpec{Role: "client", Kind: kindSlowRead, Comm: "downloader", Targets: []string{addr},
		Conns: SlowDLConns, RcvBuf: SlowDLRcvBuf, ReadBPS: SlowDLReadBPS}
	if _, err := p.spawn(ctx, p.Netns+"-srv", c); err != nil {
		return err
	}
	p.Expect = Expect{}
	return nil
}

func startListenersOnly(ctx context.Context, p *Population) error {
	var addrs []string
	for _, port := range ListenerOnlyPorts {
		addrs = append(addrs, hostPort("127.0.0.1", port))
	}
	if _, err := p.spawn(ctx, p.Netns, server("idle-services", modeEcho, addrs...)); err != nil {
		return err
	}
	p.Expect = Expect{}
	return nil
}
