package exporter

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/pipeline"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/source/ebpf"
)

// withEBPF is host(0, 1) with an eBPF section: 5 outgoing peers (peer i
// opened 10*(i+1) connections), one incoming peer on :80, one listener
// that overflowed, connects by three processes; or, with reason set, the
// programs not loaded for that reason.
func withEBPF(reason string) func(i int) *source.Sample {
	base := host(0, 1)
	return func(i int) *source.Sample {
		s := base(i)
		if reason != "" {
			s.EBPF = &source.EBPF{Reason: reason}
			return s
		}
		e := &source.EBPF{Loaded: true, Since: t0, Now: uint64(i+1) * 1e9, Lost: source.EBPFLost{PeersFull: 2, ResetsNoSocket: 9}}
		local := netip.MustParseAddrPort("10.0.0.1:0")
		for p := range 5 {
			peer := source.EBPFPeer{Dir: source.EBPFOut, Local: local, Remote: netip.MustParseAddrPort(fmt.Sprintf("192.0.2.%d:443", p+1)), Born: 1}
			peer.Opens, peer.Closes, peer.Retrans = uint64(10*(p+1)), uint64(10*(p+1)-1), uint64(p)
			if p == 0 {
				peer.Refused, peer.TimedOut, peer.Abandoned, peer.NoPort = 1, 2, 3, 4
			}
			e.Peers = append(e.Peers, peer)
		}
		in := source.EBPFPeer{Dir: source.EBPFIn, Local: netip.MustParseAddrPort("0.0.0.0:80"), Remote: netip.MustParseAddrPort("10.0.0.7:0"), Born: 1}
		in.Opens, in.ResetsSent = 1000, 5
		lis := source.EBPFPeer{Dir: source.EBPFListen, Local: netip.MustParseAddrPort("127.0.0.1:8080"), Born: 1}
		lis.Overflows, lis.Retrans = 17, 3
		e.Peers = append(e.Peers, in, lis)
		for j, name := range []string{"curl", "curl", "php-fpm", "other"} {
			e.Procs = append(e.Procs, source.EBPFProc{PID: int32(100 + j), Start: 1, Comm: name, Local: netip.MustParseAddr("10.0.0.1"),
				Remote: netip.MustParseAddrPort("192.0.2.1:443"), Born: 1, Opens: uint64(10 * (j + 1)), Failed: uint64(j)})
		}
		s.EBPF = e
		return s
	}
}

// TestEBPFMetrics: the eBPF counters of a snapshot, capped with other.
func TestEBPFMetrics(t *testing.T) {
	p := pipeline.New(pipeline.Config{Reader: &replay{at: withEBPF("")}})
	e := New(Config{Poller: p, Top: 2, MaxListeners: 1})
	srv := newServer(t, e)
	poll(t, p)
	m := scrape(t, srv.URL)
	out := func(name, peer string, kv ...string) string {
		return key(name, append([]string{"direction", "out", "peer", peer, "listener", ""}, kv...)...)
	}
	want := map[string]float64{
		key("tcptop_ebpf_loaded", "reason", ""): 1,
		// In by opens: 10.0.0.7 (1000), then 192.0.2.5 (50); the other
		// four outgoing peers (10+20+30+40 opens) are summed.
		key("tcptop_ebpf_peer_opens_total", "direction", "in", "peer", "10.0.0.7", "listener", "0.0.0.0:80"):                         1000,
		key("tcptop_ebpf_peer_resets_sent_total", "direction", "in", "peer", "10.0.0.7", "listener", "0.0.0.0:80"):                   5,
		out("tcptop_ebpf_peer_opens_total", "192.0.2.5:443"):                                                                         50,
		out("tcptop_ebpf_peer_closes_total", "192.0.2.5:443"):                                                                        49,
		out("tcptop_ebpf_peer_retransmits_total", "192.0.2.5:443"):                                                                   4,
		key("tcptop_ebpf_peer_opens_total", "direction", "other", "peer", "other", "listener", ""):                                   100,
		key("tcptop_ebpf_peer_connect_failures_total", "direction", "other", "peer", "other", "listener", "", "reason", "refused"):   1,
		key("tcptop_ebpf_peer_connect_failures_total", "direction", "other", "peer", "other", "listener", "", "reason", "timed_out"): 5, // timed out and abandoned
		key("tcptop_ebpf_peer_connect_failures_total", "direction", "other", "peer", "other", "listener", "", "reason", "no_port"):   4,
		key("tcptop_ebpf_process_connects_total", "process", "php-fpm"):                                                              30,
		key("tcptop_ebpf_process_connects_total", "process", "curl"):                                                                 30,
		key("tcptop_ebpf_process_connects_total", "process", "other"):                                                                40, // really named other
		key("tcptop_ebpf_process_connect_failures_total", "process", "curl"):                                                         1,
		key("tcptop_ebpf_listen_overflows_total", "listener", "127.0.0.1:8080"):                                                      17,
		key("tcptop_ebpf_listen_synack_retransmits_total", "listener", "127.0.0.1:8080"):                                             3,
		key("tcptop_ebpf_lost_events_total", "cause", "peers_map_full"):                                                              2,
		key("tcptop_ebpf_lost_events_total", "cause", "socket_storage"):                                                              0,
		"tcptop_ebpf_resets_without_socket_total":                                                                                    9,
		key("tcptop_series_dropped_total", "label", "peer"):                                                                          4,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if n := len(keys(m, "tcptop_ebpf_peer_opens_total")); n != 3 {
		t.Errorf("%d peer series, want 2 and other: %v", n, keys(m, "tcptop_ebpf_peer_opens_total"))
	}
	if _, ok := m[key("tcptop_ebpf_peer_connect_failures_total", "direction", "in", "peer", "10.0.0.7", "listener", "0.0.0.0:80", "reason", "refused")]; ok {
		t.Error("connect failures of an incoming peer")
	}
}

// TestEBPFNotLoaded: only tcptop_ebpf_loaded 0 with the reason on one
// line; without a tracer at all, no tcptop_ebpf_ metric.
func TestEBPFNotLoaded(t *testing.T) {
	long := "unavailable: load programs: operation not permitted\n(needs CAP_BPF and CAP_PERFMON) " + strings.Repeat("x", 300)
	p := pipeline.New(pipeline.Config{Reader: &replay{at: withEBPF(long)}})
	srv := newServer(t, New(Config{Poller: p}))
	poll(t, p)
	m := scrape(t, srv.URL)
	ks := keys(m, "tcptop_ebpf_")
	if len(ks) != 1 || m[ks[0]] != 0 || !strings.Contains(ks[0], `reason="unavailable: load programs: operation not permitted (needs CAP_BPF`) || len(ks[0]) > 200 {
		t.Errorf("not loaded: %q", ks)
	}

	p = pipeline.New(pipeline.Config{Reader: &replay{at: host(0, 1)}})
	srv = newServer(t, New(Config{Poller: p}))
	poll(t, p)
	if ks := keys(scrape(t, srv.URL), "tcptop_ebpf_"); len(ks) != 0 {
		t.Errorf("without a tracer: %q", ks)
	}
}

// loadTracer loads the eBPF programs, skipping where this machine cannot.
func loadTracer(t *testing.T) *ebpf.Tracer {
	t.Helper()
	if err := ebpf.Check(ebpf.Options{}); err != nil {
		t.Skip(err)
	}
	tr, err := ebpf.Load(ebpf.Options{ShareRead: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// shortConnections makes n connections to lap from inside ns, each
// closed at once; the listener's side closes when the client has.
func shortConnections(t *testing.T, ns *source.Namespace, lap string, n int) {
	t.Helper()
	if err := ns.Do(func() error {
		for range n {
			c, err := net.Dial("tcp4", lap)
			if err != nil {
				return err
			}
			c.Close()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// echoCloser serves a listener in ns that closes each connection once its
// client has; it returns the listener's address.
func echoCloser(t *testing.T, ns *source.Namespace) string {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// waitCounter scrapes until the sample k reaches want (5 s at most),
// polling with poll before each scrape; it returns the last value.
func waitCounter(t *testing.T, url, k string, want float64, poll func()) float64 {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		poll()
		if got = scrape(t, url)[k]; got >= want {
			break
		}
	}
	return got
}

// TestEBPFPeerOpensCounted: after N short connections in a namespace, the
// per-peer opens counter rose by exactly N, served by the one-namespace
// exporter and by the --all-netns one (with the netns label).
func TestEBPFPeerOpensCounted(t *testing.T) {
	tr := loadTracer(t)
	name, ns := nstest.New(t, "tcptop-exe")
	lap := echoCloser(t, ns)
	const n = 40

	k, err := source.Open(source.Options{Netns: name, Attribute: true, Tracer: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	p := pipeline.New(pipeline.Config{Reader: k})
	srv := newServer(t, New(Config{Poller: p}))

	m := machineWithTracer(tr)
	f, _ := model.ParseFilter("netns:" + name)
	a := pipeline.NewAll(pipeline.AllConfig{Machine: m, Options: model.Options{Filter: f}, EveryPoll: true})
	t.Cleanup(a.Close)
	allSrv := newServer(t, New(Config{All: a}))

	one := key("tcptop_ebpf_peer_opens_total", "direction", "out", "peer", lap, "listener", "")
	all := nsKey("tcptop_ebpf_peer_opens_total", name, "direction", "out", "peer", lap, "listener", "")
	pollOne := func() { poll(t, p) }
	pollEvery := func() { pollAll(t, a) }

	// A first round of connections makes the peer's series exist.
	shortConnections(t, ns, lap, 3)
	before := waitCounter(t, srv.URL, one, 3, pollOne)
	beforeAll := waitCounter(t, allSrv.URL, all, 3, pollEvery)
	if before < 3 || beforeAll < 3 {
		t.Fatalf("after 3 connections: %v (one namespace), %v (all); series %v", before, beforeAll, keys(scrape(t, allSrv.URL), "tcptop_ebpf_peer_opens_total"))
	}
	shortConnections(t, ns, lap, n)
	after := waitCounter(t, srv.URL, one, before+n, pollOne)
	afterAll := waitCounter(t, allSrv.URL, all, beforeAll+n, pollEvery)
	if after-before != n || afterAll-beforeAll != n {
		t.Errorf("after %d more connections the opens counter rose by %v (one namespace) and %v (all namespaces)", n, after-before, afterAll-beforeAll)
	}
	mm := scrape(t, srv.URL)
	if got := mm[key("tcptop_ebpf_process_connects_total", "process", "exporter.test")]; got < n+3 {
		t.Errorf("this process's connects %v, want at least %d: %v", got, n+3, keys(mm, "tcptop_ebpf_process"))
	}
	if mm[key("tcptop_ebpf_loaded", "reason", "")] != 1 {
		t.Errorf("loaded: %v", keys(mm, "tcptop_ebpf_loaded"))
	}
}

func machineWithTracer(tr source.Tracer) *source.Machine {
	m := source.NewMachine("/proc", false) // eBPF names the connecting process itself
	m.SetTracer(tr)
	return m
}
