package record

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

// partialSeq makes the samples of the monitor's dump schedule (issue 18,
// source.Kernel.ReadPartial) at a large population: a full dump every
// fullEvery polls; between them, partial polls whose first Carried
// sockets are a fresh copy of the last full dump's ESTABLISHED ones (same
// values, same order), then that poll's dump of every other state:
// listeners, CLOSE_WAIT with tcp_info (LastAckRecv advancing each poll,
// so their info changes every poll), TIME_WAIT running down and churning.
type partialSeq struct {
	rng       *rand.Rand
	t         time.Time
	cookie    uint64
	inode     uint32
	est       []source.Socket // ESTABLISHED now
	cw        []source.Socket // CLOSE_WAIT now (Info shared between polls: copied when it changes)
	tw        []source.Socket // TIME_WAIT now
	lst       []source.Socket
	twN       int
	churn     int       // connections closed and opened a poll
	owners    [][]int32 // shared owner slices, as the attribution hands them out
	fullEvery int
	poll      int
	full      []source.Socket // the last full dump's ESTABLISHED sockets, in its order
	fullTime  time.Time
}

func newPartialSeq(est, cw, tw int, seed uint64) *partialSeq {
	q := &partialSeq{rng: rand.New(rand.NewPCG(seed, 7)), t: time.Unix(1_780_000_000, 0), cookie: 5000, inode: 90000, fullEvery: 10, churn: tw / 60}
	for pid := int32(100); pid < 120; pid++ {
		q.owners = append(q.owners, []int32{pid})
	}
	for _, p := range []uint16{80, 443, 9000} {
		q.lst = append(q.lst, q.sock(source.Listen, netip.AddrPortFrom(netip.IPv4Unspecified(), p), netip.AddrPortFrom(netip.IPv4Unspecified(), 0)))
	}
	for range est {
		q.est = append(q.est, q.conn())
	}
	for range cw {
		sk := q.conn()
		sk.State = source.CloseWait
		sk.Timer, sk.Expires = 0, 0
		sk.Info = &source.TCPInfo{Len: int(source.InfoTotalRTO), State: uint8(source.CloseWait), RTO: 204000, ATO: 40000,
			SndMSS: 1448, RcvMSS: 536, RTT: 1200 + uint32(q.rng.IntN(5000)), RTTVar: 300, SndCwnd: 10, AdvMSS: 1448,
			LastAckRecv: uint32(q.rng.IntN(600_000)), LastDataRecv: 9000, PMTU: 1500, RcvSsthresh: 64076,
			BytesAcked: uint64(q.rng.IntN(1 << 20)), BytesReceived: uint64(q.rng.IntN(1 << 16)), SegsIn: 12, SegsOut: 14}
		q.cw = append(q.cw, sk)
	}
	for i := range tw {
		sk := q.timeWait()
		sk.Expires = uint32(1 + 60_000*i/tw) // spread over the minute
		q.tw = append(q.tw, sk)
	}
	q.twN = tw
	return q
}

func (q *partialSeq) sock(st source.State, l, r netip.AddrPort) source.Socket {
	q.cookie += 1 + uint64(q.rng.IntN(3))
	q.inode += 1 + uint32(q.rng.IntN(2))
	return source.Socket{Family: 2, State: st, Local: l, Remote: r, Cookie: q.cookie, Inode: q.inode, UID: 33,
		Owners: q.owners[q.rng.IntN(len(q.owners))]}
}

func (q *partialSeq) conn() source.Socket {
	i := q.rng.IntN(1 << 20)
	remote := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1024+q.rng.IntN(60000)))
	local := netip.AddrPortFrom(netip.MustParseAddr("10.9.0.5"), 443)
	if i%10 == 0 {
		local = netip.AddrPortFrom(local.Addr(), uint16(32768+q.rng.IntN(28000)))
		remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 5)}), 443)
	}
	sk := q.sock(source.Established, local, remote)
	if i%2 == 0 { // half run keepalive timers
		sk.Timer, sk.Expires = 2, uint32(1000+q.rng.IntN(7_200_000))
	}
	return sk
}

func (q *partialSeq) timeWait() source.Socket {
	sk := q.conn()
	sk.State, sk.Timer, sk.Expires, sk.Inode, sk.Owners, sk.UID = source.TimeWait, 3, 60_000, 0, nil, 0
	return sk
}

// next advances one second and returns that poll's sample.
func (q *partialSeq) next() *source.Sample {
	q.poll++
	q.t = q.t.Add(time.Second)
	tw := q.tw[:0]
	for _, sk := range q.tw {
		if sk.Expires > 1000 {
			sk.Expires -= 1000
			tw = append(tw, sk)
		}
	}
	q.tw = tw
	for len(q.tw) < q.twN-q.churn {
		q.tw = append(q.tw, q.timeWait())
	}
	// Churn: connections close (to TIME_WAIT, or CLOSE_WAIT for a few
	// whose peer closed first; same cookie, so a carried ESTABLISHED
	// socket shows up again in the fresh part of a partial poll), as many
	// open, a few CLOSE_WAIT finally close.
	for k := range q.churn + q.churn/50 {
		i := q.rng.IntN(len(q.est))
		sk := q.est[i]
		q.est[i] = q.est[len(q.est)-1]
		q.est = q.est[:len(q.est)-1]
		if k < q.churn {
			sk.State, sk.Timer, sk.Expires, sk.Inode, sk.Owners, sk.UID = source.TimeWait, 3, 60_000, 0, nil, 0
			q.tw = append(q.tw, sk)
		} else {
			sk.State, sk.Timer, sk.Expires = source.CloseWait, 0, 0
			sk.Info = &source.TCPInfo{Len: int(source.InfoTotalRTO), State: uint8(source.CloseWait), RTO: 204000, SndMSS: 1448, RTT: 900, SndCwnd: 10}
			i := q.rng.IntN(len(q.cw))
			q.cw[i] = sk
		}
		q.est = append(q.est, q.conn())
	}
	for i := range q.est {
		if sk := &q.est[i]; sk.Timer == 2 {
			sk.Expires = max(sk.Expires, 2000) - 1000
		}
	}
	for i := range q.cw {
		in := *q.cw[i].Info
		in.LastAckRecv += 1000
		q.cw[i].Info = &in
	}
	s := &source.Sample{Time: q.t, Host: "web-1", Netns: "host", Attributed: true,
		Sockstat: source.Sockstat{InUse: int64(len(q.est) + len(q.cw)), TW: int64(len(q.tw))},
		Counters: map[string]int64{"CurrEstab": int64(len(q.est) + len(q.cw)), "ActiveOpens": int64(q.poll * 150)},
		Procs:    map[int32]*source.Process{},
		Took:     source.Timings{Dump: 30 * time.Millisecond, Total: 60 * time.Millisecond}}
	for _, o := range q.owners {
		s.Procs[o[0]] = &source.Process{PID: o[0], Name: "nginx", Cmdline: "nginx: worker process", User: "www-data", UID: 33, FDs: 5000, FDLimit: 65536}
	}
	other := make([]source.Socket, 0, len(q.lst)+len(q.cw)+len(q.tw))
	other = append(append(append(other, q.lst...), q.cw...), q.tw...)
	if q.full == nil || q.poll%q.fullEvery == 0 {
		// A full dump: ESTABLISHED sockets in the table's order among the
		// others (a little reshuffled since last time).
		for range len(q.est) / 200 {
			i, j := q.rng.IntN(len(q.est)), q.rng.IntN(len(q.est))
			q.est[i], q.est[j] = q.est[j], q.est[i]
		}
		q.full = slices.Clone(q.est) // shared by the partial samples until the next
		q.full = q.full[:len(q.full):len(q.full)]
		q.fullTime = q.t
		s.Sockets = append(append(make([]source.Socket, 0, len(q.est)+len(other)), q.est...), other...)
		return s
	}
	// As Kernel.ReadPartial makes them: the carried sockets shared,
	// the fresh ones the sample's own.
	s.Carried, s.Sockets = q.full, other
	s.Partial = &source.Partial{FullTime: q.fullTime, Established: len(q.est), Carried: len(q.full), Counting: source.EstabWithCloseWait}
	return s
}

// BenchmarkFlightPartial100k is the flight recorder's cost per poll of
// the monitor at 100k sockets on the dump schedule: 90k ESTABLISHED
// carried between full dumps (every 10 polls), 5,000 CLOSE_WAIT with
// tcp_info, 9,000 TIME_WAIT, 1 s polls. One op is one Flight.Add (chunk
// sealing and compression included); the samples are made outside the
// timer, and the collection of their garbage too.
func BenchmarkFlightPartial100k(b *testing.B) {
	q := newPartialSeq(90_000, 5_000, 9_000, 1)
	f := NewFlight(testHeader(), 0, 0)
	for range 120 { // two key periods: the steady state
		if err := f.Add(q.next()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		s := q.next()
		runtime.GC() // the generator's garbage is not the recorder's
		b.StartTimer()
		if err := f.Add(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.Bytes())/(1<<20), "MiB-kept")
}
