package pipeline_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/churn"
	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/pipeline"
	"github.com/tcptop/tcptop/source"
)

// With the dump schedule every state count is exact at every poll, the
// ESTABLISHED one from the kernel's counter: equal to ss -tan when the
// population stands still, and under 1,000 connections/s of churn within
// what the churn did between two ss counts bracketing the poll.
func TestDumpScheduleCountsExact(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-sched")
	var keep []net.Conn
	var lns []net.Listener
	t.Cleanup(func() {
		for _, c := range keep {
			c.Close()
		}
		for _, l := range lns {
			l.Close()
		}
	})
	err := ns.Do(func() error {
		for _, network := range []string{"tcp4", "tcp6"} {
			addr := "127.0.0.1:0"
			if network == "tcp6" {
				addr = "[::1]:0"
			}
			l, err := net.Listen(network, addr)
			if err != nil {
				return err
			}
			lns = append(lns, l)
			for i := range 150 {
				c, err := net.Dial(network, l.Addr().String())
				if err != nil {
					return err
				}
				s, err := l.Accept()
				if err != nil {
					return err
				}
				keep = append(keep, s)
				if i%10 == 0 {
					c.Close() // s in CLOSE_WAIT, c in FIN_WAIT2
				} else {
					keep = append(keep, c)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	k, err := source.Open(source.Options{Netns: name})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	p := pipeline.New(pipeline.Config{Reader: k, FullEvery: time.Hour})
	ctx := context.Background()

	poll := func(i int, slack func() int) {
		t.Helper()
		before := nstest.SSCounts(t, name)
		snap, err := p.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		after := nstest.SSCounts(t, name)
		if i > 0 && snap.Carried == nil {
			t.Fatalf("poll %d: a full dump with FullEvery 1h", i)
		}
		d := slack()
		for _, st := range source.AllStates {
			b, a, got := before[st.String()], after[st.String()], snap.States.Get(st)
			lo, hi := min(a, b)-d, max(a, b)+d
			if got < lo || got > hi {
				t.Errorf("poll %d: %v %d, ss counted %d before and %d after (slack %d)", i, st, got, b, a, d)
			}
		}
	}
	for i := range 3 {
		poll(i, func() int { return 0 })
		time.Sleep(300 * time.Millisecond)
	}
	if k.Counting() == source.EstabUnknown {
		t.Errorf("the full dump with CLOSE_WAIT sockets did not tell what CurrEstab counts")
	}

	var c *churn.Churner
	if err := ns.Do(func() (err error) {
		c, err = churn.Start(ctx, churn.Config{Addr: "127.0.0.2", Rate: 1000, Listeners: 4, CloseFirst: churn.CloseMixed, Hold: 200 * time.Millisecond})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	time.Sleep(500 * time.Millisecond)
	for i := 3; i < 10; i++ {
		st0 := c.Stats()
		poll(i, func() int {
			st1 := c.Stats()
			// Each connection opened or closed meanwhile moves at most
			// two sockets of a state in or out.
			return 2 * int(st1.Opened-st0.Opened+st1.Closed-st0.Closed)
		})
		time.Sleep(200 * time.Millisecond)
	}
	if st := c.Stats(); st.Rate() < 500 {
		t.Logf("churn reached %.0f connections/s only", st.Rate())
	}
	// A filter asks for everything at every poll.
	p.SetOptions(model.Options{Filter: mustFilter(t, "port:1")})
	if snap, err := p.Next(ctx); err != nil || snap.Carried != nil {
		t.Errorf("with a filter the poll was partial (%v)", err)
	}
	p.SetOptions(model.Options{})
	p.SetDetail(true)
	if snap, err := p.Next(ctx); err != nil || snap.Carried != nil {
		t.Errorf("with detail wanted the poll was partial (%v)", err)
	}
}

func mustFilter(t *testing.T, s string) model.Filter {
	f, err := model.ParseFilter(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// With FullQuiet, the full dump waits past FullEvery while the kernel's
// counters show the ESTABLISHED sockets unchanged (the snapshot says so
// in Carried.Unchanged), and comes back at FullEvery from the first poll
// that sees a connection opened.
func TestDumpScheduleQuiet(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-quiet")
	conns := nstest.NewConns(t, ns)
	conns.Dial(20)
	k, err := source.Open(source.Options{Netns: name})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	const every = 400 * time.Millisecond
	p := pipeline.New(pipeline.Config{Reader: k, FullEvery: every, FullQuiet: time.Hour})
	ctx := context.Background()
	next := func() *model.Snapshot {
		t.Helper()
		snap, err := p.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	next() // the first poll is a full dump
	start := k.FullTime()
	for i := range 8 { // 1.6 s, four times FullEvery
		time.Sleep(every / 2)
		snap := next()
		if snap.Carried == nil || !snap.Carried.Unchanged {
			t.Fatalf("poll %d: a full dump or a change while nothing moved: carried %+v", i, snap.Carried)
		}
	}
	if !k.FullTime().Equal(start) {
		t.Fatalf("a full dump ran while the ESTABLISHED sockets were unchanged")
	}
	conns.Dial(1)
	time.Sleep(every / 2)
	if snap := next(); snap.Carried == nil || snap.Carried.Unchanged || snap.States.Get(source.Established) != 42 {
		t.Fatalf("the poll after a connect: carried %+v, %d ESTABLISHED; want a change seen and 42", snap.Carried, snap.States.Get(source.Established))
	}
	time.Sleep(every / 2)
	next() // due long since: the full dump
	if k.FullTime().Equal(start) {
		t.Fatalf("no full dump after the change, with FullEvery %v", every)
	}
	snap := next()
	if snap.Carried == nil || !snap.Carried.Unchanged || snap.Carried.Carried != 42 {
		t.Errorf("after the full dump: carried %+v, want the 42 unchanged", snap.Carried)
	}
}
