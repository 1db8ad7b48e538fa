package model

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

type sb struct{ socks []source.Socket }

// add appends a socket; owners nil means unknown, inferred marks inference.
func (b *sb) add(st source.State, local, remote string, inode uint32, owners []int32, inferred bool) *source.Socket {
	fam := uint8(2)
	if l := ap(local); l.Addr().Is6() {
		fam = 10
	}
	b.socks = append(b.socks, source.Socket{
		Family: fam, State: st, Local: ap(local), Remote: ap(remote), Inode: inode,
		Cookie: uint64(len(b.socks) + 1), Owners: owners, OwnerInferred: inferred,
	})
	return &b.socks[len(b.socks)-1]
}

func sysctls() source.Sysctls {
	return source.Sysctls{
		PortLow: 32768, PortHigh: 60999, PortRangeParsed: true,
		Reserved:  []source.PortRange{{Lo: 40000, Hi: 40009}},
		Somaxconn: 4096, MaxTwBuckets: 131072,
		Raw: map[string]string{"net.ipv4.ip_local_port_range": "32768 60999", "net.core.somaxconn": "4096"},
	}
}

var procs = map[int32]*source.Process{
	10: {PID: 10, Name: "nginx", Cmdline: "nginx: worker process", User: "www-data"},
	20: {PID: 20, Name: "php-fpm", Cmdline: "php-fpm: pool www", User: "www-data"},
	30: {PID: 30, Name: "redis-server", Cmdline: "redis-server *:6379", User: "redis"},
}

// incidentSample mixes the shapes of the five incidents.
func incidentSample() *source.Sample {
	var b sb
	nginx, php, redis := []int32{10}, []int32{20}, []int32{30}
	// Listeners: nginx on every address, full and capped; redis on a port
	// inside the ephemeral range; a dual-stack listener of php.
	l := b.add(source.Listen, "0.0.0.0:80", "0.0.0.0:0", 100, nginx, false)
	l.RecvQ, l.SendQ = 4097, 4096
	l = b.add(source.Listen, "127.0.0.1:45000", "0.0.0.0:0", 101, redis, false)
	l.RecvQ, l.SendQ = 0, 511
	l = b.add(source.Listen, "[::]:9000", "[::]:0", 102, php, false)
	l.RecvQ, l.SendQ = 2, 128
	// Incoming to nginx: ESTABLISHED, SYN_RECV (request sockets, no inode).
	b.add(source.Established, "10.0.0.1:80", "10.0.0.5:50001", 200, nginx, false)
	b.add(source.Established, "10.0.0.1:80", "10.0.0.5:50002", 201, nginx, false)
	b.add(source.SynRecv, "10.0.0.1:80", "10.0.0.6:50003", 0, nginx, true)
	b.add(source.SynRecv, "10.0.0.1:80", "10.0.0.6:50004", 0, nil, false)
	// Incoming via the dual-stack listener, as IPv4-mapped addresses.
	b.add(source.Established, "[::ffff:127.0.0.1]:9000", "[::ffff:127.0.0.1]:51000", 210, php, false)
	b.add(source.TimeWait, "[::ffff:127.0.0.1]:9000", "[::ffff:127.0.0.1]:51001", 0, php, true)
	// Outgoing from php to an API: TIME_WAIT pile (incident 1).
	for i := range 6 {
		tw := b.add(source.TimeWait, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(33000+i)).String(), "192.0.2.10:443", 0, nil, false)
		tw.Expires = uint32(10000 + 1000*i)
	}
	b.add(source.Established, "10.0.0.1:34000", "192.0.2.10:443", 300, php, false)
	// Outgoing from php to redis on loopback, leaking CLOSE_WAIT (incident 5).
	for i := range 3 {
		b.add(source.CloseWait, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(35000+i)).String(), "127.0.0.1:6379", uint32(400+i), php, false)
	}
	// A reserved port used as a source port does not count as ephemeral.
	b.add(source.Established, "10.0.0.1:40001", "192.0.2.20:5432", 500, php, false)
	// A socket shared by two processes.
	b.add(source.Established, "10.0.0.1:36000", "192.0.2.30:25", 600, []int32{10, 20}, false)
	return &source.Sample{
		Time: t0, Host: "web1", Netns: "default", Sockets: b.socks, Procs: procs,
		Attributed: true, Sysctl: sysctls(),
		Counters: map[string]int64{"ListenOverflows": 100, "ListenDrops": 120, "TW": 5000},
	}
}

func findPeer(s *Snapshot, remote, dir string) *Peer {
	for i := range s.Peers {
		if s.Peers[i].Remote == remote && s.Peers[i].Direction == dir {
			return &s.Peers[i]
		}
	}
	return nil
}

func TestBuildIncidentMix(t *testing.T) {
	s := Build(incidentSample(), nil, Options{})
	if s.Total != 21 || s.States[source.TimeWait] != 7 || s.States[source.Listen] != 3 || s.States[source.CloseWait] != 3 || s.States[source.SynRecv] != 2 {
		t.Errorf("histogram: total %d states %v", s.Total, s.States)
	}
	// Ephemeral gauge: 28232 ports minus 10 reserved.
	e := s.Ephemeral
	if e.Usable != 28222 || e.Reserved != 10 {
		t.Errorf("usable %d reserved %d, want 28222 and 10", e.Usable, e.Reserved)
	}
	// in range and not reserved: 33000-33005, 34000, 35000-35002, 36000,
	// the redis listener 45000; 40001 is reserved, :80 and :9000 are out.
	if e.InUse != 12 {
		t.Errorf("ephemeral in use %d, want 12", e.InUse)
	}
	if len(e.Destinations) == 0 || e.Destinations[0].Remote != "192.0.2.10:443" || e.Destinations[0].InUse != 7 ||
		e.Destinations[0].TimeWait != 6 || e.Destinations[0].NextFreeMS != 10000 || e.Destinations[0].DrainMS != 15000 {
		t.Errorf("worst destination %+v", e.Destinations)
	}
	// Listeners: fullest first; capped and full; ephemeral-range flag.
	l0 := s.Listeners[0]
	if l0.Local != "0.0.0.0:80" || !l0.Full || !l0.CappedBySomaxconn || l0.SynRecv != 2 || l0.Processes[0].Name != "nginx" {
		t.Errorf("first listener %+v", l0)
	}
	for _, l := range s.Listeners {
		if (l.Local == "127.0.0.1:45000") != l.InEphemeralRange {
			t.Errorf("%s in_ephemeral_range = %v", l.Local, l.InEphemeralRange)
		}
	}
	// Peers: incoming grouped by remote IP and listener.
	in := findPeer(s, "10.0.0.5", "in")
	if in == nil || in.Local != "0.0.0.0:80" || in.States[source.Established] != 2 {
		t.Errorf("incoming peer 10.0.0.5: %+v", in)
	}
	dual := findPeer(s, "127.0.0.1", "in")
	if dual == nil || dual.Local != "[::]:9000" || dual.Total != 2 || !dual.Loopback {
		t.Errorf("dual-stack incoming peer: %+v", dual)
	}
	// Outgoing grouped by remote ip:port; unknown owners of TIME_WAIT.
	api := findPeer(s, "192.0.2.10:443", "out")
	if api == nil || api.Local != "10.0.0.1" || api.States[source.TimeWait] != 6 || api.Total != 7 {
		t.Fatalf("API peer: %+v", api)
	}
	if len(api.Processes) != 2 || api.Processes[0].Name != UnknownName || api.Processes[0].Sockets != 6 || api.Processes[1].PID != 20 {
		t.Errorf("API peer processes %+v", api.Processes)
	}
	// Inferred marks: php's TIME_WAIT on :9000 is inferred, its ESTABLISHED not.
	for _, pp := range dual.Processes {
		if pp.PID == 20 && pp.Inferred {
			t.Errorf("php on dual peer marked inferred though one socket was read: %+v", pp)
		}
	}
	syn := findPeer(s, "10.0.0.6", "in")
	if syn == nil || len(syn.Processes) != 2 {
		t.Fatalf("SYN_RECV peer: %+v", syn)
	}
	for _, pp := range syn.Processes {
		if pp.PID == 10 && !pp.Inferred {
			t.Errorf("nginx's inferred request socket not marked inferred: %+v", pp)
		}
	}
	// Processes: the shared socket counts for both owners.
	var php, nginx *ProcessRow
	for i := range s.Processes {
		switch s.Processes[i].PID {
		case 20:
			php = &s.Processes[i]
		case 10:
			nginx = &s.Processes[i]
		}
	}
	if php == nil || php.States[source.CloseWait] != 3 || php.Total != 9 || php.User != "www-data" {
		t.Errorf("php row %+v", php)
	}
	if nginx == nil || nginx.Total != 5 {
		t.Errorf("nginx row %+v", nginx)
	}
	golden(t, "incident-mix", s)
}

func TestSortAndFilter(t *testing.T) {
	sortCW, _ := ParseSortKey("close-wait")
	s := Build(incidentSample(), nil, Options{Sort: sortCW})
	if s.Peers[0].Remote != "127.0.0.1:6379" || s.Processes[0].PID != 20 {
		t.Errorf("sort by CLOSE_WAIT: first peer %s, first process %d", s.Peers[0].Remote, s.Processes[0].PID)
	}
	sortTW, _ := ParseSortKey("TIME_WAIT")
	s = Build(incidentSample(), nil, Options{Sort: sortTW})
	if s.Peers[0].Remote != "192.0.2.10:443" || s.Sort != "TIME_WAIT" {
		t.Errorf("sort by TIME_WAIT: first peer %s", s.Peers[0].Remote)
	}
	f, err := ParseFilter("dport:6379,5432")
	if err != nil {
		t.Fatal(err)
	}
	s = Build(incidentSample(), nil, Options{Filter: f})
	if len(s.Peers) != 2 || s.Total != 21 || s.Filter != "dport:6379,5432" {
		t.Errorf("filter dport: %d peers (want 2), total %d (want 21: totals ignore the filter)", len(s.Peers), s.Total)
	}
	f, _ = ParseFilter("proc:nginx state:SYN_RECV")
	s = Build(incidentSample(), nil, Options{Filter: f})
	if len(s.Peers) != 1 || s.Peers[0].Total != 1 {
		t.Errorf("proc:nginx state:SYN_RECV: %+v", s.Peers)
	}
}

func TestRates(t *testing.T) {
	a := incidentSample()
	prev := Build(a, nil, Options{})
	if prev.Rates != nil {
		t.Error("rates in the first snapshot")
	}
	b := incidentSample()
	b.Time = t0.Add(2 * time.Second)
	b.Counters = map[string]int64{"ListenOverflows": 110, "ListenDrops": 120, "TW": 5100}
	s := Build(b, prev, Options{})
	if s.Rates["ListenOverflows"] != 5 || s.Rates["ListenDrops"] != 0 || s.Rates["TW"] != 50 {
		t.Errorf("rates %v", s.Rates)
	}
}

func TestNoAttribution(t *testing.T) {
	smp := incidentSample()
	smp.Attributed = false
	for i := range smp.Sockets {
		smp.Sockets[i].Owners = nil
	}
	smp.Procs = nil
	s := Build(smp, nil, Options{})
	if len(s.Processes) != 0 {
		t.Errorf("processes without attribution: %+v", s.Processes)
	}
	for _, p := range s.Peers {
		if len(p.Processes) != 0 {
			t.Errorf("peer %s has processes without attribution", p.Remote)
		}
	}
	// Every list is present (not null) in JSON even when empty.
	empty := Build(&source.Sample{Time: t0}, nil, Options{})
	b, _ := json.Marshal(empty)
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"listeners", "peers", "processes", "counters", "sysctl"} {
		if m[k] == nil {
			t.Errorf("%s is null in JSON of an empty snapshot", k)
		}
	}
	if _, ok := m["rates"]; ok {
		t.Error("rates present in the first snapshot")
	}
	if d := m["ephemeral"].(map[string]any)["destinations"]; d == nil {
		t.Error("ephemeral.destinations is null")
	}
}

func TestStateCountsJSON(t *testing.T) {
	var c StateCounts
	c[source.TimeWait] = 3
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ESTABLISHED":0,"SYN_SENT":0,"SYN_RECV":0,"FIN_WAIT1":0,"FIN_WAIT2":0,"TIME_WAIT":3,"CLOSE":0,"CLOSE_WAIT":0,"LAST_ACK":0,"LISTEN":0,"CLOSING":0}`
	if string(b) != want {
		t.Errorf("got %s", b)
	}
	var back StateCounts
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Errorf("round trip: %v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"BOGUS":1}`), &back); err == nil {
		t.Error("unknown state accepted")
	}
}

// golden compares the snapshot's JSON with testdata/golden/model/NAME.json.
func golden(t *testing.T, name string, s *Snapshot) {
	t.Helper()
	s.PollMS = PollCost{} // timings are not reproducible
	got, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("..", "testdata", "golden", "model", name+".json")
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./model -update)", err)
	}
	if string(want) != string(got) {
		t.Errorf("snapshot differs from %s; run go test ./model -update and review the diff", path)
	}
}

func TestDrillDownSockets(t *testing.T) {
	smp := incidentSample()
	s := Build(smp, nil, Options{})
	api := findPeer(s, "192.0.2.10:443", "out")
	idx := s.PeerSockets(api)
	if len(idx) != api.Total {
		t.Fatalf("PeerSockets: %d sockets, peer total %d", len(idx), api.Total)
	}
	for _, i := range idx {
		if r := smp.Sockets[i].Remote; r != ap("192.0.2.10:443") {
			t.Errorf("socket %d toward %v in the API peer", i, r)
		}
	}
	dual := findPeer(s, "127.0.0.1", "in")
	if got := len(s.PeerSockets(dual)); got != 2 {
		t.Errorf("dual-stack peer: %d sockets, want 2", got)
	}
	for _, row := range s.Processes {
		if got := len(s.ProcessSockets(row.PID)); got != row.Total {
			t.Errorf("ProcessSockets(%d) = %d, row total %d", row.PID, got, row.Total)
		}
	}
	// With a filter, drill-down keeps to the filtered sockets.
	f, _ := ParseFilter("state:TIME_WAIT")
	s = Build(smp, nil, Options{Filter: f})
	api = findPeer(s, "192.0.2.10:443", "out")
	if got := len(s.PeerSockets(api)); got != 6 || api.Total != 6 {
		t.Errorf("filtered API peer: %d sockets, total %d, want 6", got, api.Total)
	}
}

// withSockets returns incidentSample plus extra sockets at time t0+dt.
func withSockets(dt time.Duration, counters map[string]int64, extra ...source.Socket) *source.Sample {
	s := incidentSample()
	s.Time = t0.Add(dt)
	s.Sockets = append(s.Sockets, extra...)
	if counters != nil {
		s.Counters = counters
	}
	return s
}

// churnSockets are 4 TIME_WAIT and 2 CLOSE_WAIT more than incidentSample.
func churnSockets() []source.Socket {
	var b sb
	for i := range 4 {
		b.add(source.TimeWait, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(37000+i)).String(), "192.0.2.10:443", 0, nil, false)
	}
	b.add(source.CloseWait, "127.0.0.1:37100", "127.0.0.1:6379", 700, []int32{20}, false)
	b.add(source.CloseWait, "127.0.0.1:37101", "127.0.0.1:6379", 701, []int32{20}, false)
	return b.socks
}

func TestStateRatesAndChurn(t *testing.T) {
	opens := func(a, p int64) map[string]int64 { return map[string]int64{"ActiveOpens": a, "PassiveOpens": p} }
	cases := []struct {
		name       string
		prev, now  *source.Sample // prev nil: first snapshot
		tw, cw, es Rate
		churn      Rate
	}{
		{"first snapshot", nil, withSockets(0, opens(1000, 900), churnSockets()...), 0, 0, 0, 0},
		{"growth over 2s", withSockets(0, opens(1000, 900)), withSockets(2*time.Second, opens(1030, 910), churnSockets()...), 2, 1, 0, 20},
		{"shrink over 4s", withSockets(0, opens(1000, 900), churnSockets()...), withSockets(4*time.Second, opens(1000, 902)), -1, -0.5, 0, 0.5},
		{"same time", withSockets(0, opens(1000, 900)), withSockets(0, opens(1030, 910), churnSockets()...), 0, 0, 0, 0},
		{"clock went back", withSockets(time.Second, opens(1000, 900)), withSockets(0, opens(1030, 910), churnSockets()...), 0, 0, 0, 0},
		{"PassiveOpens missing before", withSockets(0, map[string]int64{"ActiveOpens": 1000}), withSockets(time.Second, opens(1030, 910), churnSockets()...), 4, 2, 0, 0},
		{"no counters now", withSockets(0, opens(1000, 900)), withSockets(time.Second, map[string]int64{}, churnSockets()...), 4, 2, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var prev *Snapshot
			if c.prev != nil {
				prev = Build(c.prev, nil, Options{})
			}
			s := Build(c.now, prev, Options{})
			if got := s.StateRates; got[source.TimeWait] != c.tw || got[source.CloseWait] != c.cw || got[source.Established] != c.es {
				t.Errorf("state rates TIME_WAIT %v CLOSE_WAIT %v ESTABLISHED %v, want %v %v %v", got[source.TimeWait], got[source.CloseWait], got[source.Established], c.tw, c.cw, c.es)
			}
			for _, st := range source.AllStates {
				if st != source.TimeWait && st != source.CloseWait && s.StateRates.Get(st) != 0 {
					t.Errorf("%v rate %v, want 0", st, s.StateRates[st])
				}
			}
			if s.Churn != c.churn {
				t.Errorf("churn %v, want %v", s.Churn, c.churn)
			}
			// A filter narrows lists, never the rates.
			f, _ := ParseFilter("state:LISTEN")
			if fs := Build(c.now, prev, Options{Filter: f}); fs.StateRates != s.StateRates || fs.Churn != s.Churn {
				t.Errorf("filtered rates differ: %v %v", fs.StateRates, fs.Churn)
			}
		})
	}
}

func TestStateRatesJSON(t *testing.T) {
	var r StateRates
	r[source.TimeWait] = 2.5
	r[source.CloseWait] = -0.5
	r[source.Established] = 1.0 / 3
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ESTABLISHED":0.333,"SYN_SENT":0,"SYN_RECV":0,"FIN_WAIT1":0,"FIN_WAIT2":0,"TIME_WAIT":2.5,"CLOSE":0,"CLOSE_WAIT":-0.5,"LAST_ACK":0,"LISTEN":0,"CLOSING":0}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back StateRates
	r[source.Established] = 0.333
	if err := json.Unmarshal(b, &back); err != nil || back != r {
		t.Errorf("round trip: %v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"BOGUS":1}`), &back); err == nil {
		t.Error("unknown state accepted")
	}
	// A whole snapshot decodes again (the e2e tests read JSON this way).
	prev := Build(incidentSample(), nil, Options{})
	s := Build(withSockets(2*time.Second, map[string]int64{"ActiveOpens": 10, "PassiveOpens": 10}, churnSockets()...), prev, Options{})
	b, err = json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var dec Snapshot
	if err := json.Unmarshal(b, &dec); err != nil {
		t.Fatal(err)
	}
	if dec.StateRates != s.StateRates || dec.Churn != s.Churn {
		t.Errorf("decoded state_rates %v churn %v, want %v %v", dec.StateRates, dec.Churn, s.StateRates, s.Churn)
	}
}

func TestSortReverse(t *testing.T) {
	cases := []struct {
		sort  string
		peers string // "dir remote" in order
		procs []int32
	}{
		{"total",
			"out 192.0.2.10:443, out 127.0.0.1:6379, in 10.0.0.5, in 10.0.0.6, in 127.0.0.1, out 192.0.2.20:5432, out 192.0.2.30:25",
			[]int32{20, 0, 10, 30}},
		{"-total",
			"out 192.0.2.20:5432, out 192.0.2.30:25, in 10.0.0.5, in 10.0.0.6, in 127.0.0.1, out 127.0.0.1:6379, out 192.0.2.10:443",
			[]int32{30, 10, 0, 20}},
		// Smallest CLOSE_WAIT first; among the zeros the largest total first.
		{"-CLOSE_WAIT",
			"out 192.0.2.10:443, in 10.0.0.5, in 10.0.0.6, in 127.0.0.1, out 192.0.2.20:5432, out 192.0.2.30:25, out 127.0.0.1:6379",
			[]int32{0, 10, 30, 20}},
		{"-TIME_WAIT",
			"out 127.0.0.1:6379, in 10.0.0.5, in 10.0.0.6, out 192.0.2.20:5432, out 192.0.2.30:25, in 127.0.0.1, out 192.0.2.10:443",
			[]int32{10, 30, 20, 0}},
	}
	for _, c := range cases {
		key, err := ParseSortKey(c.sort)
		if err != nil {
			t.Fatal(err)
		}
		smp := incidentSample()
		s := Build(smp, nil, Options{Sort: key})
		var peers []string
		for _, p := range s.Peers {
			peers = append(peers, p.Direction+" "+p.Remote)
		}
		var pids []int32
		for _, p := range s.Processes {
			pids = append(pids, p.PID)
		}
		if got := strings.Join(peers, ", "); got != c.peers {
			t.Errorf("%s peers:\n got  %s\n want %s", c.sort, got, c.peers)
		}
		if !slices.Equal(pids, c.procs) {
			t.Errorf("%s processes %v, want %v", c.sort, pids, c.procs)
		}
		if s.Sort != c.sort {
			t.Errorf("Snapshot.Sort = %q, want %q", s.Sort, c.sort)
		}
		// The order does not depend on the order of the dump.
		slices.Reverse(smp.Sockets)
		again := Build(smp, nil, Options{Sort: key})
		for i := range s.Peers {
			if again.Peers[i].Direction != s.Peers[i].Direction || again.Peers[i].Remote != s.Peers[i].Remote {
				t.Errorf("%s: peer %d is %s after reversing the dump, was %s", c.sort, i, again.Peers[i].Remote, s.Peers[i].Remote)
			}
		}
	}
}

// TestGoldenSecondPoll pins the JSON of a snapshot with a previous one
// (rates, state rates, churn) and a reversed sort.
func TestGoldenSecondPoll(t *testing.T) {
	prev := Build(withSockets(0, map[string]int64{"ListenOverflows": 100, "ActiveOpens": 1000, "PassiveOpens": 900}), nil, Options{})
	key, _ := ParseSortKey("-TIME_WAIT")
	s := Build(withSockets(2*time.Second, map[string]int64{"ListenOverflows": 110, "ActiveOpens": 1030, "PassiveOpens": 911}, churnSockets()...), prev, Options{Sort: key})
	golden(t, "second-poll", s)
}

func TestOptions(t *testing.T) {
	f, _ := ParseFilter("state:TIME_WAIT  port:443")
	key, _ := ParseSortKey("-CLOSE_WAIT")
	s := Build(incidentSample(), nil, Options{Filter: f, Sort: key})
	if o := s.Options(); o.Filter.String() != "state:TIME_WAIT port:443" || o.Sort != key {
		t.Errorf("Options() = filter %q sort %v", o.Filter, o.Sort)
	}
	if o := Build(incidentSample(), nil, Options{}).Options(); !o.Filter.Empty() || o.Sort != (SortKey{}) {
		t.Errorf("zero options came back as %+v", o)
	}
}

// A peer's process list past smallProcs entries (searched, then indexed)
// counts each process's sockets, shared ones under each owner, and a
// partial sample's carried sockets with the fresh ones.
func TestPeerManyProcesses(t *testing.T) {
	var b sb
	want := map[int32]int{}
	for i := range 60 {
		owners := []int32{int32(100 + i%12)}
		if i%5 == 0 {
			owners = append(owners, int32(200+i%7))
		}
		st := source.Established
		if i >= 40 {
			st = source.CloseWait
		}
		b.add(st, "10.0.0.1:80", fmt.Sprintf("10.9.9.9:%d", 1024+i), uint32(1000+i), owners, false)
		for _, pid := range owners {
			want[pid]++
		}
	}
	b.add(source.Listen, "0.0.0.0:80", "0.0.0.0:0", 1, []int32{100}, false)
	for _, partial := range []bool{false, true} {
		s := incidentSample()
		s.Sockets = b.socks
		if partial {
			s.Partial = &source.Partial{FullTime: s.Time, Established: 40, Carried: 40}
			shareCarried(s)
		}
		p := findPeer(Build(s, nil, Options{}), "10.9.9.9", "in")
		if p == nil {
			t.Fatalf("partial %v: no peer 10.9.9.9", partial)
		}
		got := map[int32]int{}
		for _, pp := range p.Processes {
			if _, dup := got[pp.PID]; dup {
				t.Errorf("partial %v: pid %d listed twice", partial, pp.PID)
			}
			got[pp.PID] = pp.Sockets
		}
		if !reflect.DeepEqual(got, want) || p.Total != 60 {
			t.Errorf("partial %v: %d sockets by process %v, want 60 and %v", partial, p.Total, got, want)
		}
	}
}

// The peer accumulators stay where they were put, and in order, as the
// store grows past its first array.
func TestAccStore(t *testing.T) {
	for _, hint := range []int{0, 16, 17, 1000} {
		st := newAccStore(hint)
		var ptrs []*peerAcc
		for i := range 5000 {
			if got := st.add(peerAcc{key: peerKey{listener: i}}); got != int32(i) {
				t.Fatalf("hint %d: add %d returned %d", hint, i, got)
			}
			ptrs = append(ptrs, st.at(int32(i)))
		}
		for i := range 5000 {
			if a := st.at(int32(i)); a != ptrs[i] || a.key.listener != i {
				t.Fatalf("hint %d: at(%d) holds %d (moved: %v)", hint, i, a.key.listener, a != ptrs[i])
			}
		}
	}
}
