package model

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

// refAges is the first-seen bookkeeping as one map of every tracked
// socket walked at each poll: what the Analyzer's ages must equal,
// however it splits the carried ESTABLISHED sockets out.
type refAges struct {
	seen map[uint64]seenAt
	gen  uint32
	max  int
}

func (r *refAges) observe(s *source.Sample) ([]int64, bool) {
	r.gen++
	now := s.Time.UnixMilli()
	view := make([]int64, len(s.Sockets))
	truncated := false
	for i := range s.Sockets {
		sk := &s.Sockets[i]
		if !tracked(sk.State) || sk.Cookie == 0 {
			continue
		}
		e, ok := r.seen[sk.Cookie]
		if !ok {
			if len(r.seen) >= r.max {
				truncated = true
				continue
			}
			e.ms = now
		}
		e.gen = r.gen
		r.seen[sk.Cookie] = e
		view[i] = e.ms
	}
	for k, e := range r.seen {
		if e.gen != r.gen {
			delete(r.seen, k)
		}
	}
	return view, truncated
}

// TestAgesEqualOneMap runs samples laid out as the dump schedule makes
// them (a full dump every few polls, partial ones carrying its
// ESTABLISHED sockets in order) through an Analyzer, and the same
// sockets as whole samples through the one-map walk: every socket's
// first-seen time, the truncation and the count tracked must agree,
// with sockets opening, closing, leaving ESTABLISHED while carried,
// dumped twice in one dump, without a cookie, and with a bound that
// truncates.
func TestAgesEqualOneMap(t *testing.T) {
	for _, bound := range []int{MaxTracked, 400, 330, 40} {
		for _, every := range []int{1, 3, 10} {
			t.Run(fmt.Sprintf("bound%d-full%d", bound, every), func(t *testing.T) {
				testAgesEqualOneMap(t, bound, every)
			})
		}
	}
}

func testAgesEqualOneMap(t *testing.T, bound, every int) {
	rng := rand.New(rand.NewPCG(uint64(bound), uint64(every)))
	a := NewAnalyzer(DefaultThresholds())
	a.maxTracked = bound
	ref := &refAges{seen: map[uint64]seenAt{}, max: bound}
	next := uint64(1)
	var live []source.Socket // the machine's sockets now
	open := func(st source.State) {
		c := next
		next++
		if rng.IntN(40) == 0 {
			c = 0 // no cookie (an old kernel)
		}
		live = append(live, source.Socket{State: st, Cookie: c})
	}
	for range 300 {
		open(source.Established)
	}
	for range 30 {
		open(source.CloseWait)
	}
	start := time.Unix(1_800_000_000, 0)
	var full time.Time
	var carried []source.Socket
	truncations := 0
	for poll := range 40 {
		now := start.Add(time.Duration(poll) * time.Second)
		// Churn: some close, some open, some ESTABLISHED ones move on.
		kept := live[:0]
		for _, sk := range live {
			switch r := rng.IntN(100); {
			case r < 5:
				continue
			case r < 8 && sk.State == source.Established:
				sk.State = source.CloseWait
			case r < 10 && sk.State == source.CloseWait:
				sk.State = source.LastAck
			}
			kept = append(kept, sk)
		}
		live = kept
		for range rng.IntN(25) {
			open([]source.State{source.Established, source.Established, source.SynSent, source.TimeWait, source.CloseWait}[rng.IntN(5)])
		}
		s := &source.Sample{Time: now}
		if poll%every == 0 {
			s.Sockets = append([]source.Socket(nil), live...)
			if rng.IntN(3) == 0 && len(live) > 0 {
				// A socket moved during the dump: dumped twice.
				sk := live[rng.IntN(len(live))]
				sk.State = []source.State{source.Established, source.CloseWait}[rng.IntN(2)]
				s.Sockets = append(s.Sockets, sk)
			}
			full, carried = now, nil
			for _, sk := range s.Sockets {
				if sk.State == source.Established {
					carried = append(carried, sk)
				}
			}
		} else {
			s.Sockets = append([]source.Socket(nil), carried...)
			for _, sk := range live {
				if sk.State != source.Established {
					s.Sockets = append(s.Sockets, sk)
				}
			}
			s.Partial = &source.Partial{FullTime: full, Carried: len(carried), Established: len(carried)}
			if poll%2 == 0 {
				shareCarried(s)
			}
		}
		whole := *wholeOf(s)
		snap := a.Next(s, Options{})
		want, wantTrunc := ref.observe(&whole)
		if wantTrunc {
			truncations++
		}
		if len(snap.firstSeen) != s.NumSockets() || len(want) != s.NumSockets() {
			t.Fatalf("poll %d: %d ages, want %d", poll, len(snap.firstSeen), s.NumSockets())
		}
		for i, sk := range s.All() {
			if snap.firstSeen[i] != want[i] {
				t.Fatalf("poll %d: socket %d (%v, cookie %d): first seen %d, want %d", poll, i, sk.State, sk.Cookie, snap.firstSeen[i], want[i])
			}
		}
		if snap.AgesTruncated != wantTrunc {
			t.Fatalf("poll %d: truncated %v, want %v", poll, snap.AgesTruncated, wantTrunc)
		}
		if got := a.Tracked(); got != len(ref.seen) {
			t.Fatalf("poll %d: tracked %d, want %d", poll, got, len(ref.seen))
		}
	}
	if bound < 300 && truncations == 0 {
		t.Error("the bound never truncated: the test checks too little")
	}
}
