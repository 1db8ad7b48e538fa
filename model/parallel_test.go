package model

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

// variedSample is a full sample of n sockets in a shuffled, seeded mix
// that makes every part of a build's merge matter: IPv4 and IPv6
// (native and IPv4-mapped) peers on a wildcard, a dual-stack and a
// specific listener; a few heavy clients whose sockets are spread over
// the whole table and over a dozen pre-fork workers (their peers' process
// lists outgrow smallProcs in each half); owners inferred on some
// sockets of a peer and not others, and unknown on others; outgoing
// peers from two local addresses (mixed) and from one; TIME_WAIT with
// timers, CLOSE_WAIT, SYN_RECV, FIN_WAIT2, thousands of distinct
// outgoing destinations and one holding a third of the ephemeral ports
// (whose owners the rules look for).
func variedSample(n int) *source.Sample {
	r := rand.New(rand.NewPCG(18, 100000))
	var b sb
	workers := make([]int32, 12)
	for i := range workers {
		workers[i] = int32(100 + i)
	}
	b.add(source.Listen, "0.0.0.0:80", "0.0.0.0:0", 1, workers, false).SendQ = 4096
	b.add(source.Listen, "[::]:9000", "[::]:0", 2, []int32{20}, false).SendQ = 128
	b.add(source.Listen, "10.0.0.1:8080", "0.0.0.0:0", 3, []int32{30}, false).SendQ = 511
	b.add(source.Listen, "127.0.0.1:45000", "0.0.0.0:0", 4, []int32{30}, false).SendQ = 511
	b.add(source.Listen, "[2001:db8::1]:443", "[::]:0", 5, []int32{40}, false).SendQ = 1024
	owner := func() ([]int32, bool) {
		switch k := r.IntN(24); {
		case k == 0:
			return nil, false // unknown
		case k == 1:
			return []int32{workers[r.IntN(12)], workers[r.IntN(12)]}, false
		default:
			return []int32{workers[r.IntN(12)]}, k == 2 // a few inferred
		}
	}
	late := 0 // sockets to 192.0.2.202 in the second half
	port := func() uint16 { return uint16(32768 + r.IntN(28232)) }
	v4 := func(a, b, c, d int) netip.Addr { return netip.AddrFrom4([4]byte{byte(a), byte(b), byte(c), byte(d)}) }
	v6 := func(net uint16, host int) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(net >> 8), byte(net), 14: byte(host >> 8), 15: byte(host)})
	}
	for i := 0; len(b.socks) < n; i++ {
		var sk *source.Socket
		switch k := r.IntN(24); {
		case k < 5: // incoming to :80, from thousands of clients
			o, inf := owner()
			sk = b.add(source.Established, "10.0.0.1:80", netip.AddrPortFrom(v4(10, 1, r.IntN(16), r.IntN(256)), port()).String(), uint32(1000+i), o, inf)
		case k < 8: // incoming to :80 from a few heavy clients
			o, inf := owner()
			local := "10.0.0.1:80"
			if k == 7 {
				local = "10.0.0.2:80"
			}
			sk = b.add(source.Established, local, netip.AddrPortFrom(v4(172, 16, 0, r.IntN(8)), port()).String(), uint32(1000+i), o, inf)
		case k < 10: // incoming on the dual-stack listener, IPv6 and mapped
			remote := netip.AddrPortFrom(v6(1, r.IntN(300)), port())
			local := "[2001:db8::1]:9000"
			if k == 9 {
				remote = netip.AddrPortFrom(netip.AddrFrom16(v4(10, 2, 0, r.IntN(64)).As16()), port())
				local = "[::ffff:10.0.0.1]:9000"
			}
			sk = b.add(source.Established, local, remote.String(), uint32(1000+i), []int32{20}, r.IntN(3) == 0)
		case k == 10: // SYN_RECV on :80 and the specific listener
			local := "10.0.0.1:80"
			if r.IntN(2) == 0 {
				local = "10.0.0.1:8080"
			}
			sk = b.add(source.SynRecv, local, netip.AddrPortFrom(v4(10, 3, 0, r.IntN(200)), port()).String(), 0, nil, false)
		case k < 14: // outgoing TIME_WAIT to a few APIs from two local addresses
			local := v4(10, 0, 0, 1+r.IntN(2))
			api := netip.AddrPortFrom(v4(192, 0, 2, r.IntN(5)), 443)
			switch r.IntN(8) {
			case 0: // an API reached from one address only
				local = v4(10, 0, 0, 1)
				api = netip.AddrPortFrom(v4(192, 0, 2, 200), 8443)
			case 1: // from one address in the first half of the table, another in the second
				local = v4(10, 0, 0, 1)
				if len(b.socks) >= n/2 {
					local = v4(10, 0, 0, 3)
				}
				api = netip.AddrPortFrom(v4(192, 0, 2, 201), 8443)
			case 2: // from one address, then from that one and another
				local = v4(10, 0, 0, 1)
				if len(b.socks) >= n/2 {
					local = v4(10, 0, 0, 1+2*(late%2))
					late++
				}
				api = netip.AddrPortFrom(v4(192, 0, 2, 202), 8443)
			}
			sk = b.add(source.TimeWait, netip.AddrPortFrom(local, port()).String(), api.String(), 0, nil, false)
			sk.Expires = uint32(r.IntN(60000))
		case k == 14: // outgoing IPv6 ESTABLISHED, a dozen workers
			o, inf := owner()
			sk = b.add(source.Established, netip.AddrPortFrom(v6(0, 1), port()).String(), netip.AddrPortFrom(v6(2, r.IntN(40)), 5432).String(), uint32(1000+i), o, inf)
		case k == 15: // a leaking CLOSE_WAIT pool
			sk = b.add(source.CloseWait, netip.AddrPortFrom(v4(127, 0, 0, 1), port()).String(), "127.0.0.1:6379", uint32(1000+i), []int32{30}, false)
		case k == 16: // FIN_WAIT2 to clients of :8080
			sk = b.add(source.FinWait2, "10.0.0.1:8080", netip.AddrPortFrom(v4(10, 4, r.IntN(4), r.IntN(256)), port()).String(), uint32(1000+i), []int32{30}, false)
		case k >= 20: // a destination holding a third of the ports (hot)
			o, inf := owner()
			sk = b.add(source.Established, netip.AddrPortFrom(v4(10, 0, 0, 1), port()).String(), "192.0.2.9:443", uint32(1000+i), o, inf)
		default: // outgoing to thousands of destinations
			o, inf := owner()
			st := source.Established
			if r.IntN(5) == 0 {
				st = source.SynSent
			}
			sk = b.add(st, netip.AddrPortFrom(v4(10, 0, 0, 1), port()).String(), netip.AddrPortFrom(v4(198, 51, r.IntN(100), r.IntN(256)), uint16(1+r.IntN(3))).String(), uint32(1000+i), o, inf)
		}
		sk.RecvQ, sk.SendQ = uint32(r.IntN(3)), uint32(r.IntN(3))
	}
	ps := map[int32]*source.Process{}
	for pid, p := range procs {
		ps[pid] = p
	}
	for _, pid := range workers {
		ps[pid] = &source.Process{PID: pid, Name: "nginx", Cmdline: "nginx: worker process", User: "www-data"}
	}
	ps[40] = &source.Process{PID: 40, Name: "envoy", User: "envoy"}
	return &source.Sample{
		Time: t0, Host: "web1", Netns: "default", Sockets: b.socks, Procs: ps,
		Attributed: true, Sysctl: sysctls(),
		Groups:   map[int32][]int32{100: {100, 101, 102}, 20: {20, 21}},
		Counters: map[string]int64{"ListenOverflows": 100, "ListenDrops": 120, "ActiveOpens": 10, "PassiveOpens": 20},
	}
}

// partialOf is the partial poll of the full dump w at time at: its
// ESTABLISHED sockets carried first, then the others.
func partialOf(w *source.Sample, at time.Time) *source.Sample {
	s := *w
	var est, rest []source.Socket
	for _, sk := range w.Sockets {
		if sk.State == source.Established {
			est = append(est, sk)
		} else {
			rest = append(rest, sk)
		}
	}
	s.Time, s.Carried, s.Sockets = at, est, rest
	s.Partial = &source.Partial{FullTime: w.Time, Established: len(est), Carried: len(est)}
	return &s
}

// withBuild runs f with the build made serial or parallel, on two Ps
// (the parallel path wants a second one).
func withBuild(t *testing.T, parallel bool, f func()) {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	defer func(m int) { parallelMin = m }(parallelMin)
	parallelMin = 1 << 62
	if parallel {
		parallelMin = 1
	}
	if parallelBuild(1000) != parallel {
		t.Fatalf("parallelBuild(1000) = %v, want %v", !parallel, parallel)
	}
	f()
}

// sameSnapshots fails unless a and b (a serial and a parallel build of
// the same sample) are identical but for their timings, unexported
// state included but for their peerBase's meta (which carried tally of
// an incoming peer's it keeps follows the order of a map, serial builds
// too, and serves only outgoing peers' texts). It modifies a and b.
func sameSnapshots(t *testing.T, what string, a, b *Snapshot) {
	t.Helper()
	a.PollMS, b.PollMS = PollCost{}, PollCost{}
	for _, s := range []*Snapshot{a, b} {
		if s.peerBase != nil {
			pb := *s.peerBase
			pb.meta = nil
			s.peerBase = &pb
		}
	}
	if reflect.DeepEqual(a, b) {
		return
	}
	ja, _ := json.MarshalIndent(a, "", " ")
	jb, _ := json.MarshalIndent(b, "", " ")
	la, lb := strings.Split(string(ja), "\n"), strings.Split(string(jb), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			t.Fatalf("%s: the parallel build differs from the serial one at JSON line %d:\nserial:   %s\nparallel: %s", what, i+1, la[i], lb[i])
		}
	}
	t.Fatalf("%s: the parallel build differs from the serial one (JSON lines %d and %d; unexported state otherwise)", what, len(la), len(lb))
}

// TestParallelBuildIdentical builds a large varied sample serially and
// with its parts on several goroutines, plainly, filtered and sorted,
// and through an Analyzer over full and partial polls: every snapshot,
// findings included, must be the same, and the peers in comparePeers
// order.
func TestParallelBuildIdentical(t *testing.T) {
	w := variedSample(60000)
	tw, _ := ParseSortKey("-TIME_WAIT")
	est, _ := ParseSortKey("ESTABLISHED")
	f, err := ParseFilter("port:80")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opt  Options
	}{{"plain", Options{}}, {"sorted", Options{Sort: tw}}, {"sorted-up", Options{Sort: est}}, {"filtered", Options{Filter: f}}} {
		var serial, parallel *Snapshot
		withBuild(t, false, func() { serial = Build(w, nil, c.opt) })
		withBuild(t, true, func() { parallel = Build(w, nil, c.opt) })
		if len(serial.Peers) < 1000 || len(serial.Processes) < 10 {
			t.Fatalf("%s: %d peers, %d processes: the sample is too plain to tell", c.name, len(serial.Peers), len(serial.Processes))
		}
		for i := 1; i < len(serial.Peers); i++ {
			if comparePeers(c.opt.Sort, &serial.Peers[i-1], &serial.Peers[i]) >= 0 {
				t.Fatalf("%s: peers %d and %d out of comparePeers order: %+v, %+v", c.name, i-1, i, serial.Peers[i-1], serial.Peers[i])
			}
		}
		sameSnapshots(t, c.name, serial, parallel)
	}
	// A stream: a full dump, partial polls of it, the next full dump.
	polls := []*source.Sample{w, partialOf(w, t0.Add(time.Second)), partialOf(w, t0.Add(2*time.Second))}
	next := *w
	next.Time = t0.Add(3 * time.Second)
	polls = append(polls, &next, partialOf(&next, t0.Add(4*time.Second)))
	run := func(parallel bool) []*Snapshot {
		var out []*Snapshot
		withBuild(t, parallel, func() {
			a := NewAnalyzer(DefaultThresholds())
			for _, s := range polls {
				out = append(out, a.Next(s, Options{}))
			}
		})
		return out
	}
	serial, parallel := run(false), run(true)
	for i := range serial {
		sameSnapshots(t, "stream poll "+string(rune('0'+i)), serial[i], parallel[i])
	}
	if len(serial[0].Findings) == 0 || len(serial[0].History[0].destOwners) == 0 {
		t.Error("the stream's first poll has no findings or no hot destination: the sample is too plain to tell")
	}
}

// TestPeerShardsBalanced checks that remoteShard spreads the varied
// sample's peers evenly enough for the shards to share the work: a
// degenerate hash would leave a parallel build serial, still correct.
func TestPeerShardsBalanced(t *testing.T) {
	snap := Build(variedSample(20000), nil, Options{})
	var per [peerShards]int
	for i := range snap.Peers {
		per[remoteShard(snap.Peers[i].key.remote.Addr(), peerShards)]++
	}
	for i, n := range per {
		if n*peerShards < len(snap.Peers)*4/5 {
			t.Errorf("shard %d has %d of %d peers", i, n, len(snap.Peers))
		}
	}
}
