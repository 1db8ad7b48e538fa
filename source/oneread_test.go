package source_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// TestOneReadSameOwners: a one-shot reader (OneRead), which keeps no
// owners by cookie for a next read, gives every socket of its read the
// owners a monitor's reader gives it: with a file (ESTABLISHED,
// CLOSE_WAIT, the listener), inferred from the listener (a server-side
// TIME_WAIT), and none (an orphaned FIN_WAIT2 on an ephemeral port). A
// second read of the one-shot reader still works.
func TestOneReadSameOwners(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-oneread")
	cwPopulation(t, ns, 6, 3)
	// Server-side TIME_WAIT: the accepted end closes first, on a
	// listener of its own.
	conns := nstest.NewConns(t, ns)
	conns.Dial(2)
	for i := range 2 {
		conns.Held[2*i+1].Close()
		time.Sleep(20 * time.Millisecond)
		conns.Held[2*i].Close()
	}
	time.Sleep(100 * time.Millisecond)
	read := func(one bool) *source.Sample {
		k, err := source.Open(source.Options{Netns: name, Attribute: true, OneRead: one})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		s, err := k.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if one {
			if _, err := k.Read(t.Context()); err != nil {
				t.Fatalf("second read of a one-shot reader: %v", err)
			}
		}
		return s
	}
	type owners struct {
		state    source.State
		pids     []int32
		inferred bool
	}
	byCookie := func(s *source.Sample) map[uint64]owners {
		m := map[uint64]owners{}
		for _, sk := range s.All() {
			m[sk.Cookie] = owners{sk.State, sk.Owners, sk.OwnerInferred}
		}
		return m
	}
	monitor, oneShot := byCookie(read(false)), byCookie(read(true))
	kinds := map[string]int{}
	for c, want := range monitor {
		got, ok := oneShot[c]
		if !ok || got.state != want.state {
			continue // a socket that moved between the two reads
		}
		if !slices.Equal(got.pids, want.pids) || got.inferred != want.inferred {
			t.Errorf("%v socket %d: one-shot owners %v (inferred %v), monitor's %v (inferred %v)", want.state, c, got.pids, got.inferred, want.pids, want.inferred)
		}
		switch {
		case want.inferred:
			kinds["inferred"]++
		case want.pids != nil:
			kinds["file"]++
		default:
			kinds["none"]++
		}
	}
	if kinds["inferred"] < 2 || kinds["file"] < 10 || kinds["none"] < 3 {
		t.Errorf("the population: %v sockets by kind of owner, want at least 2 inferred, 10 with a file, 3 without owners", kinds)
	}
}
