package exporter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/pipeline"
	"github.com/tcptop/tcptop/source"
)

var errDump = errors.New("sock_diag dump: EPERM")

// replay is a Reader that plays the samples made by at(0), at(1), ...,
// failing the reads listed in fail.
type replay struct {
	mu   sync.Mutex
	n    int
	fail map[int]bool
	at   func(i int) *source.Sample
}

func (r *replay) Read(ctx context.Context) (*source.Sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.n
	r.n++
	if r.fail[i] {
		return nil, errDump
	}
	return r.at(i), nil
}

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// host is poll i, i seconds after t0: listeners (two sharing :80 by
// SO_REUSEPORT, one full), outgoing TIME_WAIT to several destinations,
// CLOSE_WAIT held by php-fpm workers (some sockets shared by two
// workers), by nginx and by nobody known; counters rise.
func host(listeners, dests int) func(i int) *source.Sample {
	return func(i int) *source.Sample {
		var socks []source.Socket
		cookie := uint64(0)
		add := func(st source.State, l, r string, owners ...int32) *source.Socket {
			cookie++
			socks = append(socks, source.Socket{State: st, Local: netip.MustParseAddrPort(l), Remote: netip.MustParseAddrPort(r),
				Inode: uint32(cookie), Owners: owners, Cookie: cookie})
			return &socks[len(socks)-1]
		}
		lis := add(source.Listen, "0.0.0.0:80", "0.0.0.0:0", 10)
		lis.RecvQ, lis.SendQ = 3, 128
		lis = add(source.Listen, "0.0.0.0:80", "0.0.0.0:0", 11)
		lis.RecvQ, lis.SendQ = 2, 128
		full := add(source.Listen, "127.0.0.1:8080", "0.0.0.0:0", 30)
		full.RecvQ, full.SendQ = 5, 4
		for l := range listeners {
			add(source.Listen, fmt.Sprintf("10.0.0.1:%d", 2000+l), "0.0.0.0:0", 10)
		}
		for d := range dests {
			for c := range dests - d {
				add(source.TimeWait, fmt.Sprintf("10.0.0.1:%d", 33000+100*d+c), fmt.Sprintf("192.0.2.%d:443", 10+d))
			}
		}
		for c := range 12 {
			add(source.CloseWait, fmt.Sprintf("10.0.0.1:%d", 45000+c), "127.0.0.1:6379", 20+int32(c%2))
		}
		for c := range 3 {
			add(source.CloseWait, fmt.Sprintf("10.0.0.1:%d", 46000+c), "127.0.0.1:6379", 20, 21) // shared by two workers
		}
		add(source.CloseWait, "10.0.0.1:80", "10.0.0.7:50000", 10)
		add(source.CloseWait, "10.0.0.1:80", "10.0.0.7:50001")
		return &source.Sample{
			Time: t0.Add(time.Duration(i) * time.Second), Host: "web1", Netns: "default",
			Sockets: socks, Attributed: true,
			Procs: map[int32]*source.Process{
				10: {PID: 10, Name: "nginx"}, 11: {PID: 11, Name: "nginx"},
				20: {PID: 20, Name: "php-fpm"}, 21: {PID: 21, Name: "php-fpm"},
				30: {PID: 30, Name: "stuck-app"},
			},
			Sysctl: source.Sysctls{PortLow: 32768, PortHigh: 60999, PortRangeParsed: true, Somaxconn: 4096,
				Raw: map[string]string{"net.ipv4.ip_local_port_range": "32768 60999"}},
			Counters: map[string]int64{
				"ListenOverflows": int64(10 * i), "ListenDrops": int64(10 * i), "ActiveOpens": int64(100 + i),
				"CurrEstab": 3, "SomethingNew": 7,
			},
		}
	}
}

// scrape GETs /metrics and returns the samples by "name{labels}" (labels
// as the text format writes them, sorted by name).
func scrape(t testing.TB, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s: %s", resp.Status, b)
	}
	return parseText(t, resp.Body)
}

func parseText(t testing.TB, r io.Reader) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func newServer(t testing.TB, e *Exporter) *httptest.Server {
	t.Helper()
	h, err := e.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func poll(t testing.TB, p *pipeline.Poller) {
	t.Helper()
	if _, err := p.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsFromSnapshot(t *testing.T) {
	p := pipeline.New(pipeline.Config{Reader: &replay{at: host(0, 3)}})
	e := New(Config{Poller: p, Top: 2, Version: "1.2.3"})
	srv := newServer(t, e)

	m := scrape(t, srv.URL)
	if m["tcptop_polls_total"] != 0 || m[`tcptop_sockets{state="CLOSE_WAIT"}`] != 0 {
		t.Fatalf("before the first poll: %v", m)
	}
	if _, ok := m["tcptop_build_info{goversion=\""+goVersion()+"\",version=\"1.2.3\"}"]; !ok {
		t.Errorf("no build info: %v", keys(m, "tcptop_build"))
	}
	poll(t, p)
	poll(t, p) // a second look gives CLOSE_WAIT ages, the leak finding needs 5 s of them...
	m = scrape(t, srv.URL)
	want := map[string]float64{
		`tcptop_sockets{state="CLOSE_WAIT"}`:                                                           17,
		`tcptop_sockets{state="TIME_WAIT"}`:                                                            6,
		`tcptop_sockets{state="LISTEN"}`:                                                               3,
		`tcptop_sockets{state="SYN_SENT"}`:                                                             0,
		`tcptop_listen_queue_length{listener="0.0.0.0:80"}`:                                            5,   // two SO_REUSEPORT sockets summed
		`tcptop_listen_queue_capacity{listener="0.0.0.0:80"}`:                                          256, // ...
		`tcptop_listen_queue_length{listener="127.0.0.1:8080"}`:                                        5,
		`tcptop_listen_queue_capacity{listener="127.0.0.1:8080"}`:                                      4,
		`tcptop_listen_syn_recv{listener="127.0.0.1:8080"}`:                                            0,
		`tcptop_ephemeral_ports_usable`:                                                                28232,
		`tcptop_ephemeral_ports_used`:                                                                  6 + 15,
		`tcptop_ephemeral_destinations`:                                                                4, // 3 TIME_WAIT ones and redis
		`tcptop_ephemeral_ports_used_by_destination{destination="127.0.0.1:6379",local_ip="10.0.0.1"}`: 15,
		`tcptop_ephemeral_ports_used_by_destination{destination="192.0.2.10:443",local_ip="10.0.0.1"}`: 3,
		`tcptop_ephemeral_ports_used_by_destination{destination="other",local_ip="other"}`:             2 + 1,
		`tcptop_close_wait_sockets{process="php-fpm"}`:                                                 15, // shared sockets once
		`tcptop_close_wait_sockets{process="nginx"}`:                                                   1,
		`tcptop_close_wait_sockets{process="other"}`:                                                   1, // unknown
		`tcptop_tcpext_listen_overflows_total`:                                                         10,
		`tcptop_tcp_active_opens_total`:                                                                101,
		`tcptop_polls_total`:                                                                           2,
		`tcptop_poll_errors_total`:                                                                     0,
		`tcptop_series_dropped_total{label="destination"}`:                                             2,
		`tcptop_series_dropped_total{label="process"}`:                                                 1,
		`tcptop_series_dropped_total{label="listener"}`:                                                0,
		`tcptop_snapshot_timestamp_seconds`:                                                            float64(t0.Unix() + 1),
		`tcptop_finding{rule="accept_queue_overflow",severity="critical",subject="127.0.0.1:8080"}`:    1,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	for k := range m {
		if strings.Contains(k, "curr_estab") || strings.Contains(k, "something") {
			t.Errorf("exported %s", k)
		}
	}
	if m["tcptop_poll_duration_seconds"] <= 0 {
		t.Errorf("poll duration %v", m["tcptop_poll_duration_seconds"])
	}

	// Scrapes do not poll, and a snapshot's dropped series count once.
	for range 3 {
		m = scrape(t, srv.URL)
	}
	if p.Stats().Polls != 2 || m[`tcptop_series_dropped_total{label="destination"}`] != 2 {
		t.Errorf("after 3 more scrapes: %d polls, dropped %v", p.Stats().Polls, m[`tcptop_series_dropped_total{label="destination"}`])
	}
}

func goVersion() string {
	out, _ := exec.Command("go", "env", "GOVERSION").Output()
	return strings.TrimSpace(string(out))
}

func keys(m map[string]float64, prefix string) []string {
	var out []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

func TestListenersCapped(t *testing.T) {
	p := pipeline.New(pipeline.Config{Reader: &replay{at: host(10, 1)}})
	e := New(Config{Poller: p, MaxListeners: 4})
	srv := newServer(t, e)
	poll(t, p)
	m := scrape(t, srv.URL)
	// 12 addresses: the two with a queue first, then by address.
	for _, k := range []string{`tcptop_listen_queue_length{listener="0.0.0.0:80"}`, `tcptop_listen_queue_length{listener="127.0.0.1:8080"}`,
		`tcptop_listen_queue_length{listener="10.0.0.1:2000"}`, `tcptop_listen_queue_length{listener="10.0.0.1:2001"}`} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %s: %v", k, keys(m, "tcptop_listen_queue_length"))
		}
	}
	if n := len(keys(m, "tcptop_listen_queue_length")); n != 5 {
		t.Errorf("%d listener series, want 4 and other", n)
	}
	if m[`tcptop_listen_queue_capacity{listener="other"}`] != 0 || m[`tcptop_series_dropped_total{label="listener"}`] != 8 {
		t.Errorf("other capacity %v, dropped %v", m[`tcptop_listen_queue_capacity{listener="other"}`], m[`tcptop_series_dropped_total{label="listener"}`])
	}
}

// TestPollErrorServesLastGoodValues: a failed poll is counted, the last
// good values stay, and the scrape is a 200; Run keeps polling after it.
func TestPollErrorServesLastGoodValues(t *testing.T) {
	r := &replay{at: host(0, 1), fail: map[int]bool{1: true, 2: true}}
	p := pipeline.New(pipeline.Config{Reader: r})
	e := New(Config{Poller: p})
	srv := newServer(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx, 100*time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	var sawErr bool
	for time.Now().Before(deadline) {
		m := scrape(t, srv.URL)
		if m["tcptop_poll_errors_total"] >= 1 && m["tcptop_polls_total"] < 4 {
			sawErr = true
			if m[`tcptop_sockets{state="CLOSE_WAIT"}`] != 17 || m["tcptop_snapshot_timestamp_seconds"] != float64(t0.Unix()) {
				t.Errorf("during the errors: CLOSE_WAIT %v, snapshot time %v", m[`tcptop_sockets{state="CLOSE_WAIT"}`], m["tcptop_snapshot_timestamp_seconds"])
			}
		}
		if m["tcptop_polls_total"] >= 5 {
			if m["tcptop_poll_errors_total"] != 2 || m["tcptop_snapshot_timestamp_seconds"] <= float64(t0.Unix()) {
				t.Errorf("after recovering: errors %v, snapshot time %v", m["tcptop_poll_errors_total"], m["tcptop_snapshot_timestamp_seconds"])
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if !sawErr || p.Stats().Polls < 5 {
		t.Errorf("saw the error state: %v; polls %d", sawErr, p.Stats().Polls)
	}
}

// TestEveryKeyCounterIsExported keeps kernelCounters in step with the
// counters the model gives a meaning.
func TestEveryKeyCounterIsExported(t *testing.T) {
	have := map[string]bool{}
	names := map[string]bool{}
	for _, kc := range kernelCounters {
		have[kc.key] = true
		if names[kc.metric] || !strings.HasSuffix(kc.metric, "_total") || (kc.table != "Tcp" && kc.table != "TcpExt") {
			t.Errorf("bad entry %+v", kc)
		}
		names[kc.metric] = true
	}
	for _, k := range model.KeyCounterNames() {
		if !have[k] && notExported[k] == "" {
			t.Errorf("key counter %s has no metric: add it to kernelCounters", k)
		}
	}
}

func TestListenAddress(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"9966", "127.0.0.1:9966"},
		{":9100", "127.0.0.1:9100"},
		{"0", "127.0.0.1:0"},
		{"0.0.0.0:9966", "0.0.0.0:9966"},
		{"0.0.0.0", "0.0.0.0:9966"},
		{"::", "[::]:9966"},
		{"[::1]:80", "[::1]:80"},
		{"localhost", "localhost:9966"},
		{"localhost:1234", "localhost:1234"},
		{"10.1.2.3:65535", "10.1.2.3:65535"},
	} {
		got, err := ListenAddress(c.in)
		if err != nil || got != c.want {
			t.Errorf("ListenAddress(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "99999", "1.2.3.4:http", "1.2.3.4:70000", "a:b:c", "host name:80", "[::1:80", "fe80::1%eth0"} {
		if got, err := ListenAddress(bad); err == nil {
			t.Errorf("ListenAddress(%q) = %q, want an error", bad, got)
		}
	}
}

// TestListenerDrops: a listener's own drop counter is a counter per
// address (SO_REUSEPORT groups summed), absent where it was not read.
func TestListenerDrops(t *testing.T) {
	base := host(0, 1)
	p := pipeline.New(pipeline.Config{Reader: &replay{at: func(i int) *source.Sample {
		s := base(i)
		for j := range s.Sockets {
			if sk := &s.Sockets[j]; sk.State == source.Listen && sk.Local.Port() == 80 {
				sk.Drops, sk.DropsKnown = uint32(3+j), true
			}
		}
		return s
	}}})
	srv := newServer(t, New(Config{Poller: p}))
	poll(t, p)
	m := scrape(t, srv.URL)
	if got := m[`tcptop_listen_drops_total{listener="0.0.0.0:80"}`]; got != 3+4 {
		t.Errorf("drops of :80 = %v, want 7: %v", got, keys(m, "tcptop_listen_drops"))
	}
	if _, ok := m[`tcptop_listen_drops_total{listener="127.0.0.1:8080"}`]; ok {
		t.Error("drops exported for a listener whose counter was not read")
	}
}
