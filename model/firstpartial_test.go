package model

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

// TestFirstPartialTakesOverFullPoll checks that the first partial poll
// after a full one takes over the full poll's work on the sockets it
// carries (their tallies, peer rows, and owners of hot destinations: the
// same objects, not made again), and that the result is still that of
// one full dump of the same sockets; and that a partial sample whose
// carried sockets are not the full dump's ESTABLISHED ones (not what
// ReadPartial makes) is found out by the Analyzer too and tallied whole.
func TestFirstPartialTakesOverFullPoll(t *testing.T) {
	all := carriedSockets()
	start := time.Unix(1_800_000_000, 0)
	sample := func(i int) *source.Sample { return emptyPoll(start, i) }
	partial := func(i int, full time.Time, carried []source.Socket) *source.Sample {
		s := sample(i)
		s.Sockets = append(slices.Clone(carried), freshSockets(2)...)
		s.Partial = &source.Partial{FullTime: full, Carried: len(carried), Established: len(carried)}
		return shareCarried(s)
	}
	// A full dump, its ESTABLISHED sockets between the others.
	f2 := sample(2)
	f2.Sockets = interleave(all, freshSockets(2))
	var estab []source.Socket
	for _, sk := range f2.Sockets {
		if sk.State == source.Established {
			estab = append(estab, sk)
		}
	}
	odd := slices.Clone(estab)
	odd[7].State = source.CloseWait
	hot := DefaultThresholds()
	hot.PortsWarn = 0.002
	polls := []*source.Sample{partial(1, start, all), f2, partial(3, f2.Time, estab), partial(4, f2.Time, estab)}
	oddPolls := []*source.Sample{partial(1, start, all), f2, partial(3, f2.Time, odd)}
	for _, th := range []Thresholds{DefaultThresholds(), hot} {
		for _, c := range []struct {
			name  string
			polls []*source.Sample
		}{{"carried", polls}, {"odd", oddPolls}} {
			incr, plain := NewAnalyzer(th), NewAnalyzer(th)
			var full *Snapshot
			var fullHot *hotCarried
			for i, s := range c.polls {
				name := fmt.Sprintf("%s PortsWarn %v poll %d", c.name, th.PortsWarn, i+1)
				got, want := incr.Next(s, Options{}), plain.Next(wholeOf(s), Options{})
				compareSnapshots(t, name, got, want)
				if !reflect.DeepEqual(got.Findings, want.Findings) {
					t.Errorf("%s: findings differ:\n%+v\n%+v", name, got.Findings, want.Findings)
				}
				for j, sk := range s.All() {
					ga, gk := got.SocketAge(sk)
					wa, wk := want.SocketAge(sk)
					if ga != wa || gk != wk {
						t.Errorf("%s: socket %d (%v): age %v %v, want %v %v", name, j, sk.State, ga, gk, wa, wk)
						break
					}
				}
				hotNow := len(got.History[len(got.History)-1].destOwners) > 0
				if th.PortsWarn < DefaultPortsWarn && !hotNow {
					t.Errorf("%s: no hot destination: the test checks too little of them", name)
				}
				switch {
				case s.Partial == nil:
					full, fullHot = got, incr.hot
					if full.carried == nil || !full.carried.spread {
						t.Fatalf("%s: the full poll did not tally its ESTABLISHED sockets apart", name)
					}
					if hotNow && (fullHot == nil || fullHot.ct != full.carried) {
						t.Errorf("%s: the full poll kept no carried owners of hot destinations", name)
					}
				case full != nil && c.name == "carried":
					if got.carried != full.carried || got.peerBase != full.peerBase {
						t.Errorf("%s: the carried sockets were tallied again after the full poll", name)
					}
					if hotNow && incr.hot != fullHot {
						t.Errorf("%s: the carried owners of hot destinations were walked again", name)
					}
				case full != nil:
					if got.carried == full.carried {
						t.Errorf("%s: tallies reused for carried sockets that are not all ESTABLISHED", name)
					}
				}
			}
		}
	}
}
