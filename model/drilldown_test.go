package model

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tcptop/tcptop/source"
)

// counts prints the non-zero states of c, then the total: "ESTABLISHED:2 =2".
func counts(c *StateCounts, total int) string {
	var b strings.Builder
	for _, st := range source.AllStates {
		if c[st] > 0 {
			fmt.Fprintf(&b, "%s:%d ", st, c[st])
		}
	}
	fmt.Fprintf(&b, "=%d", total)
	return b.String()
}

// portLine is a PortRow on one line: "80 L ESTABLISHED:2 SYN_RECV:2 =4 [0:unknown 10:nginx]".
func portLine(r PortRow) string {
	l := ""
	if r.Listening {
		l = "L "
	}
	var ps []string
	for _, p := range r.Processes {
		ps = append(ps, fmt.Sprintf("%d:%s", p.PID, p.Name))
	}
	return fmt.Sprintf("%d %s%s [%s]", r.Port, l, counts(&r.States, r.Total), strings.Join(ps, " "))
}

func unattributed(s *source.Sample) {
	s.Attributed = false
	s.Procs = nil
	for i := range s.Sockets {
		s.Sockets[i].Owners = nil
	}
}

// manyOwners adds port 8080 held by eight processes and an unowned socket.
func manyOwners(s *source.Sample) {
	var b sb
	b.add(source.Listen, "0.0.0.0:8080", "0.0.0.0:0", 800, []int32{70, 60}, false)
	b.add(source.Established, "10.0.0.1:8080", "10.0.0.9:1000", 801, []int32{50, 40}, false)
	b.add(source.Established, "10.0.0.1:8080", "10.0.0.9:1001", 802, []int32{30, 20, 10}, false)
	b.add(source.FinWait2, "10.0.0.1:8080", "10.0.0.9:1002", 0, nil, false)
	b.add(source.FinWait2, "10.0.0.1:8080", "10.0.0.9:1003", 0, []int32{80}, true)
	s.Sockets = append(s.Sockets, b.socks...)
}

func TestLocalPorts(t *testing.T) {
	tw := func(port int) string { return fmt.Sprintf("%d TIME_WAIT:1 =1 [0:unknown]", port) }
	php := func(port int, st string) string { return fmt.Sprintf("%d %s:1 =1 [20:php-fpm]", port, st) }
	p80 := "80 L ESTABLISHED:2 SYN_RECV:2 =4 [0:unknown 10:nginx]"
	p9000 := "9000 L ESTABLISHED:1 TIME_WAIT:1 =2 [20:php-fpm]"
	p45000 := "45000 L =0 [30:redis-server]"
	cases := []struct {
		name, filter, sort string
		mod                func(*source.Sample)
		want               []string
	}{
		{"all by total", "", "", nil, []string{p80, p9000,
			tw(33000), tw(33001), tw(33002), tw(33003), tw(33004), tw(33005),
			php(34000, "ESTABLISHED"), php(35000, "CLOSE_WAIT"), php(35001, "CLOSE_WAIT"), php(35002, "CLOSE_WAIT"),
			"36000 ESTABLISHED:1 =1 [10:nginx 20:php-fpm]", php(40001, "ESTABLISHED"), p45000}},
		{"smallest total first", "", "-total", nil, []string{p45000,
			tw(33000), tw(33001), tw(33002), tw(33003), tw(33004), tw(33005),
			php(34000, "ESTABLISHED"), php(35000, "CLOSE_WAIT"), php(35001, "CLOSE_WAIT"), php(35002, "CLOSE_WAIT"),
			"36000 ESTABLISHED:1 =1 [10:nginx 20:php-fpm]", php(40001, "ESTABLISHED"), p9000, p80}},
		{"by CLOSE_WAIT", "state:CLOSE_WAIT,TIME_WAIT", "close-wait", nil, []string{
			php(35000, "CLOSE_WAIT"), php(35001, "CLOSE_WAIT"), php(35002, "CLOSE_WAIT"),
			"9000 L TIME_WAIT:1 =1 [20:php-fpm]", tw(33000), tw(33001), tw(33002), tw(33003), tw(33004), tw(33005)}},
		{"fewest CLOSE_WAIT first", "port:6379,80", "-CLOSE_WAIT", nil, []string{
			p80, php(35000, "CLOSE_WAIT"), php(35001, "CLOSE_WAIT"), php(35002, "CLOSE_WAIT")}},
		// A listener outside the filter still marks its port as listening.
		{"filter hides the listener", "state:SYN_RECV", "", nil, []string{"80 L SYN_RECV:2 =2 [0:unknown 10:nginx]"}},
		{"listeners only", "state:LISTEN", "", nil, []string{"80 L =0 [10:nginx]", "9000 L =0 [20:php-fpm]", p45000}},
		{"nothing matches", "port:1", "", nil, nil},
		{"not attributed", "sport:80,45000", "", unattributed, []string{"80 L ESTABLISHED:2 SYN_RECV:2 =4 []", "45000 L =0 []"}},
		{"at most five owners, lowest pids", "sport:8080", "", manyOwners, []string{"8080 L ESTABLISHED:2 FIN_WAIT2:2 =4 [0:unknown 10:nginx 20:php-fpm 30:redis-server 40:?]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			smp := incidentSample()
			if c.mod != nil {
				c.mod(smp)
			}
			f, err := ParseFilter(c.filter)
			if err != nil {
				t.Fatal(err)
			}
			key, err := ParseSortKey(c.sort)
			if err != nil {
				t.Fatal(err)
			}
			rows := Build(smp, nil, Options{Filter: f, Sort: key}).LocalPorts()
			if rows == nil {
				t.Error("nil rows")
			}
			var got []string
			for _, r := range rows {
				if r.Processes == nil {
					t.Errorf("port %d: nil processes", r.Port)
				}
				got = append(got, portLine(r))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
	if rows := (&Snapshot{}).LocalPorts(); rows == nil || len(rows) != 0 {
		t.Errorf("snapshot without a sample: %v", rows)
	}
}

// procLine is a ProcessRow on one line: "20 php-fpm ESTABLISHED:1 =1".
func procLine(r ProcessRow) string {
	return fmt.Sprintf("%d %s %s", r.PID, r.Name, counts(&r.States, r.Total))
}

func TestPeerProcesses(t *testing.T) {
	cases := []struct {
		name, filter, sort string
		mod                func(*source.Sample)
		remote, dir        string
		want               []string
	}{
		{"API: unknown TIME_WAIT first", "", "", nil, "192.0.2.10:443", "out",
			[]string{"0 unknown TIME_WAIT:6 =6", "20 php-fpm ESTABLISHED:1 =1"}},
		{"API: smallest first", "", "-total", nil, "192.0.2.10:443", "out",
			[]string{"20 php-fpm ESTABLISHED:1 =1", "0 unknown TIME_WAIT:6 =6"}},
		{"API: by ESTABLISHED", "", "ESTABLISHED", nil, "192.0.2.10:443", "out",
			[]string{"20 php-fpm ESTABLISHED:1 =1", "0 unknown TIME_WAIT:6 =6"}},
		{"API: filtered", "state:TIME_WAIT", "", nil, "192.0.2.10:443", "out",
			[]string{"0 unknown TIME_WAIT:6 =6"}},
		{"ties by pid", "", "", nil, "10.0.0.6", "in",
			[]string{"0 unknown SYN_RECV:1 =1", "10 nginx SYN_RECV:1 =1"}},
		{"shared socket counts for both", "", "", nil, "192.0.2.30:25", "out",
			[]string{"10 nginx ESTABLISHED:1 =1", "20 php-fpm ESTABLISHED:1 =1"}},
		{"only this peer's sockets", "", "", nil, "127.0.0.1", "in",
			[]string{"20 php-fpm ESTABLISHED:1 TIME_WAIT:1 =2"}},
		{"owner without details", "", "", func(s *source.Sample) { s.Sockets[len(s.Sockets)-1].Owners = []int32{99} }, "192.0.2.30:25", "out",
			[]string{"99 ? ESTABLISHED:1 =1"}},
		{"not attributed", "", "", unattributed, "192.0.2.10:443", "out",
			[]string{"0 unknown ESTABLISHED:1 TIME_WAIT:6 =7"}},
		// Owners left in an unattributed sample are not trusted.
		{"not attributed, owners set", "", "", func(s *source.Sample) { s.Attributed = false }, "192.0.2.10:443", "out",
			[]string{"0 unknown ESTABLISHED:1 TIME_WAIT:6 =7"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			smp := incidentSample()
			if c.mod != nil {
				c.mod(smp)
			}
			f, _ := ParseFilter(c.filter)
			key, _ := ParseSortKey(c.sort)
			s := Build(smp, nil, Options{Filter: f, Sort: key})
			p := findPeer(s, c.remote, c.dir)
			if p == nil {
				t.Fatalf("no peer %s %s", c.dir, c.remote)
			}
			var got []string
			for _, r := range s.PeerProcesses(p) {
				got = append(got, procLine(r))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
	// Rows carry the process details.
	s := Build(incidentSample(), nil, Options{})
	rows := s.PeerProcesses(findPeer(s, "192.0.2.10:443", "out"))
	if r := rows[1]; r.Cmdline != "php-fpm: pool www" || r.User != "www-data" {
		t.Errorf("php row %+v", r)
	}
	if r := rows[0]; r.Cmdline != "" || r.User != "" {
		t.Errorf("unknown row %+v", r)
	}
}

// sockLine is a socket on one line: "TIME_WAIT 10.0.0.1:33000->192.0.2.10:443".
func sockLine(sk *source.Socket) string {
	return fmt.Sprintf("%s %s->%s", sk.State, sk.Local, sk.Remote)
}

func TestProcessPeerSockets(t *testing.T) {
	smp := incidentSample()
	s := Build(smp, nil, Options{})
	api := findPeer(s, "192.0.2.10:443", "out")
	lines := func(idx []int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, sockLine(&smp.Sockets[i]))
		}
		return out
	}
	for _, c := range []struct {
		pid  int32
		want []string
	}{
		{20, []string{"ESTABLISHED 10.0.0.1:34000->192.0.2.10:443"}},
		{0, []string{"TIME_WAIT 10.0.0.1:33000->192.0.2.10:443", "TIME_WAIT 10.0.0.1:33001->192.0.2.10:443",
			"TIME_WAIT 10.0.0.1:33002->192.0.2.10:443", "TIME_WAIT 10.0.0.1:33003->192.0.2.10:443",
			"TIME_WAIT 10.0.0.1:33004->192.0.2.10:443", "TIME_WAIT 10.0.0.1:33005->192.0.2.10:443"}},
		{10, nil},
	} {
		if got := lines(s.ProcessPeerSockets(api, c.pid)); !slices.Equal(got, c.want) {
			t.Errorf("pid %d: %q, want %q", c.pid, got, c.want)
		}
	}

	// In every shape, each PeerProcesses row is exactly its sockets.
	shapes := []struct {
		name, filter string
		mod          func(*source.Sample)
	}{{"plain", "", nil}, {"filtered", "state:TIME_WAIT,SYN_RECV", nil}, {"not attributed", "", unattributed}, {"many owners", "", manyOwners}}
	for _, sh := range shapes {
		smp := incidentSample()
		if sh.mod != nil {
			sh.mod(smp)
		}
		f, _ := ParseFilter(sh.filter)
		s := Build(smp, nil, Options{Filter: f})
		for i := range s.Peers {
			p := &s.Peers[i]
			all := s.PeerSockets(p)
			seen := map[int]bool{}
			for _, r := range s.PeerProcesses(p) {
				idx := s.ProcessPeerSockets(p, r.PID)
				var c StateCounts
				for _, j := range idx {
					c[smp.Sockets[j].State]++
					seen[j] = true
					if !slices.Contains(all, j) {
						t.Errorf("%s: %s pid %d: socket %d is not the peer's", sh.name, p.Remote, r.PID, j)
					}
				}
				if c != r.States || len(idx) != r.Total {
					t.Errorf("%s: %s pid %d: sockets %s, row %s", sh.name, p.Remote, r.PID, counts(&c, len(idx)), counts(&r.States, r.Total))
				}
			}
			if len(seen) != len(all) || len(all) != p.Total {
				t.Errorf("%s: %s: rows cover %d of %d sockets, peer total %d", sh.name, p.Remote, len(seen), len(all), p.Total)
			}
		}
	}
}

func TestDrillDownOrder(t *testing.T) {
	// Sockets in a scrambled dump order.
	var b sb
	b.add(source.Listen, "0.0.0.0:80", "0.0.0.0:0", 1, []int32{10}, false)
	b.add(source.TimeWait, "10.0.0.1:80", "10.0.0.5:50009", 0, []int32{10}, true)
	b.add(source.Established, "10.0.0.1:80", "10.0.0.5:50002", 2, []int32{10}, false)
	b.add(source.FinWait2, "10.0.0.1:80", "10.0.0.5:50001", 3, []int32{10}, false)
	b.add(source.Established, "[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.5]:50000", 4, []int32{10}, false)
	b.add(source.Established, "10.0.0.1:80", "10.0.0.5:50001", 5, []int32{10}, false)
	b.add(source.CloseWait, "10.0.0.2:80", "10.0.0.5:50001", 6, []int32{10}, false)
	b.add(source.CloseWait, "10.0.0.1:80", "10.0.0.5:50001", 7, []int32{10}, false)
	b.add(source.SynRecv, "10.0.0.1:80", "10.0.0.5:50003", 0, nil, false)
	smp := &source.Sample{Time: t0, Sockets: b.socks, Procs: procs, Attributed: true}
	want := []string{
		"ESTABLISHED 10.0.0.1:80->10.0.0.5:50001",
		"ESTABLISHED 10.0.0.1:80->10.0.0.5:50002",
		// IPv4-mapped sorts after IPv4 (netip order), within the state.
		"ESTABLISHED [::ffff:10.0.0.1]:80->[::ffff:10.0.0.5]:50000",
		"FIN_WAIT2 10.0.0.1:80->10.0.0.5:50001",
		"TIME_WAIT 10.0.0.1:80->10.0.0.5:50009",
		"CLOSE_WAIT 10.0.0.1:80->10.0.0.5:50001",
		"CLOSE_WAIT 10.0.0.2:80->10.0.0.5:50001",
	}
	for _, rev := range []bool{false, true} {
		if rev {
			slices.Reverse(smp.Sockets)
		}
		s := Build(smp, nil, Options{})
		lines := func(idx []int) []string {
			var out []string
			for _, i := range idx {
				out = append(out, sockLine(&smp.Sockets[i]))
			}
			return out
		}
		peer := findPeer(s, "10.0.0.5", "in")
		withSyn := slices.Insert(slices.Clone(want), 3, "SYN_RECV 10.0.0.1:80->10.0.0.5:50003")
		if got := lines(s.PeerSockets(peer)); !slices.Equal(got, withSyn) {
			t.Errorf("PeerSockets (reversed dump %v):\n got  %q\n want %q", rev, got, withSyn)
		}
		if got := lines(s.ProcessSockets(10)); !slices.Equal(got, append(slices.Clone(want), "LISTEN 0.0.0.0:80->0.0.0.0:0")) {
			t.Errorf("ProcessSockets (reversed dump %v): %q", rev, got)
		}
		if got := lines(s.ProcessPeerSockets(peer, 10)); !slices.Equal(got, want) {
			t.Errorf("ProcessPeerSockets (reversed dump %v): %q", rev, got)
		}
	}
	// A snapshot without a sample (decoded from JSON) has nothing to drill into.
	var empty Snapshot
	if empty.PeerSockets(&Peer{}) != nil || empty.ProcessSockets(0) != nil || empty.ProcessPeerSockets(&Peer{}, 0) != nil || len(empty.PeerProcesses(&Peer{})) != 0 {
		t.Error("drill-down into a snapshot without a sample")
	}
}
