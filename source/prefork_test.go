package source_test

import (
	"net"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// preforkPopulation builds a pre-fork server in a private namespace: a
// listener made by this process, then `workers` processes started after
// it that inherit its fd (fork after listen, as php-fpm, apache and
// gunicorn do), and tw server-side TIME_WAIT sockets on its port. It
// returns the namespace name and the listener's port; the workers are
// killed at cleanup (Kill stops them sooner).
func preforkPopulation(t testing.TB, workers, tw int) (name string, port uint16, kill func()) {
	t.Helper()
	name, ns := nstest.New(t, "tcptop-prefork")
	var ln *net.TCPListener
	err := ns.Do(func() error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ln = l.(*net.TCPListener)
		for range tw {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return err
			}
			s, err := ln.Accept()
			if err != nil {
				return err
			}
			s.Close() // the server closes first: TIME_WAIT on its side
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var procs []*exec.Cmd
	kill = func() {
		for _, c := range procs {
			c.Process.Kill()
			c.Wait()
		}
		procs = nil
	}
	t.Cleanup(kill)
	for range workers {
		c := exec.Command("sleep", "600")
		c.ExtraFiles = []*os.File{f}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, c)
	}
	return name, uint16(ln.Addr().(*net.TCPAddr).Port), kill
}

// TestPreforkInferredOwnersCountOnce: a listener shared by 300 worker
// processes gives its TIME_WAIT sockets ONE inferred owner, the oldest
// holder (here this test, which listened before the workers started), and
// the group of all 301 holders in Sample.Groups: every socket is counted
// once, not once per worker (issue 20 item 2: 1000 workers × 11k
// TIME_WAIT added up to 11.3 million and took 8.9 s).
func TestPreforkInferredOwnersCountOnce(t *testing.T) {
	const workers, tw = 300, 200
	name, port, _ := preforkPopulation(t, workers, tw)
	k, err := source.Open(source.Options{Netns: name, Attribute: true})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	me := int32(os.Getpid())
	var s *source.Sample
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s, err = k.Read(t.Context()); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, so := range s.Sockets {
			if so.State == source.TimeWait {
				n++
			}
		}
		if n == tw || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	nTW, nListen := 0, 0
	for _, so := range s.Sockets {
		switch so.State {
		case source.Listen:
			nListen++
			if len(so.Owners) != workers+1 || so.OwnerInferred {
				t.Errorf("listener: %d owners (inferred %v), want %d read", len(so.Owners), so.OwnerInferred, workers+1)
			}
		case source.TimeWait:
			nTW++
			if so.Local.Port() != port || !slices.Equal(so.Owners, []int32{me}) || !so.OwnerInferred {
				t.Fatalf("TIME_WAIT %v: owners %d %v (inferred %v), want [%d] inferred", so.Local, len(so.Owners), so.Owners[:min(3, len(so.Owners))], so.OwnerInferred, me)
			}
		}
	}
	if nTW != tw || nListen != 1 {
		t.Fatalf("%d TIME_WAIT and %d listeners, want %d and 1", nTW, nListen, tw)
	}
	if g := s.Groups[me]; len(g) != workers+1 || !slices.Contains(g, me) {
		t.Fatalf("group of %d: %d members, want %d", me, len(g), workers+1)
	}

	snap := model.Build(s, nil, model.Options{})
	sum := 0
	for _, r := range snap.Processes {
		sum += r.Total
		switch {
		case r.PID == me:
			if r.Group != workers+1 || r.States[source.TimeWait] != tw {
				t.Errorf("lead row: group %d, TIME_WAIT %d; want %d and %d", r.Group, r.States[source.TimeWait], workers+1, tw)
			}
		case r.Total != 1 || r.States[source.Listen] != 1 || r.Group != 0:
			t.Errorf("worker %d: %d sockets (group %d), want its one LISTEN", r.PID, r.Total, r.Group)
		}
	}
	// Each socket once, the listener once per holder.
	if want := len(s.Sockets) - 1 + workers + 1; sum != want {
		t.Errorf("process totals add up to %d, want %d", sum, want)
	}
	for _, p := range snap.Peers {
		if len(p.Processes) != 1 || p.Processes[0].PID != me || p.Processes[0].Group != workers+1 || !p.Processes[0].Inferred {
			t.Errorf("peer %s: processes %+v", p.Remote, p.Processes[:min(3, len(p.Processes))])
		}
	}
}
