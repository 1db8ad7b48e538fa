package source_test

import (
	"context"
	"net"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// A partial read carries the full read's ESTABLISHED sockets, in their
// order, ahead of its own dump of the other states; each partial sample
// owns its slice (a later read never writes into an earlier sample,
// which a paused monitor or the previous snapshot may still read), and
// names the carried sockets' owners in Procs.
func TestReadPartialCarriesTheFullDump(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-partial")
	const pairs, closeWait = 20, 3
	cwPopulation(t, ns, pairs, closeWait)
	k, err := source.Open(source.Options{Netns: name, Attribute: true})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx := context.Background()
	full, err := k.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var est []source.Socket
	for _, sk := range full.Sockets {
		if sk.State == source.Established {
			est = append(est, sk)
		}
	}
	if len(est) != 2*pairs {
		t.Fatalf("full read: %d ESTABLISHED, want %d", len(est), 2*pairs)
	}
	fullCopy := slices.Clone(full.Sockets)
	me := int32(os.Getpid())
	var prev *source.Sample
	var prevCopy []source.Socket
	for poll := range 3 {
		s, err := k.ReadPartial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := s.Partial
		if p == nil || p.Carried != len(est) || !p.FullTime.Equal(full.Time) {
			t.Fatalf("poll %d: Partial %+v, want %d carried from %v", poll, p, len(est), full.Time)
		}
		if p.Established != 2*pairs {
			t.Errorf("poll %d: %d ESTABLISHED by the counter, want %d", poll, p.Established, 2*pairs)
		}
		if !reflect.DeepEqual(s.Carried, est) || s.NumSockets() != len(s.Carried)+len(s.Sockets) {
			t.Errorf("poll %d: the carried sockets are not the full read's ESTABLISHED ones", poll)
		}
		for i := range s.NumSockets() {
			var want *source.Socket
			if i < len(s.Carried) {
				want = &s.Carried[i]
			} else {
				want = &s.Sockets[i-len(s.Carried)]
			}
			if s.Socket(i) != want {
				t.Fatalf("poll %d: Socket(%d) is not the %dth of Carried, then Sockets", poll, i, i)
			}
		}
		cw, listen := 0, 0
		for _, sk := range s.Sockets {
			switch sk.State {
			case source.Established:
				t.Errorf("poll %d: ESTABLISHED %v dumped in a partial read", poll, sk.Local)
			case source.CloseWait:
				cw++
			case source.Listen:
				listen++
			}
		}
		if cw != closeWait || listen != 1 {
			t.Errorf("poll %d: %d CLOSE_WAIT and %d listeners dumped, want %d and 1", poll, cw, listen, closeWait)
		}
		for _, sk := range s.Carried {
			if !slices.Contains(sk.Owners, me) {
				t.Fatalf("poll %d: carried %v owned by %v, not by this test (%d)", poll, sk.Local, sk.Owners, me)
			}
		}
		if pr := s.Procs[me]; pr == nil {
			t.Errorf("poll %d: Procs has no entry for the carried sockets' owner %d", poll, me)
		}
		if prev != nil {
			// The carried part is shared, not copied; the dumped part is
			// each sample's own.
			if &prev.Carried[0] != &s.Carried[0] || cap(s.Carried) != len(s.Carried) {
				t.Errorf("poll %d: the carried sockets are not the previous sample's (shared, no room to append)", poll)
			}
			if &prev.Sockets[0] == &s.Sockets[0] {
				t.Errorf("poll %d: shares its dumped sockets with the previous sample", poll)
			}
			if !reflect.DeepEqual(prev.Flat(), prevCopy) {
				t.Errorf("poll %d: the previous sample's sockets changed", poll)
			}
		}
		prev, prevCopy = s, s.Flat()
	}
	if !reflect.DeepEqual(full.Sockets, fullCopy) {
		t.Errorf("the full sample's sockets changed under the partial reads")
	}
}

// BenchmarkReadPartial is a partial poll (the dump of every state but
// ESTABLISHED, with the last full dump's ESTABLISHED sockets carried in)
// at 16k ESTABLISHED, 2k TIME_WAIT sockets.
func BenchmarkReadPartial(b *testing.B) {
	ns, n := benchPopulation(b, 8000, 2000)
	name := ns.Label()
	k, err := source.Open(source.Options{Netns: name})
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	ctx := context.Background()
	if _, err := k.Read(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s, err := k.ReadPartial(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if s.NumSockets() < n-100 {
			b.Fatalf("%d sockets, want %d", s.NumSockets(), n)
		}
	}
}

// With no ESTABLISHED socket at the full read, a partial read carries
// none and is its own dump.
func TestReadPartialNothingCarried(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-partial0")
	var ln net.Listener
	t.Cleanup(func() {
		if ln != nil {
			ln.Close()
		}
	})
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	k, err := source.Open(source.Options{Netns: name})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx := context.Background()
	if _, err := k.Read(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := k.ReadPartial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Partial == nil || s.Partial.Carried != 0 || s.Partial.Established != 0 {
		t.Fatalf("Partial %+v, want nothing carried nor established", s.Partial)
	}
	if s.NumSockets() != 1 || s.Carried != nil || s.Sockets[0].State != source.Listen {
		t.Errorf("sockets %+v, want the one listener", s.Sockets)
	}
}
