package source_test

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/churn"
	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// Churn for TestReadUnderChurn: paced connections held for churnHold (so
// that sockets with a file, owned by this process, vanish during a /proc
// scan) and `sleep` children holding one connection each for 50 ms (so that
// whole owner processes vanish during it).
const (
	churnRate     = 3000
	churnMinRate  = 2000 // what the test insists was achieved
	churnHold     = 20 * time.Millisecond
	churnProcRate = 40
	// Long enough to outlive a scan of /proc on a loaded machine: a child
	// must be alive from the scan's directory listing to the reading of
	// its fds (new pids come last). At 50 ms, reads under load saw none.
	churnProcHold = 500 * time.Millisecond
	churnReadFor  = 5 * time.Second
)

// TestReadUnderChurn reads a namespace where thousands of connections a
// second open and close, with attribution on while owner processes come
// and go, and checks every sample for consistency and against `ss -tan`
// run right before and right after it.
func TestReadUnderChurn(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-churn")
	var c *churn.Churner
	err := ns.Do(func() error {
		var err error
		c, err = churn.Start(context.Background(), churn.Config{
			Rate: churnRate, Listeners: 4, CloseFirst: churn.CloseMixed, Hold: churnHold,
			Processes: true, ProcRate: churnProcRate, ProcHold: churnProcHold,
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	k, err := source.Open(source.Options{Netns: name, Attribute: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	listenPorts := map[uint16]bool{}
	for _, p := range c.Ports() {
		listenPorts[uint16(p)] = true
	}

	var (
		prev                            *model.Snapshot
		reads, withChild, inferred      int
		maxDiff                         int
		maxShare                        float64
		minTotal, maxTotal, maxWindowMS = 1 << 30, 0, 0.0
	)
	ctx := context.Background()
	deadline := time.Now().Add(churnReadFor)
	for i := 0; time.Now().Before(deadline); i++ {
		t0 := time.Now()
		before := churnSSTotal(t, name)
		s := churnRead(t, ctx, k, i)
		after := churnSSTotal(t, name)
		window := time.Since(t0)
		reads++

		if !s.Attributed {
			t.Fatalf("read %d: not attributed (warnings %q)", i, s.Warnings)
		}
		for _, w := range s.Warnings {
			t.Errorf("read %d: warning %q", i, w)
		}
		churnCheckUnique(t, i, s.Sockets)
		snap := model.Build(s, prev, model.Options{})
		prev = snap
		churnCheckStates(t, i, snap, s.Sockets)
		child, inf := churnCheckOwners(t, i, s, listenPorts)
		if child {
			withChild++
		}
		inferred += inf

		// Bound on |tcptop - ss|. A dump is not atomic: it walks the
		// kernel's hash buckets one by one, each under its lock. Sockets
		// that exist, unchanged, through the whole window from the start
		// of the first ss to the end of the second are counted exactly
		// once by all three dumps. Only connections with an event inside
		// the window make them disagree, and one connection moves a count
		// by at most 3: its client side and its server side (request ->
		// accepted socket -> TIME_WAIT replace each other within one
		// bucket, so a walk sees at most one form of each) and one old
		// TIME_WAIT it may recycle (tcp_tw_reuse on loopback, or a SYN
		// hitting a server-side TIME_WAIT). No TIME_WAIT expires here:
		// the test is shorter than 60 s. Connections with an event in the
		// window: the paced ones opened in it (the pacer never exceeds
		// rate*W plus two 10 ms ticks of credit) or still held when it
		// began (rate*Hold), and the children's (ProcRate*W, plus at most
		// MaxChildren alive when it began). Slack: a dump that fills a
		// netlink message in the middle of a bucket resumes by position,
		// so that bucket can be seen twice (ss keeps both copies); allow
		// one per 100 sockets, and 16 more.
		w := window.Seconds()
		conns := churnRate*(w+churnHold.Seconds()) + 2*churnRate*0.01 + 4 +
			churnProcRate*w + 1 + churn.MaxChildren
		slack := 16 + len(s.Sockets)/100
		bound := int(3*conns) + slack
		total := len(s.Sockets)
		for _, ss := range []int{before, after} {
			d := churnAbs(total - ss)
			if d > bound {
				t.Errorf("read %d: tcptop %d sockets, ss %d (before %d, after %d): |diff| %d > bound %d (window %v)",
					i, total, ss, before, after, d, bound, window)
			}
			maxDiff = max(maxDiff, d)
			maxShare = max(maxShare, float64(d)/float64(bound))
		}
		minTotal, maxTotal = min(minTotal, total), max(maxTotal, total)
		maxWindowMS = max(maxWindowMS, float64(window.Microseconds())/1000)
		if t.Failed() {
			break
		}
	}
	c.Stop()
	st := c.Stats()
	t.Logf("churn: %d connections in %v = %.0f conn/s achieved (asked %d); %d children; %d errors, %d skipped",
		st.Opened, st.Elapsed.Round(time.Millisecond), st.Rate(), churnRate, st.Spawned, st.Errors, st.Skipped)
	t.Logf("%d reads, %d..%d sockets; max |tcptop - ss| %d (%.0f%% of its bound), longest window %.0f ms; %d reads saw a child-owned socket, %d inferred owners",
		reads, minTotal, maxTotal, maxDiff, 100*maxShare, maxWindowMS, withChild, inferred)
	if st.Rate() < churnMinRate {
		t.Errorf("churn achieved %.0f conn/s, want at least %d", st.Rate(), churnMinRate)
	}
	if st.Errors > 0 {
		t.Errorf("churn: %d errors, last %s", st.Errors, st.LastError)
	}
	if st.Spawned == 0 {
		t.Errorf("churn spawned no child process")
	}
	// Each round runs ss twice (100-600 ms under -race and a busy
	// machine); a handful of rounds is enough to mean something.
	if reads < 3 {
		t.Errorf("only %d reads in %v", reads, churnReadFor)
	}
	if withChild == 0 {
		t.Errorf("no read saw a socket owned by a churn child (spawned %d)", st.Spawned)
	}
}

// churnRead reads one sample, turning a panic into a test failure that
// names the read.
func churnRead(t *testing.T, ctx context.Context, k *source.Kernel, i int) (s *source.Sample) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("read %d panicked: %v", i, r)
		}
	}()
	s, err := k.Read(ctx)
	if err != nil {
		t.Fatalf("read %d: %v", i, err)
	}
	return s
}

// churnCheckUnique: no cookie twice (and none zero: dedupe relies on cookies
// being real), and no 4-tuple twice in one state.
func churnCheckUnique(t *testing.T, i int, socks []source.Socket) {
	t.Helper()
	type key struct {
		l, r  netip.AddrPort
		state source.State
	}
	cookies := make([]uint64, 0, len(socks))
	tuples := make(map[key]uint64, len(socks))
	for _, s := range socks {
		if s.Cookie == 0 {
			t.Errorf("read %d: socket %v -> %v %v has cookie 0", i, s.Local, s.Remote, s.State)
			continue
		}
		cookies = append(cookies, s.Cookie)
		// No SO_REUSEPORT in this namespace: not even listeners share a
		// tuple and state.
		k := key{s.Local, s.Remote, s.State}
		if c, dup := tuples[k]; dup {
			t.Errorf("read %d: %v -> %v %v twice (cookies %#x, %#x)", i, s.Local, s.Remote, s.State, c, s.Cookie)
		}
		tuples[k] = s.Cookie
	}
	slices.Sort(cookies)
	for j := 1; j < len(cookies); j++ {
		if cookies[j] == cookies[j-1] {
			t.Errorf("read %d: cookie %#x twice", i, cookies[j])
		}
	}
}

// churnCheckStates: every socket has a state tcptop knows, and the
// snapshot's histogram is non-negative and adds up to the sockets.
func churnCheckStates(t *testing.T, i int, snap *model.Snapshot, socks []source.Socket) {
	t.Helper()
	for _, s := range socks {
		if !slices.Contains(source.AllStates, s.State) {
			t.Errorf("read %d: socket %v -> %v in unknown state %d", i, s.Local, s.Remote, s.State)
		}
	}
	sum := 0
	for st, n := range snap.States {
		if n < 0 {
			t.Errorf("read %d: %v count %d", i, source.State(st), n)
		}
		sum += n
	}
	if sum != len(socks) || snap.Total != len(socks) {
		t.Errorf("read %d: states add up to %d, total %d, for %d sockets", i, sum, snap.Total, len(socks))
	}
}

// churnCheckOwners: every owner is described in Procs; owners of sockets with a
// file were read, those of sockets without one inferred; the churn's
// listeners belong to this process (and sometimes to a child as well). It reports whether a socket belonged
// to another process (a churn child), and how many owners were inferred.
func churnCheckOwners(t *testing.T, i int, s *source.Sample, listenPorts map[uint16]bool) (child bool, inferred int) {
	t.Helper()
	self := int32(os.Getpid())
	for _, sk := range s.Sockets {
		for _, pid := range sk.Owners {
			if p := s.Procs[pid]; p == nil || p.PID != pid {
				t.Errorf("read %d: %v -> %v %v owner %d not in Procs", i, sk.Local, sk.Remote, sk.State, pid)
			}
			if pid != self {
				child = true
			}
		}
		switch {
		case sk.OwnerInferred && sk.Inode != 0:
			t.Errorf("read %d: %v -> %v %v has inode %d but an inferred owner", i, sk.Local, sk.Remote, sk.State, sk.Inode)
		case sk.OwnerInferred:
			inferred++
		}
		// A child between fork and exec holds copies of all our fds
		// (CLOEXEC closes them only at exec), so it may co-own them.
		if sk.State == source.Listen && listenPorts[sk.Local.Port()] && !slices.Contains(sk.Owners, self) {
			t.Errorf("read %d: churn listener %v owned by %v, not by this process (%d)", i, sk.Local, sk.Owners, self)
		}
	}
	return child, inferred
}

// churnSSTotal counts the sockets `ss -tan` lists in the namespace.
func churnSSTotal(t *testing.T, name string) int {
	t.Helper()
	n := 0
	for _, c := range nstest.SSCounts(t, name) {
		n += c
	}
	return n
}

func churnAbs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
