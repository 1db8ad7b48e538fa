package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
)

// preforkBenchEnv runs TestPreforkBenchmark (heavy: 1000 processes, 10k
// TIME_WAIT); TCPTOP_BENCH_OLD may name an older tcptop binary to compare.
const preforkBenchEnv = "TCPTOP_BENCH_PREFORK"

// TestPreforkBenchmark is issue 20 item 2's acceptance run: 1000 workers
// sharing a listener with 10k server-side TIME_WAIT; --once timed against
// the same sockets held by one process, and a stream's RSS over 30 polls.
// Its figures are in docs/PERFORMANCE.md.
func TestPreforkBenchmark(t *testing.T) {
	if os.Getenv(preforkBenchEnv) == "" {
		t.Skip("set " + preforkBenchEnv + "=1 (1000 processes, 10k TIME_WAIT)")
	}
	bin, _ := bins(t)
	bins := map[string]string{"new": bin}
	if old := os.Getenv("TCPTOP_BENCH_OLD"); old != "" {
		bins["old"] = old
	}
	const workers, tw = 1000, 10_000
	// Two namespaces with the same sockets, built back to back (TIME_WAIT
	// lasts 60 s): in one the listener is shared by 1000 workers, in the
	// other held by this process alone.
	shared, single := preforkNS(t, "tcptop-pfshared", workers, tw), preforkNS(t, "tcptop-pfsingle", 0, tw)

	type result struct {
		best            time.Duration
		rss             int64
		size, timeWaits int
		pollMS          map[string]float64
	}
	once := func(bin, ns string) result {
		cmd := exec.Command(bin, "--once", "--json", "--netns", ns)
		var out strings.Builder
		cmd.Stdout = &out
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		r := result{best: time.Since(t0), rss: cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss >> 10, size: out.Len()}
		var snap struct {
			States map[string]int     `json:"states"`
			Poll   map[string]float64 `json:"poll_ms"`
		}
		json.Unmarshal([]byte(out.String()), &snap)
		r.timeWaits, r.pollMS = snap.States["TIME_WAIT"], snap.Poll
		return r
	}
	keys := make([]string, 0, len(bins))
	for k := range bins {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	res := map[string]result{}
	for range 3 { // alternate, so that both see the same machine
		for _, k := range keys {
			for _, ns := range []string{shared, single} {
				r := once(bins[k], ns)
				t.Logf("run: %s %s %v, %d TIME_WAIT, attribute %.0f ms", k, ns, r.best.Round(time.Millisecond), r.timeWaits, r.pollMS["attribute"])
				if b, ok := res[k+ns]; ok && b.best <= r.best {
					continue
				}
				res[k+ns] = r
			}
		}
	}
	for _, k := range keys {
		for _, ns := range []string{shared, single} {
			r := res[k+ns]
			t.Logf("%s %s: --once best of 3 %v (poll_ms %v), max RSS %d MiB, %d bytes of JSON, %d TIME_WAIT",
				k, ns, r.best.Round(time.Millisecond), r.pollMS, r.rss, r.size, r.timeWaits)
		}
	}
	if a, b := res["new"+shared].best, res["new"+single].best; a > 2*b {
		t.Errorf("with %d workers %v, with one %v: more than 2x", workers, a, b)
	}

	// The streams get a fresh population each (TIME_WAIT lasts 60 s).
	stream := func(bin string) []int {
		shared := preforkNS(t, "tcptop-pfstream", workers, tw)
		cmd := exec.Command(bin, "--json", "--interval", "500ms", "--count", "40", "--netns", shared)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var rss []int
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		stop := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() }) // the old binary took 9-22 s a poll
		defer stop.Stop()
		for {
			select {
			case <-done:
				return rss
			case <-time.After(2 * time.Second):
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
				for _, l := range strings.Split(string(b), "\n") {
					if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
						v, _ := strconv.Atoi(f[1])
						rss = append(rss, v>>10)
					}
				}
			}
		}
	}
	for _, k := range keys {
		t.Logf("%s: stream RSS (MiB) every 2 s over 40 polls (20 s) of a fresh shared listener (at most 30 s): %v", k, stream(bins[k]))
	}
}

// preforkNS builds a namespace with a listener of this process, tw
// server-side TIME_WAIT sockets on it and workers processes started after
// it that inherit it (killed at cleanup).
func preforkNS(t *testing.T, prefix string, workers, tw int) string {
	t0 := time.Now()
	name, ns := nstest.New(t, prefix)
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
			s.Close()
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f, _ := ln.File()
	defer f.Close()
	for range workers {
		// Workers drop root, as php-fpm's, apache's and nginx's do.
		c := exec.Command("sleep", "600")
		c.ExtraFiles = []*os.File{f}
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	}
	t.Logf("%s: %d workers, %d TIME_WAIT built in %v", name, workers, tw, time.Since(t0).Round(time.Millisecond))
	return name
}
