package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses, from a real kernel line
	// (fields 3 to 52).
	line := "4242 (tc) p (x)) S 17 4242 4242 34816 4242 4194304 1234 0 0 0 157 43 0 0 20 0 9 0 987654 1300000000 2345 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	st, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{state: 'S', ppid: 17, utime: 157, stime: 43, comm: "tc) p (x)", startTicks: 987654}
	if st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}
	if d := ticks(st.utime + st.stime); d != 2*time.Second {
		t.Errorf("200 ticks = %v", d)
	}
	for _, bad := range []string{"", "1 (x S 1", "1 (x) S 1 2 3", "1 (x) S notapid 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "1 (x) S 1 1 1 1 1 1 1 1 1 1 -5 1 1 1 1 1 1 1 1 1"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// The bench's own stat parses.
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip(err)
	}
	self, err := parseProcStat(b)
	if err != nil || self.ppid != os.Getppid() || self.utime+self.stime > 1e9 {
		t.Errorf("/proc/self/stat: %+v, %v (ppid %d)", self, err, os.Getppid())
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\ttcptop\nVmPeak:\t 1300000 kB\nVmHWM:\t   45678 kB\nVmRSS:\t   41000 kB\nThreads:\t9\nVmBad:\t12 pages\n"
	for _, c := range []struct {
		key  string
		want int64
		ok   bool
	}{{"VmRSS", 41000 * 1024, true}, {"VmHWM", 45678 * 1024, true}, {"VmSwap", 0, false}, {"Threads", 0, false}, {"VmBad", 0, false}, {"Vm", 0, false}} {
		got, ok := parseStatusKB([]byte(status), c.key)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %d %v, want %d %v", c.key, got, ok, c.want, c.ok)
		}
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ss := []procSample{
		{at: t0.Add(100 * time.Millisecond), user: 10 * time.Millisecond, sys: 0, rss: 10 << 20, hwm: 10 << 20},
		{at: t0.Add(1100 * time.Millisecond), user: 60 * time.Millisecond, sys: 50 * time.Millisecond, rss: 30 << 20, hwm: 30 << 20},
		{at: t0.Add(2100 * time.Millisecond), user: 110 * time.Millisecond, sys: 100 * time.Millisecond, rss: 20 << 20, hwm: 30 << 20},
		{at: t0.Add(4100 * time.Millisecond), user: 200 * time.Millisecond, sys: 200 * time.Millisecond, rss: 20 << 20, hwm: 32 << 20},
	}
	// Launched by the bench: all CPU since launch.
	r := summarizeTracked("x", "x", t0, ss)
	if r.window != 4100*time.Millisecond || r.user != 200*time.Millisecond || r.sys != 200*time.Millisecond {
		t.Errorf("launched: %+v", r)
	}
	if math.Abs(r.cpuShare()-0.4/4.1) > 1e-9 {
		t.Errorf("share %v", r.cpuShare())
	}
	if r.peakRSS != 30<<20 || r.hwm != 32<<20 {
		t.Errorf("rss %d hwm %d", r.peakRSS, r.hwm)
	}
	wantPer := []float64{0.1, 0.1, 0.095}
	if len(r.perSecond) != len(wantPer) {
		t.Fatalf("per second %v", r.perSecond)
	}
	for i, w := range wantPer {
		if math.Abs(r.perSecond[i]-w) > 1e-9 {
			t.Errorf("per second %v, want %v", r.perSecond, wantPer)
		}
	}
	// Already running: from the first sample.
	r = summarizeTracked("x", "x", time.Time{}, ss)
	if r.window != 4*time.Second || r.user+r.sys != 390*time.Millisecond {
		t.Errorf("running: %+v", r)
	}
	if m, x := medianMax(r.perSecond); math.Abs(m-0.1) > 1e-9 || math.Abs(x-0.1) > 1e-9 {
		t.Errorf("median %v max %v", m, x)
	}
	if m, x := medianMax([]float64{4, 1, 3, 2}); m != 2.5 || x != 4 {
		t.Errorf("even median %v max %v", m, x)
	}
	if r := summarizeTracked("x", "x", t0, nil); r.window != 0 || r.cpuShare() != 0 {
		t.Errorf("no samples: %+v", r)
	}

	runs := []sample{{user: 100 * time.Millisecond, sys: 50 * time.Millisecond}, {user: 90 * time.Millisecond, sys: 30 * time.Millisecond}}
	r = summarizeRuns("ss", "ss", runs, 5<<20, time.Second)
	if r.runs != 2 || r.window != 2*time.Second || math.Abs(r.cpuShare()-0.135) > 1e-9 || r.hwm != 5<<20 {
		t.Errorf("runs: %+v", r)
	}
}

func TestLiveFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-runs", "0"}, false},
		{[]string{"-runs", "0", "-tui", "3s"}, true},
		{[]string{"-runs", "-1", "-tui", "3s"}, false},
		{[]string{"-tui", "1s"}, false},
		{[]string{"-tui", "1s", "-tui-interval", "500ms"}, true},
		{[]string{"-tui", "3s", "-tui-interval", "50ms"}, false},
	} {
		_, err := parseFlags(c.args, &bytes.Buffer{})
		if (err == nil) != c.ok {
			t.Errorf("%v: %v", c.args, err)
		}
	}
}

func TestTUICommand(t *testing.T) {
	got := tuiCommand("/tmp/a b/tcptop", "ns-1", time.Second, "/tmp/e", "/tmp/s")
	want := `env -u LC_ALL -u LC_CTYPE -u NO_COLOR TERM=xterm-256color LANG=C.UTF-8 '/tmp/a b/tcptop' --netns ns-1 --interval 1s 2>/tmp/e; echo $? >/tmp/s`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestLiveEndToEnd runs -tui at a tiny size with the real tcptop: the
// monitor must start in tmux, draw, quit on q, and nothing may be left.
func TestLiveEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace (ip netns add)")
	}
	for _, tool := range []string{"ip", "ss", "go", "tmux"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s in PATH: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	results, err := run(ctx, []string{"-sockets", "2000", "-runs", "0", "-tui", "3s"}, &stdout, &stderr)
	t.Logf("took %v; stderr:\n%s", time.Since(start), stderr.String())
	var res *result
	if len(results) == 1 {
		res = results[0]
	}
	if res != nil {
		checkCleanedUp(t, res)
		if res.live != nil {
			if out, err := tmux(context.Background(), res.live.tmuxSocket, "list-sessions"); err == nil {
				t.Errorf("tmux server %s still running: %s", res.live.tmuxSocket, out)
				tmux(context.Background(), res.live.tmuxSocket, "kill-server")
			}
			if _, err := os.Stat(res.live.socketPath); res.live.socketPath == "" || err == nil {
				t.Errorf("tmux socket %q left behind (%v)", res.live.socketPath, err)
			}
		}
	}
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	lr := res.live
	if lr == nil || len(lr.rows) != 4 {
		t.Fatalf("live result %+v", lr)
	}
	if total(lr.before) != 2000 {
		t.Errorf("ss counted %d sockets before the window, want 2000", total(lr.before))
	}
	if lr.pane != fmt.Sprintf("%dx%d", tuiWidth, tuiHeight) {
		t.Errorf("pane %q", lr.pane)
	}
	for _, r := range lr.rows[:3] {
		if r.window < 2*time.Second || r.user+r.sys <= 0 || r.hwm <= 0 {
			t.Errorf("row %+v: want a window of ~3 s, some CPU time and a peak RSS", r)
		}
	}
	for _, r := range lr.rows[:2] {
		if len(r.perSecond) < 2 || r.peakRSS <= 0 {
			t.Errorf("%s: %d per-second samples, peak VmRSS %d", r.label, len(r.perSecond), r.peakRSS)
		}
	}
	// One ss a second; a loaded machine may start the last one a little
	// late or squeeze one more in.
	if r := lr.rows[2]; r.runs < 2 || r.runs > 4 {
		t.Errorf("ss ran %d times in 3 s, want about 3", r.runs)
	}
	// The monitor drew the namespace's sockets.
	if !strings.Contains(lr.screen, "2000") && !strings.Contains(lr.screen, "2,000") {
		t.Errorf("the screen does not show 2000 sockets:\n%s", lr.screen)
	}
	if n := len(strings.Split(lr.screen, "\n")); n < 10 || n > tuiHeight {
		t.Errorf("screen has %d lines", n)
	}
	md := stdout.String()
	for _, want := range []string{"## Live monitor at 1s refresh: 3s window", "| process | CPU % of one core |", "tcptop (TUI): `tcptop --netns ", "exited with status 0", "```text", "before the live window", "no rounds (-runs 0)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "median wall ms") {
		t.Errorf("-runs 0 report has a rounds table:\n%s", md)
	}
	t.Logf("report:\n%s", md)
}
