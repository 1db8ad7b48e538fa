package exporter

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/pipeline"
	"github.com/tcptop/tcptop/source"
)

// key is how the text format writes a sample: name{k="v",...} with the
// labels sorted by name (kv alternates names and values).
func key(name string, kv ...string) string {
	type pair struct{ k, v string }
	var ps []pair
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, pair{kv[i], kv[i+1]})
	}
	if len(ps) == 0 {
		return name
	}
	slices.SortFunc(ps, func(a, b pair) int { return strings.Compare(a.k, b.k) })
	var b strings.Builder
	b.WriteString(name + "{")
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", p.k, p.v)
	}
	b.WriteString("}")
	return b.String()
}

// nsKey is key with the target labels of a namespace without pod or
// container first.
func nsKey(name, netns string, kv ...string) string {
	return key(name, append([]string{"netns", netns, "pod", "", "container", ""}, kv...)...)
}

// populate builds, inside ns, estab ESTABLISHED pairs on one listener and
// closewait server-side CLOSE_WAIT sockets (their clients closed, the
// server never does) on another. The sockets live until the test ends.
func populate(t testing.TB, ns *source.Namespace, estab, closewait int) {
	t.Helper()
	var keep []net.Conn
	var lns []net.Listener
	t.Cleanup(func() {
		for _, c := range keep {
			c.Close()
		}
		for _, l := range lns {
			l.Close()
		}
	})
	// No keepalive: a probe from a CLOSE_WAIT socket whose orphaned
	// client timed out (tcp_fin_timeout) meets a reset, and the leak would
	// drain on its own in a slow run.
	lc := net.ListenConfig{KeepAlive: -1}
	d := net.Dialer{KeepAlive: -1}
	pairs := func(n int, closeClient bool) error {
		ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		for range n {
			c, err := d.Dial("tcp4", ln.Addr().String())
			if err != nil {
				return err
			}
			s, err := ln.Accept()
			if err != nil {
				return err
			}
			keep = append(keep, s)
			if closeClient {
				c.Close()
			} else {
				keep = append(keep, c)
			}
		}
		return nil
	}
	if err := ns.Do(func() error {
		if estab > 0 {
			if err := pairs(estab, false); err != nil {
				return err
			}
		}
		if closewait > 0 {
			return pairs(closewait, true)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// allPoller polls every namespace of the machine with a filter showing
// only the names given, every namespace dumped at every poll; attribute
// joins sockets to processes (a scan of every process's fds: slow on a
// machine where others hold many sockets).
func allPoller(t *testing.T, attribute bool, names ...string) *pipeline.AllPoller {
	t.Helper()
	f, err := model.ParseFilter("netns:" + strings.Join(names, ","))
	if err != nil {
		t.Fatal(err)
	}
	a := pipeline.NewAll(pipeline.AllConfig{Machine: source.NewMachine("/proc", attribute),
		Options: model.Options{Filter: f}, EveryPoll: true})
	t.Cleanup(a.Close)
	return a
}

func pollAll(t *testing.T, a *pipeline.AllPoller) *model.Overview {
	t.Helper()
	ov, err := a.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ov
}

// TestAllNetnsMetrics: two private namespaces, one leaking CLOSE_WAIT and
// one busy, exported with their netns labels: the states equal ss's in
// each, the vital signs and counters are there every poll, the detail
// age too, and scrapes never poll.
func TestAllNetnsMetrics(t *testing.T) {
	leak, leakNS := nstest.New(t, "tcptop-exa")
	busy, busyNS := nstest.New(t, "tcptop-exb")
	const cw, estab = 7, 20
	populate(t, leakNS, 0, cw)
	populate(t, busyNS, estab, 0)

	a := allPoller(t, true, leak, busy)
	e := New(Config{All: a})
	srv := newServer(t, e)
	if m := scrape(t, srv.URL); m["tcptop_polls_total"] != 0 || len(keys(m, "tcptop_sockets")) != 0 {
		t.Fatalf("before the first poll: %v", keys(m, "tcptop_"))
	}
	pollAll(t, a)
	ov := pollAll(t, a)
	m := scrape(t, srv.URL)

	for _, c := range []struct{ ns, netns string }{{leak, leak}, {busy, busy}} {
		ss := nstest.SSCounts(t, c.ns)
		if c.ns == leak && ss["CLOSE_WAIT"] != cw {
			t.Errorf("ss in %s: %v, want %d CLOSE_WAIT", leak, ss, cw)
		}
		for _, st := range []string{"CLOSE_WAIT", "ESTABLISHED", "LISTEN", "FIN_WAIT2", "TIME_WAIT"} {
			k := nsKey("tcptop_sockets", c.netns, "state", st)
			if got, ok := m[k]; !ok || got != float64(ss[st]) {
				t.Errorf("%s = %v (present %v), ss says %d", k, got, ok, ss[st])
			}
		}
		wantEstab := ss["ESTABLISHED"] + ss["CLOSE_WAIT"]
		if got := m[nsKey("tcptop_netns_curr_estab_sockets", c.netns)]; got != float64(wantEstab) {
			t.Errorf("%s: curr_estab %v, ss says %d", c.netns, got, wantEstab)
		}
		// The clients closed first: their FIN_WAIT2 sockets are orphans,
		// timewait minisockets that sockstat counts in tw.
		if got, ok := m[nsKey("tcptop_netns_time_wait_sockets", c.netns)]; !ok || got != float64(ss["TIME_WAIT"]+ss["FIN_WAIT2"]) {
			t.Errorf("%s: time_wait %v (present %v), ss says %d TIME_WAIT and %d FIN_WAIT2", c.netns, got, ok, ss["TIME_WAIT"], ss["FIN_WAIT2"])
		}
		if got, ok := m[nsKey("tcptop_netns_detail_age_seconds", c.netns)]; !ok || got < 0 || got > 1 {
			t.Errorf("%s: detail age %v (present %v): every namespace is dumped every poll here", c.netns, got, ok)
		}
		if _, ok := m[nsKey("tcptop_tcpext_listen_overflows_total", c.netns)]; !ok {
			t.Errorf("%s: no listen overflows counter", c.netns)
		}
		row := rowByName(ov, c.ns)
		if row == nil {
			t.Fatalf("no row for %s", c.ns)
		}
		if got := m[nsKey("tcptop_netns_info", c.netns, "id", row.Key, "runtime", "")]; got != 1 {
			t.Errorf("%s: no netns_info with id %s: %v", c.netns, row.Key, keys(m, "tcptop_netns_info"))
		}
	}
	if got := m[nsKey("tcptop_tcp_active_opens_total", busy)]; got < estab {
		t.Errorf("busy namespace: active opens %v, want at least %d", got, estab)
	}
	if got := m[nsKey("tcptop_close_wait_sockets", leak, "process", "exporter.test")]; got != cw {
		t.Errorf("close_wait_sockets of this test process in %s: %v (%v); CLOSE_WAIT %v, ss %v", leak, got, keys(m, "tcptop_close_wait_sockets"),
			m[nsKey("tcptop_sockets", leak, "state", "CLOSE_WAIT")], nstest.SSCounts(t, leak))
	}
	if m["tcptop_namespaces"] < 2 || m[key("tcptop_series_dropped_total", "label", "netns")] != 0 {
		t.Errorf("namespaces %v, netns dropped %v", m["tcptop_namespaces"], m[key("tcptop_series_dropped_total", "label", "netns")])
	}
	for k := range m {
		if strings.Contains(k, `netns="host"`) {
			t.Errorf("the filter hides the host, yet %s", k)
		}
	}

	if promtool, err := exec.LookPath("promtool"); err == nil {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("promtool check metrics: %q", run(t, body, promtool, "check", "metrics"))
	}

	// Scrapes do not poll: the overview and its dumps stay the same.
	for range 3 {
		scrape(t, srv.URL)
	}
	if a.Latest() != ov {
		t.Error("a scrape polled")
	}
}

func rowByName(ov *model.Overview, name string) *model.NamespaceRow {
	for i := range ov.Rows {
		if ov.Rows[i].NetnsName == name {
			return &ov.Rows[i]
		}
	}
	return nil
}

// TestAllNetnsCapped: beyond MaxNamespaces, the namespace with fewer
// sockets is summed into netns="other" (gauges only) and counted dropped.
func TestAllNetnsCapped(t *testing.T) {
	small, smallNS := nstest.New(t, "tcptop-exc")
	big, bigNS := nstest.New(t, "tcptop-exd")
	populate(t, smallNS, 0, 3)
	populate(t, bigNS, 30, 0)
	a := allPoller(t, false, small, big)
	e := New(Config{All: a, MaxNamespaces: 1})
	srv := newServer(t, e)
	pollAll(t, a)
	m := scrape(t, srv.URL)
	if _, ok := m[nsKey("tcptop_sockets", big, "state", "ESTABLISHED")]; !ok {
		t.Errorf("the bigger namespace is not exported: %v", keys(m, "tcptop_sockets{"))
	}
	for k := range m {
		if strings.Contains(k, small) {
			t.Errorf("the cut namespace is exported: %s", k)
		}
		if strings.Contains(k, `netns="other"`) && strings.Contains(k, "_total") {
			t.Errorf("a counter summed over namespaces: %s", k)
		}
	}
	if got := m[nsKey("tcptop_sockets", OtherLabel, "state", "CLOSE_WAIT")]; got != 3 {
		t.Errorf("other CLOSE_WAIT %v, want 3", got)
	}
	if got := m[nsKey("tcptop_netns_curr_estab_sockets", OtherLabel)]; got != 3 {
		t.Errorf("other curr_estab %v, want 3", got)
	}
	if got := m[key("tcptop_series_dropped_total", "label", "netns")]; got != 1 {
		t.Errorf("netns dropped %v, want 1", got)
	}
}

// TestNamespaceTargets: label values per namespace, unique even when two
// namespaces share a name or one is called "other".
func TestNamespaceTargets(t *testing.T) {
	rows := []*model.NamespaceRow{
		{Key: "net:[1]", Host: true},
		{Key: "net:[2]", NetnsName: "blue"},
		{Key: "net:[3]", NetnsName: "blue"},
		{Key: "net:[4]", NetnsName: "other"},
		{Key: "net:[5]", Labels: source.Labels{Runtime: "containerd", ContainerID: "0123456789abcdef0123", PodUID: "u-1", Pod: "web-0", PodNamespace: "shop"}},
		{Key: "net:[6]", Labels: source.Labels{Runtime: "docker", ContainerID: "fedcba9876543210", Container: "redis"}},
		{Key: "net:[7]", Labels: source.Labels{PodUID: "u-2"}},
	}
	want := [][3]string{
		{"host", "", ""},
		{"blue", "", ""},
		{"net:[3]", "", ""},
		{"net:[4]", "", ""},
		{"net:[5]", "shop/web-0", "0123456789ab"},
		{"net:[6]", "", "redis"},
		{"net:[7]", "u-2", ""},
	}
	got := namespaceTargets(rows)
	if !slices.Equal(got, want) {
		t.Errorf("namespaceTargets:\n got %q\nwant %q", got, want)
	}
}
