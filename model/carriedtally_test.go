package model

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

// carriedSockets is a full dump's ESTABLISHED sockets: incoming to two
// wildcard listeners on :80 (their order flips with their queues), to a
// loopback-only listener's port from other addresses (outgoing, on a
// listener's port), outgoing with mixed local addresses, shared, inferred
// and unknown owners, IPv6 and IPv4-mapped addresses.
// shareCarried puts a partial sample's carried sockets (its first
// Partial.Carried, as a replayed recording holds them) apart in Carried,
// as source.Kernel.ReadPartial makes them: the model must read both
// forms the same.
func shareCarried(s *source.Sample) *source.Sample {
	n := s.Partial.Carried
	s.Carried, s.Sockets = s.Sockets[:n:n], s.Sockets[n:]
	return s
}

// wholeOf is s as one full dump: the same sockets, in one slice, not
// partial.
func wholeOf(s *source.Sample) *source.Sample {
	w := *s
	w.Partial, w.Carried, w.Sockets = nil, nil, s.Flat()
	return &w
}

func carriedSockets() []source.Socket {
	var b sb
	for i := range 300 {
		remote := netip.AddrFrom4([4]byte{10, 1, byte(i / 50), byte(i)})
		owners := []int32{10}
		if i%7 == 0 {
			owners = []int32{10, 11}
		}
		b.add(source.Established, "10.0.0.1:80", netip.AddrPortFrom(remote, uint16(1024+i)).String(), uint32(1000+i), owners, i%5 == 0)
	}
	for i := range 40 {
		b.add(source.Established, "[2001:db8::1]:80", fmt.Sprintf("[2001:db8::%x]:%d", 100+i%6, 2000+i), uint32(2000+i), []int32{10}, false)
		b.add(source.Established, "[::ffff:10.0.0.1]:80", fmt.Sprintf("[::ffff:10.2.0.%d]:%d", i%9, 3000+i), uint32(3000+i), []int32{11}, false)
	}
	for i := range 200 {
		local := "10.0.0.1"
		if i%13 == 0 {
			local = "10.0.0.2"
		}
		var owners []int32
		if i%11 != 0 {
			owners = []int32{20}
		}
		b.add(source.Established, fmt.Sprintf("%s:%d", local, 33000+i), fmt.Sprintf("192.0.2.%d:443", i%4), uint32(4000+i), owners, false)
	}
	for i := range 20 {
		// Local port 9000: a listener holds 127.0.0.1:9000 only, until
		// a wildcard one comes.
		b.add(source.Established, "10.0.0.1:9000", fmt.Sprintf("10.3.0.%d:%d", i%3, 5000+i), uint32(5000+i), []int32{30}, i%2 == 0)
		b.add(source.Established, fmt.Sprintf("10.0.0.1:%d", 34000+i), "10.4.0.1:5432", uint32(6000+i), []int32{30}, false)
	}
	return b.socks
}

// freshSockets is poll i's dump of every state but ESTABLISHED.
func freshSockets(i int) []source.Socket {
	var b sb
	l := b.add(source.Listen, "0.0.0.0:80", "0.0.0.0:0", 100, []int32{10, 11}, false)
	l.RecvQ, l.SendQ = uint32(i%3), 128
	l = b.add(source.Listen, "[::]:80", "[::]:0", 101, []int32{10}, false)
	l.RecvQ, l.SendQ = uint32((i+1)%3), 128
	b.add(source.Listen, "127.0.0.1:9000", "0.0.0.0:0", 102, []int32{30}, false)
	if i >= 4 && i < 7 {
		b.add(source.Listen, "0.0.0.0:9000", "0.0.0.0:0", 103, []int32{30}, false)
	}
	if i >= 7 {
		b.add(source.Listen, "10.0.0.1:34005", "0.0.0.0:0", 104, []int32{30}, false)
	}
	for j := range 30 + i {
		tw := b.add(source.TimeWait, fmt.Sprintf("10.0.0.1:%d", 35000+j), fmt.Sprintf("192.0.2.%d:443", j%3), 0, []int32{20}, j%2 == 0)
		tw.Expires = uint32(1000 * j)
	}
	for j := range 30 {
		cw := b.add(source.CloseWait, fmt.Sprintf("10.0.0.5:%d", 36000+j), "127.0.0.1:6379", uint32(7000+j), []int32{20}, false)
		cw.Cookie = uint64(900000 + j) // the same sockets at every poll
	}
	// A local prober: TIME_WAIT to the nginx port from 10.0.0.2, an
	// address of this host that only the carried sockets show.
	for j := range 60 {
		b.add(source.TimeWait, "10.0.0.9:80", fmt.Sprintf("10.0.0.2:%d", 40000+j), 0, nil, false)
	}
	b.add(source.SynRecv, "10.0.0.1:80", "10.1.0.1:60000", 0, []int32{10}, true)
	b.add(source.SynSent, "10.0.0.9:37000", "10.1.0.1:443", 8000, []int32{40}, false)
	for j := range b.socks {
		if b.socks[j].Cookie < 900000 {
			b.socks[j].Cookie += 100000 // distinct from the carried ones'
		}
	}
	return b.socks
}

// TestCarriedTalliesEqualFullBuild: snapshots of partial samples built
// with the carried sockets' tallies reused across polls equal, field by
// field, those built by tallying every socket, through listeners that
// reorder, appear on a carried socket's port and on new ports, process
// names that change and inferred groups.
// With a ports-warn threshold low enough, the destinations of the
// carried outgoing sockets are hot (hotDestinationOwners): the history's
// owners of them are the same too.
func TestCarriedTalliesEqualFullBuild(t *testing.T) {
	hot := DefaultThresholds()
	hot.PortsWarn = 0.002 // ~60 of 28k ports: hot at half that
	for name, c := range map[string]struct {
		th     Thresholds
		stable bool
	}{"default": {DefaultThresholds(), false}, "hot-destinations": {hot, false}, "stable": {DefaultThresholds(), true}} {
		t.Run(name, func(t *testing.T) { testCarriedTalliesEqualFullBuild(t, c.th, c.stable) })
	}
}

// stable: process names and the listeners' order stay the same (the
// carried peer rows are then reused, see peerBase).
func testCarriedTalliesEqualFullBuild(t *testing.T, th Thresholds, stable bool) {
	all := carriedSockets()
	start := time.Unix(1_800_000_000, 0)
	incr, plain := NewAnalyzer(th), NewAnalyzer(th)
	hotPolls, baseReused := 0, 0
	var prevIncr *Snapshot
	reused := 0
	var full time.Time
	var carried []source.Socket
	for i := range 10 {
		s := incidentSample()
		s.Time = start.Add(time.Duration(i) * time.Second)
		s.Procs = map[int32]*source.Process{
			10: {PID: 10, Name: "nginx"}, 11: {PID: 11, Name: "nginx"},
			20: {PID: 20, Name: fmt.Sprintf("php-%d", i%2)}, 30: {PID: 30, Name: "app"},
		}
		s.Groups = map[int32][]int32{10: {10, 11}}
		if i >= 9 {
			// Reserved ports change: the carried ports are tallied again.
			s.Sysctl.Reserved = append([]source.PortRange{{Lo: 33000, Hi: 33005}}, s.Sysctl.Reserved...)
		}
		fresh := freshSockets(i)
		if stable {
			s.Procs[20].Name = "php"
			for j := range fresh {
				sk := &fresh[j]
				switch {
				case sk.State == source.Listen && sk.Local.Port() == 80:
					sk.RecvQ = uint32(sk.Cookie % 2)
				case sk.State == source.Listen && sk.Local.Port() == 9000:
					// Moves the :80 listeners' indices, not what
					// they resolve to.
					sk.RecvQ = uint32(i % 3)
				}
			}
		}
		if i == 0 || i == 6 {
			// A full dump: at the second one, some sockets are gone,
			// new ones came (first seen now).
			carried = all
			if i == 6 {
				carried = append(all[40:len(all):len(all)], all[:10]...)
				for j := range 10 {
					carried[len(carried)-10+j].Cookie += 500000
				}
			}
			full = s.Time
			s.Sockets = append(append([]source.Socket{}, carried...), fresh...)
			if i == 6 {
				// As source.Kernel makes a periodic full dump: its
				// ESTABLISHED sockets first and apart.
				n := len(carried)
				s.Carried, s.Sockets = s.Sockets[:n:n], s.Sockets[n:]
			}
		} else {
			// A carried socket now in CLOSE_WAIT: in the fresh dump too.
			cw := carried[len(carried)-1]
			cw.State = source.CloseWait
			fresh = append(fresh, cw)
			s.Sockets = append(append([]source.Socket{}, carried...), fresh...)
			s.Partial = &source.Partial{FullTime: full, Established: len(carried), Carried: len(carried)}
			if i%2 == 0 {
				shareCarried(s)
			}
		}
		whole := *wholeOf(s)
		for _, opt := range []Options{{}, {Sort: mustSort(t, "-TIME_WAIT")}} {
			got, want := Build(s, prevIncr, opt), Build(&whole, nil, opt)
			compareSnapshots(t, fmt.Sprintf("poll %d %v Build", i, opt.Sort), got, want)
		}
		gotA, wantA := incr.Next(s, Options{}), plain.Next(&whole, Options{})
		compareSnapshots(t, fmt.Sprintf("poll %d Next", i), gotA, wantA)
		for j, sk := range s.All() {
			ga, gk := gotA.SocketAge(sk)
			wa, wk := wantA.SocketAge(sk)
			if ga != wa || gk != wk || gotA.seenBefore(sk) != wantA.seenBefore(sk) {
				t.Errorf("poll %d: socket %d (%v): age %v %v, want %v %v", i, j, sk.State, ga, gk, wa, wk)
				break
			}
		}
		if len(gotA.History[len(gotA.History)-1].destOwners) > 0 {
			hotPolls++
		}
		if incr.Tracked() != plain.Tracked() {
			t.Errorf("poll %d: tracked %d, want %d", i, incr.Tracked(), plain.Tracked())
		}
		if !reflect.DeepEqual(gotA.Findings, wantA.Findings) {
			t.Errorf("poll %d: findings differ:\n%+v\n%+v", i, gotA.Findings, wantA.Findings)
		}
		if len(gotA.Findings) < 1 || i == 9 && len(gotA.Findings) < 2 {
			t.Errorf("poll %d: findings %v: the test checks too little of the rules", i, ruleNames(gotA.Findings))
		}
		if i > 1 && prevIncr != nil && gotA.carried == prevIncr.carried {
			reused++
			if (gotA.carried.portsFor(&s.Sysctl) == nil) != (i == 9) {
				t.Errorf("poll %d: carried ports used %v", i, gotA.carried.portsFor(&s.Sysctl) != nil)
			}
		}
		re, reWant := Rebuild(gotA, Options{Sort: mustSort(t, "total")}), Rebuild(wantA, Options{Sort: mustSort(t, "total")})
		compareSnapshots(t, fmt.Sprintf("poll %d Rebuild", i), re, reWant)
		if s.Partial != nil && (gotA.carried == nil || incr.carried == nil) {
			t.Errorf("poll %d: a partial sample built without the carried tallies", i)
		}
		if prevIncr != nil && gotA.peerBase != nil && gotA.peerBase == prevIncr.peerBase {
			baseReused++
		}
		prevIncr = gotA
	}
	// Polls 2, 3, 5, 8 and 9 reuse; 4 and 7 change the listeners, 6 is
	// a full poll.
	if reused != 5 {
		t.Errorf("the carried tallies were reused at %d polls, want 5", reused)
	}
	if stable && baseReused < 5 {
		t.Errorf("the carried peer rows were reused at %d polls, want at least 5", baseReused)
	}
	if th.PortsWarn < DefaultPortsWarn && hotPolls < 10 {
		t.Errorf("hot destinations at %d polls of 10: the test checks too little of them", hotPolls)
	}
}

func ruleNames(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}

func mustSort(t *testing.T, s string) SortKey {
	t.Helper()
	k, err := ParseSortKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func compareSnapshots(t *testing.T, what string, got, want *Snapshot) {
	t.Helper()
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"States", got.States, want.States}, {"Total", got.Total, want.Total},
		{"Peers", got.Peers, want.Peers}, {"Processes", got.Processes, want.Processes},
		{"Listeners", got.Listeners, want.Listeners}, {"Ephemeral", got.Ephemeral, want.Ephemeral},
		{"LocalPorts", got.LocalPorts(), want.LocalPorts()},
		{"Findings", got.Findings, want.Findings}, {"History", got.History, want.History},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s: %s differ:\n got %+v\nwant %+v", what, f.name, f.got, f.want)
		}
	}
}

// TestPeerTallyManyProcesses: a carried peer held by more processes than
// a search serves (a pre-fork server's workers) counts each once per
// socket, before and after its list moves to the index.
func TestPeerTallyManyProcesses(t *testing.T) {
	procAt := map[tallyProc]int{}
	sk := source.Socket{State: source.Established, Local: netip.MustParseAddrPort("10.0.0.1:80"), Remote: netip.MustParseAddrPort("10.1.0.1:4000")}
	pt := newPeerTally(&sk, sk.Remote, false)
	want := map[int32]int{}
	for i := range 200 {
		sk.Owners = []int32{int32(100 + i%(3*smallProcs)), int32(100 + (i*7)%(3*smallProcs))}
		if sk.Owners[0] == sk.Owners[1] {
			sk.Owners = sk.Owners[:1]
		}
		for _, pid := range sk.Owners {
			want[pid]++
		}
		pt.add(&sk, true, procAt)
	}
	if len(pt.procs) != len(want) {
		t.Fatalf("%d processes, want %d", len(pt.procs), len(want))
	}
	for j, pp := range pt.procs {
		if pp.sockets != want[pp.pid] {
			t.Errorf("pid %d: %d sockets, want %d", pp.pid, pp.sockets, want[pp.pid])
		}
		if k, ok := pt.findProc(pp.pid, procAt); !ok || k != j {
			t.Errorf("pid %d found at %d %v, want %d", pp.pid, k, ok, j)
		}
	}
}

// interleave is a full dump's sockets: est's and fresh's in turn, then
// the rest of the longer.
func interleave(est, fresh []source.Socket) []source.Socket {
	var out []source.Socket
	for i := range max(len(est), len(fresh)) {
		if i < len(est) {
			out = append(out, est[i])
		}
		if i < len(fresh) {
			out = append(out, fresh[i])
		}
	}
	return out
}

// emptyPoll is poll i (a second each from start) of the processes and
// groups carriedSockets' owners are, with no socket yet.
func emptyPoll(start time.Time, i int) *source.Sample {
	s := incidentSample()
	s.Time = start.Add(time.Duration(i) * time.Second)
	s.Procs = map[int32]*source.Process{10: {PID: 10, Name: "nginx"}, 11: {PID: 11, Name: "nginx"}, 20: {PID: 20, Name: "php"}, 30: {PID: 30, Name: "app"}}
	s.Groups = map[int32][]int32{10: {10, 11}}
	s.Sockets = nil
	return s
}

// TestFullPollTalliesCarried: a full dump in a stream of partial ones
// builds its lists from tallies of its ESTABLISHED sockets (wherever they
// are in the sample), equal to tallying every socket, and the partial
// poll after it reuses those tallies and peer rows instead of tallying
// the carried sockets again.
func TestFullPollTalliesCarried(t *testing.T) {
	all := carriedSockets()
	start := time.Unix(1_800_000_000, 0)
	sample := func(i int) *source.Sample { return emptyPoll(start, i) }
	whole := wholeOf
	// Poll 1: partial, carrying the sockets of a full dump at 0.
	p1 := sample(1)
	p1.Sockets = append(append([]source.Socket{}, all...), freshSockets(1)...)
	p1.Partial = &source.Partial{FullTime: start, Carried: len(all), Established: len(all)}
	// Poll 2: a full dump, its ESTABLISHED sockets between the others.
	f2 := sample(2)
	f2.Sockets = interleave(all, freshSockets(2))
	// Poll 3: partial, carrying poll 2's ESTABLISHED sockets in its order.
	p3 := sample(3)
	for _, sk := range f2.Sockets {
		if sk.State == source.Established {
			p3.Sockets = append(p3.Sockets, sk)
		}
	}
	p3.Sockets = append(p3.Sockets, freshSockets(2)...) // the same listeners in the same order
	// One ESTABLISHED socket in the dump itself (a partial dump has
	// none; the lists count it all the same).
	extra := all[3]
	extra.Cookie, extra.Remote = 777777, netip.MustParseAddrPort("10.9.9.9:5555")
	p3.Sockets = append(p3.Sockets, extra)
	p3.Partial = &source.Partial{FullTime: f2.Time, Carried: len(all), Established: len(all)}
	shareCarried(p3)

	for _, opt := range []Options{{}, {Sort: mustSort(t, "-TIME_WAIT")}} {
		s1 := Build(p1, nil, opt)
		s2 := Build(f2, s1, opt)
		if s2.carried == nil || !s2.carried.spread || s2.carried.n != len(all) {
			t.Fatalf("%v: the full poll after a partial one did not tally its ESTABLISHED sockets apart", opt.Sort)
		}
		compareSnapshots(t, fmt.Sprintf("%v full poll", opt.Sort), s2, Build(whole(f2), nil, opt))
		s3 := Build(p3, s2, opt)
		if s3.carried != s2.carried || s3.peerBase == nil || s3.peerBase != s2.peerBase {
			t.Errorf("%v: the partial poll after the full one tallied the carried sockets again", opt.Sort)
		}
		compareSnapshots(t, fmt.Sprintf("%v partial poll", opt.Sort), s3, Build(whole(p3), nil, opt))
		th := DefaultThresholds()
		if c := newRuleCtx(s3, nil, &th, nil); c.fresh != len(all) {
			t.Errorf("%v: the findings' tallies walk the sockets from %d, not after the %d carried", opt.Sort, c.fresh, len(all))
		}
		// A partial sample that does not start with the full one's
		// ESTABLISHED sockets (not what ReadPartial makes) is tallied
		// whole.
		odd := *p3
		odd.Carried = slices.Clone(p3.Carried)
		odd.Carried[5].State = source.CloseWait
		s3odd := Build(&odd, s2, opt)
		if s3odd.carried == s2.carried {
			t.Errorf("%v: tallies reused for sockets that are not all ESTABLISHED", opt.Sort)
		}
		compareSnapshots(t, fmt.Sprintf("%v odd partial poll", opt.Sort), s3odd, Build(whole(&odd), nil, opt))
	}
	hot := DefaultThresholds()
	hot.PortsWarn = 0.002
	for _, th := range []Thresholds{DefaultThresholds(), hot} {
		incr, plain := NewAnalyzer(th), NewAnalyzer(th)
		for i, s := range []*source.Sample{p1, f2, p3} {
			got, want := incr.Next(s, Options{}), plain.Next(whole(s), Options{})
			compareSnapshots(t, fmt.Sprintf("Next %d", i+1), got, want)
			if !reflect.DeepEqual(got.Findings, want.Findings) {
				t.Errorf("Next %d: findings differ:\n%+v\n%+v", i+1, got.Findings, want.Findings)
			}
			if i == 2 && len(got.History[len(got.History)-1].destOwners) == 0 && th.PortsWarn < DefaultPortsWarn {
				t.Error("no hot destination: the test checks too little of them")
			}
		}
	}
}

// apartOf is the full sample w as a reader on the dump schedule makes
// it (source.Options.Scheduled): its ESTABLISHED sockets first and apart
// in Carried, not partial.
func apartOf(w *source.Sample) *source.Sample {
	s := *w
	s.Carried, s.Sockets = nil, nil
	for _, sk := range w.Sockets {
		if sk.State == source.Established {
			s.Carried = append(s.Carried, sk)
		} else {
			s.Sockets = append(s.Sockets, sk)
		}
	}
	return &s
}

// TestApartFirstPollSameAsWhole: a monitor's first poll, its ESTABLISHED
// sockets put apart by the source, tallies them and keeps their ages
// for the partial polls at once (they then neither walk nor copy them
// again), and every snapshot of the stream, ages included, is the one
// the same sockets give as whole samples.
func TestApartFirstPollSameAsWhole(t *testing.T) {
	w := variedSample(30000)
	first := apartOf(w)
	if len(first.Carried) < 10000 || len(first.Sockets) < 1000 {
		t.Fatalf("%d carried, %d others: the sample is too plain to tell", len(first.Carried), len(first.Sockets))
	}
	// The partial polls carry first's very slice; their dumps lose some
	// sockets, and one carried socket shows up in another state.
	partial := func(sec int, drop int) *source.Sample {
		s := *first
		s.Time = first.Time.Add(time.Duration(sec) * time.Second)
		s.Sockets = slices.Clone(first.Sockets[:len(first.Sockets)-drop])
		moved := first.Carried[7]
		moved.State = source.CloseWait
		s.Sockets = append(s.Sockets, moved)
		s.Partial = &source.Partial{FullTime: first.Time, Established: len(first.Carried) - 1, Carried: len(first.Carried)}
		return &s
	}
	stream := []*source.Sample{first, partial(1, 10), partial(2, 500)}
	hot := DefaultThresholds()
	hot.PortsWarn = 0.002
	for _, th := range []Thresholds{DefaultThresholds(), hot} {
		for _, parallel := range []bool{false, true} {
			withBuild(t, parallel, func() {
				apart, whole := NewAnalyzer(th), NewAnalyzer(th)
				var firstSnap *Snapshot
				var firstAges *carriedAges
				for i, s := range stream {
					what := fmt.Sprintf("poll %d (parallel %v)", i, parallel)
					got, want := apart.Next(s, Options{}), whole.Next(wholeOf(s), Options{})
					if i == 0 {
						firstSnap, firstAges = got, apart.carried
						if got.carried == nil || got.carried.n != len(first.Carried) || apart.carried == nil {
							t.Fatalf("%s: the first poll did not tally and time its apart sockets", what)
						}
					}
					if i == 1 && (got.carried != firstSnap.carried || apart.carried != firstAges) {
						t.Errorf("%s: the first poll's tallies or ages not reused", what)
					}
					if a, w := apart.Tracked(), whole.Tracked(); a != w {
						t.Errorf("%s: %d sockets tracked, want %d", what, a, w)
					}
					compareSnapshots(t, what, got, want)
					ages := map[uint64]time.Duration{}
					for j := range want.Sample.NumSockets() {
						sk := want.Sample.Socket(j)
						if age, ok := want.SocketAge(sk); ok {
							ages[sk.Cookie] = age
						}
					}
					n := 0
					for j := range got.Sample.NumSockets() {
						sk := got.Sample.Socket(j)
						age, ok := got.SocketAge(sk)
						if wa, wok := ages[sk.Cookie]; ok != wok || age != wa {
							t.Fatalf("%s: socket %d (%v) age %v %v, want %v %v", what, sk.Cookie, sk.State, age, ok, wa, wok)
						}
						if ok {
							n++
						}
					}
					if n < len(first.Carried) {
						t.Fatalf("%s: only %d sockets have an age", what, n)
					}
				}
			})
		}
	}
}
