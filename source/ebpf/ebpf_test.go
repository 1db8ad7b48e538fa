package ebpf

import (
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// loadOrSkip loads the programs, skipping where this machine cannot.
func loadOrSkip(t *testing.T) *Tracer {
	t.Helper()
	if err := Check(Options{}); err != nil {
		t.Skip(err)
	}
	tr, err := Load(Options{ShareRead: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// serveClose accepts and closes each connection once its client has.
func serveClose(t *testing.T, ln net.Listener) {
	t.Helper()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
}

func findPeer(e *source.EBPF, dir source.EBPFDir, local, remote netip.AddrPort) *source.EBPFPeer {
	for i := range e.Peers {
		p := &e.Peers[i]
		if p.Dir == dir && p.Local == local && p.Remote == remote {
			return p
		}
	}
	return nil
}

// waitFor polls the tracer until ok or 5 s passed.
func waitFor(t *testing.T, tr *Tracer, ns *source.Namespace, ok func(*source.EBPF) bool) *source.EBPF {
	t.Helper()
	var e *source.EBPF
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		e = tr.Read(ns.ID.Inode)
		if !e.Loaded {
			t.Fatalf("not loaded: %s", e.Reason)
		}
		if ok(e) {
			return e
		}
	}
	return e
}

// TestOpensClosesAndProcess: every short connection this process makes in
// a private namespace is counted once, on both sides, with this process
// named as the one that connected, and with its lifetime.
func TestOpensClosesAndProcess(t *testing.T) {
	tr := loadOrSkip(t)
	_, ns := nstest.New(t, "tcptop-ebpf")
	const n = 300
	var ln net.Listener
	err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serveClose(t, ln)
	lap := ln.Addr().(*net.TCPAddr).AddrPort()
	err = ns.Do(func() error {
		for range n {
			c, err := net.Dial("tcp4", lap.String())
			if err != nil {
				return err
			}
			time.Sleep(time.Millisecond)
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	out := netip.AddrPortFrom(lo, 0)
	in := netip.AddrPortFrom(lo, 0)
	mine := func(e *source.EBPF) *source.EBPFProc {
		for j := range e.Procs {
			if e.Procs[j].PID == int32(os.Getpid()) && e.Procs[j].Remote == lap {
				return &e.Procs[j]
			}
		}
		return nil
	}
	// The program adds a close to the peer's counters, then to the
	// process's: a read may fall between the two, so wait for both.
	e := waitFor(t, tr, ns, func(e *source.EBPF) bool {
		o, i, me := findPeer(e, source.EBPFOut, out, lap), findPeer(e, source.EBPFIn, lap, in), mine(e)
		return o != nil && i != nil && o.Closes == n && i.Closes == n && me != nil && me.Closes == n
	})
	o, i := findPeer(e, source.EBPFOut, out, lap), findPeer(e, source.EBPFIn, lap, in)
	if o == nil || i == nil {
		t.Fatalf("peers missing: %+v", e.Peers)
	}
	if o.Opens != n || o.Closes != n || i.Opens != n || i.Closes != n {
		t.Errorf("out opens %d closes %d, in opens %d closes %d; want %d each", o.Opens, o.Closes, i.Opens, i.Closes, n)
	}
	var lived uint64
	for b := 10; b < source.LifeBuckets; b++ { // ≥ 512 µs: each lived ≥ 1 ms
		lived += o.Life[b]
	}
	if lived != n {
		t.Errorf("lifetimes ≥ 512 µs: %d of %d (%v)", lived, n, o.Life)
	}
	me := mine(e)
	if me == nil {
		t.Fatalf("no process entry for pid %d: %+v", os.Getpid(), e.Procs)
	}
	if me.Opens != n || me.Closes != n {
		t.Errorf("process opens %d closes %d, want %d", me.Opens, me.Closes, n)
	}
	st, err := os.ReadFile("/proc/self/stat")
	if err == nil && me.Start == 0 {
		t.Errorf("no start time (stat %s)", st)
	}
	if other := tr.Read(ns.ID.Inode + 1); len(other.Peers) != 0 {
		t.Errorf("another namespace's read sees %d peers", len(other.Peers))
	}
}
