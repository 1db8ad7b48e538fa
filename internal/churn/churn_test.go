package churn_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/churn"
	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// start runs a churn inside ns and stops it when the test ends.
func start(t *testing.T, ns *source.Namespace, cfg churn.Config) *churn.Churner {
	t.Helper()
	var c *churn.Churner
	err := ns.Do(func() error {
		var err error
		c, err = churn.Start(context.Background(), cfg)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// timeWaitSides counts TIME_WAIT sockets whose local port is one of the
// listeners' (server side) or not (client side).
func timeWaitSides(t *testing.T, name string, ports []int) (server, client int) {
	t.Helper()
	out, err := exec.Command("ss", "-N", name, "-tanH", "state", "time-wait").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	listen := map[string]bool{}
	for _, p := range ports {
		listen[strconv.Itoa(p)] = true
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		local := f[len(f)-2]
		if listen[local[strings.LastIndexByte(local, ':')+1:]] {
			server++
		} else {
			client++
		}
	}
	return server, client
}

func TestCloseSides(t *testing.T) {
	for _, tc := range []struct {
		close                  churn.Close
		wantServer, wantClient bool
	}{
		{churn.CloseClient, false, true},
		{churn.CloseServer, true, false},
		{churn.CloseMixed, true, true},
	} {
		t.Run(tc.close.String(), func(t *testing.T) {
			name, ns := nstest.New(t, "churn")
			c := start(t, ns, churn.Config{Rate: 500, Listeners: 2, CloseFirst: tc.close})
			time.Sleep(400 * time.Millisecond)
			c.Stop()
			st := c.Stats()
			if st.Opened == 0 || st.Closed != st.Opened || st.Errors != 0 {
				t.Fatalf("stats %+v: want opened > 0, closed == opened, no errors", st)
			}
			server, client := timeWaitSides(t, name, c.Ports())
			t.Logf("%v: %d opened, TIME_WAIT server side %d, client side %d", tc.close, st.Opened, server, client)
			if (server > 0) != tc.wantServer || (client > 0) != tc.wantClient {
				t.Errorf("TIME_WAIT on server side %d, client side %d: want server %v, client %v",
					server, client, tc.wantServer, tc.wantClient)
			}
			// Nearly every connection leaves one TIME_WAIT socket (a
			// simultaneous close, rare, leaves two).
			if tw := uint64(server + client); tw < st.Opened*9/10 || tw > st.Opened*11/10 {
				t.Errorf("%d TIME_WAIT sockets for %d connections", tw, st.Opened)
			}
		})
	}
}

// TestRateCeiling checks that the pacing never exceeds the rate, and gets
// close to it when the machine keeps up.
func TestRateCeiling(t *testing.T) {
	_, ns := nstest.New(t, "churn")
	const rate = 2000
	c := start(t, ns, churn.Config{Rate: rate})
	time.Sleep(time.Second)
	c.Stop()
	st := c.Stats()
	t.Logf("achieved %.0f conn/s of %d (%+v)", st.Rate(), rate, st)
	// Credit is capped at two 10ms ticks per worker.
	if ceil := rate*st.Elapsed.Seconds() + 2*rate*0.01 + 4; float64(st.Opened) > ceil {
		t.Errorf("opened %d in %v: more than the ceiling %.0f", st.Opened, st.Elapsed, ceil)
	}
	if st.Rate() < rate/4 {
		t.Errorf("achieved %.0f conn/s of %d", st.Rate(), rate)
	}
}

func TestHoldAndProcesses(t *testing.T) {
	name, ns := nstest.New(t, "churn")
	c := start(t, ns, churn.Config{Rate: 1000, Hold: 200 * time.Millisecond, Processes: true, ProcRate: 50})
	time.Sleep(500 * time.Millisecond)
	counts := nstest.SSCounts(t, name)
	st := c.Stats()
	// ~200 ms worth of connections are held: two ESTABLISHED sockets each.
	if e := counts["ESTABLISHED"]; e < 100 {
		t.Errorf("%d ESTABLISHED while holding for 200ms at 1000/s (%+v)", e, st)
	}
	if st.Spawned == 0 {
		t.Errorf("no child spawned: %+v", st)
	}
	c.Stop()
	st = c.Stats()
	if st.Closed != st.Opened || st.Reaped != st.Spawned || st.Errors != 0 {
		t.Errorf("after Stop: %+v: want every connection closed, every child reaped, no errors", st)
	}
	after := nstest.SSCounts(t, name)
	if after["ESTABLISHED"] != 0 || after["LISTEN"] != 0 {
		t.Errorf("after Stop: %v still open", after)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []churn.Config{
		{Rate: 0},
		{Rate: churn.MaxRate + 1},
		{Rate: 10, Addr: "10.1.2.3"},
		{Rate: 10, Addr: "nonsense"},
		{Rate: 10, Listeners: churn.MaxListeners + 1},
		{Rate: 10, CloseFirst: churn.Close(7)},
		{Rate: 10, Hold: -time.Second},
	} {
		if c, err := churn.Start(context.Background(), cfg); err == nil {
			c.Stop()
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
	if _, err := churn.ParseClose("both"); err == nil {
		t.Error(`ParseClose("both") succeeded`)
	}
}
