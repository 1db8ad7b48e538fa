package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/internal/sscount"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// bins builds tcptop and sockpop once into a directory every user can read,
// so the unprivileged test can run them too.
func bins(t *testing.T) (tcptop, sockpop string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "tcptop-e2e-")
		if buildErr != nil {
			return
		}
		os.Chmod(binDir, 0o755)
		for _, pkg := range []string{"tcptop", "sockpop"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, pkg), "../"+pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v: %s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "tcptop"), filepath.Join(binDir, "sockpop")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// ready is sockpop's READY line.
type ready struct {
	PID           int            `json:"pid"`
	Addr          string         `json:"addr"`
	CloseWaitPort int            `json:"closewait_port"`
	TimeWaitPorts []int          `json:"timewait_ports"`
	FullPort      int            `json:"full_port"`
	Sockets       map[string]int `json:"sockets"`
}

// startPop runs sockpop in the namespace and waits for READY.
func startPop(t *testing.T, ns string, args ...string) ready {
	t.Helper()
	_, sockpop := bins(t)
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, sockpop}, args...)...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, "READY ") {
			t.Fatalf("sockpop: %q, stderr: %s", line, stderr.String())
		}
		var r ready
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "READY ")), &r); err != nil {
			t.Fatal(err)
		}
		return r
	case <-time.After(30 * time.Second):
		t.Fatalf("sockpop not ready after 30s: %s", stderr.String())
	}
	return ready{}
}

// runTcptop runs the binary, behind a command prefix such as
// `ip netns exec NS` when prefix is not nil, and returns stdout, stderr and
// the exit code.
func runTcptop(t *testing.T, prefix []string, args ...string) (string, string, int) {
	t.Helper()
	bin, _ := bins(t)
	argv := append(append(append([]string{}, prefix...), bin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func decode(t *testing.T, s string) *model.Snapshot {
	t.Helper()
	var snap model.Snapshot
	if err := json.Unmarshal([]byte(s), &snap); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, s)
	}
	return &snap
}

func statesMap(c model.StateCounts) map[string]int {
	m := map[string]int{}
	for _, s := range source.AllStates {
		if c[s] > 0 {
			m[s.String()] = c[s]
		}
	}
	return m
}

// snapshotLikeSS takes a tcptop snapshot bracketed by two equal ss counts,
// retrying while the population still moves (bounded).
func snapshotLikeSS(t *testing.T, ns string, prefix []string, args ...string) (*model.Snapshot, map[string]int) {
	t.Helper()
	snap, got, _ := agreeWithSS(t, ns, prefix, args...)
	return snap, got
}

// agreeWithSS runs tcptop (JSON, one snapshot) until its state counts equal
// two equal `ss -tan` counts around it (at most 20 tries), and returns the
// snapshot, its counts and what it printed on stderr. Any exit status but
// 0 fails the test.
func agreeWithSS(t *testing.T, ns string, prefix []string, args ...string) (*model.Snapshot, map[string]int, string) {
	t.Helper()
	var last string
	for range 20 {
		before := nstest.SSCounts(t, ns)
		out, errs, code := runTcptop(t, prefix, args...)
		if code != 0 {
			t.Fatalf("tcptop %v: exit %d, stderr %q", args, code, errs)
		}
		after := nstest.SSCounts(t, ns)
		snap := decode(t, out)
		got := statesMap(snap.States)
		if sscount.Equal(before, after) && sscount.Equal(got, before) {
			return snap, got, errs
		}
		last = fmt.Sprintf("ss before %v, tcptop %v, ss after %v", before, got, after)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("tcptop %v never agreed with ss -tan: %s", args, last)
	return nil, nil, ""
}

func TestOnceJSONMatchesKernel(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "::1"} {
		t.Run(addr, func(t *testing.T) {
			bins(t)
			ns, _ := nstest.New(t, "tcptop-e2e")
			const estab, cw, tw = 15, 6, 40
			pop := startPop(t, ns, "-addr", addr, "-estab", fmt.Sprint(estab), "-closewait", fmt.Sprint(cw),
				"-timewait", fmt.Sprint(tw), "-full-backlog", "8", "-full-clients", "20")

			snap, got := snapshotLikeSS(t, ns, nil, "--once", "--json", "--netns", ns)
			if !sscount.Equal(got, pop.Sockets) {
				t.Errorf("tcptop states %v, sockpop built %v", got, pop.Sockets)
			}
			if snap.Netns != ns || snap.Total != sum(pop.Sockets) {
				t.Errorf("netns %q total %d", snap.Netns, snap.Total)
			}

			// The CLOSE_WAIT owner, by pid and name.
			var owner *model.ProcessRow
			for i := range snap.Processes {
				if snap.Processes[i].States[source.CloseWait] > 0 {
					owner = &snap.Processes[i]
				}
			}
			if owner == nil || owner.PID != int32(pop.PID) || owner.Name != "sockpop" || owner.States[source.CloseWait] != cw || owner.User != "root" {
				t.Errorf("CLOSE_WAIT owner %+v, want sockpop pid %d with %d", owner, pop.PID, cw)
			}
			// Sorted by CLOSE_WAIT, that peer (incoming to its listener) tops the list.
			snapCW, _ := snapshotLikeSS(t, ns, nil, "--once", "--json", "--netns", ns, "--sort", "CLOSE_WAIT")
			if p := snapCW.Peers[0]; p.States[source.CloseWait] != cw || p.Direction != "in" || !strings.HasSuffix(p.Local, fmt.Sprintf(":%d", pop.CloseWaitPort)) {
				t.Errorf("top peer by CLOSE_WAIT: %+v", p)
			}

			// The TIME_WAIT destination is the worst ephemeral destination.
			wantDest := fmt.Sprintf("%s:%d", addr, pop.TimeWaitPorts[0])
			if addr == "::1" {
				wantDest = fmt.Sprintf("[::1]:%d", pop.TimeWaitPorts[0])
			}
			d := snap.Ephemeral.Destinations
			if len(d) == 0 || d[0].Remote != wantDest || d[0].InUse != tw || d[0].TimeWait != tw || d[0].DrainMS == 0 || d[0].DrainMS > 60000 {
				t.Errorf("worst destination %+v, want %s with %d TIME_WAIT", d, wantDest, tw)
			}

			// The listener with backlog 8 that never accepts: 9/8, full.
			var full *model.Listener
			for i := range snap.Listeners {
				if strings.HasSuffix(snap.Listeners[i].Local, fmt.Sprintf(":%d", pop.FullPort)) {
					full = &snap.Listeners[i]
				}
			}
			if full == nil || full.Queue != 9 || full.Backlog != 8 || !full.Full || full.Fill <= 1 {
				t.Errorf("full listener %+v, want queue 9 backlog 8", full)
			}
			if full != nil && (len(full.Processes) != 1 || full.Processes[0].PID != int32(pop.PID)) {
				t.Errorf("full listener processes %+v", full.Processes)
			}

			// Without attribution: same counts, no processes.
			noProcs, _ := snapshotLikeSS(t, ns, nil, "--once", "--json", "--netns", ns, "--no-procs")
			if noProcs.Attributed || len(noProcs.Processes) != 0 {
				t.Errorf("--no-procs: attributed %v, %d processes", noProcs.Attributed, len(noProcs.Processes))
			}

			// A filter narrows the peers, not the totals.
			filtered, _ := snapshotLikeSS(t, ns, nil, "--once", "--json", "--netns", ns, "--filter", "state:TIME_WAIT")
			if len(filtered.Peers) != 1 || filtered.Peers[0].Total != tw || filtered.Total != snap.Total {
				t.Errorf("filter state:TIME_WAIT: %d peers, first %+v", len(filtered.Peers), filtered.Peers)
			}
		})
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// asNobody is the command prefix that runs tcptop as nobody; it skips the
// test without setpriv.
func asNobody(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	return []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
}

func TestUnprivileged(t *testing.T) {
	bins(t)
	ns, _ := nstest.New(t, "tcptop-nobody")
	const cw = 4
	pop := startPop(t, ns, "-closewait", fmt.Sprint(cw), "-estab", "3")
	nobody := append([]string{"ip", "netns", "exec", ns}, asNobody(t)...)
	snap, got := snapshotLikeSS(t, ns, nobody, "--once", "--json")
	if !sscount.Equal(got, pop.Sockets) {
		t.Errorf("as nobody: states %v, want %v", got, pop.Sockets)
	}
	if !snap.Attributed || snap.UnreadableProcesses == 0 {
		t.Errorf("as nobody: attributed %v, unreadable %d", snap.Attributed, snap.UnreadableProcesses)
	}
	for _, p := range snap.Processes {
		if p.PID == int32(pop.PID) {
			t.Errorf("nobody could attribute root's sockets to pid %d", p.PID)
		}
	}
	if len(snap.Processes) != 1 || snap.Processes[0].Name != model.UnknownName || snap.Processes[0].States[source.CloseWait] != cw {
		t.Errorf("as nobody, root's sockets should count as unknown: %+v", snap.Processes)
	}
	// And nothing on stderr, in text mode too.
	out, errs, code := runTcptop(t, nobody, "--once")
	if code != 0 || errs != "" || !strings.Contains(out, "unreadable without root") {
		t.Errorf("text as nobody: exit %d, stderr %q\n%s", code, errs, out)
	}
	// Entering a namespace needs privilege: a clear error, exit 2.
	_, errs, code = runTcptop(t, asNobody(t), "--once", "--netns", ns)
	if code != 2 || !strings.Contains(errs, "permission denied") || strings.Count(errs, "\n") != 1 {
		t.Errorf("--netns as nobody: exit %d, stderr %q", code, errs)
	}
}

func TestStreams(t *testing.T) {
	bins(t)
	ns, _ := nstest.New(t, "tcptop-stream")
	startPop(t, ns, "-estab", "2")
	// NDJSON: one document per interval, rates from the second on.
	out, errs, code := runTcptop(t, nil, "--json", "--netns", ns, "--interval", "200ms", "--count", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d NDJSON lines, want 3:\n%s", len(lines), out)
	}
	for i, l := range lines {
		snap := decode(t, l)
		if (snap.Rates != nil) != (i > 0) {
			t.Errorf("line %d: rates present = %v", i, snap.Rates != nil)
		}
		if snap.States[source.Established] != 4 {
			t.Errorf("line %d: %d ESTABLISHED, want 4", i, snap.States[source.Established])
		}
	}
	// Piped stdout without --once or --json: a text stream.
	out, _, code = runTcptop(t, nil, "--netns", ns, "--interval", "0.2", "--count", "2")
	if code != 0 || strings.Count(out, "tcptop - ") != 2 || !regexp.MustCompile(`(?m)^ESTABLISHED +4 +#+$`).MatchString(out) || strings.Contains(out, "warning") {
		t.Errorf("text stream: exit %d\n%s", code, out)
	}
}

func TestBadInput(t *testing.T) {
	bins(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--filter", "port:abc"}, `--filter: bad filter term "port:abc"`},
		{[]string{"--filter", "colour:red"}, `unknown key "colour:"`},
		{[]string{"--sort", "bogus"}, `--sort: unknown sort key "bogus"`},
		{[]string{"--netns", "tcptop-no-such-ns"}, `network namespace "tcptop-no-such-ns" not found`},
		{[]string{"--netns", "/etc/hostname"}, `not a namespace`},
		{[]string{"--interval", "0"}, `is too short`},
		{[]string{"--interval", "-1s"}, `is too short`},
		{[]string{"--interval", "soon"}, `is not a duration`},
		{[]string{"--count", "-1"}, `--count must be 0 or more`},
		{[]string{"--top", "0"}, `--top must be 1 or more`},
		{[]string{"--bogus"}, `flag provided but not defined: -bogus`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--theme", "neon"}, `--theme: unknown theme "neon" (want dark, light or mono)`},
		{[]string{"--sort", "--TIME_WAIT"}, `--sort: unknown sort key`},
		{[]string{"--threshold", "nope=1"}, `unknown threshold "nope"`},
		{[]string{"--threshold", "ports-warn=2"}, `want a share between 0 and 1`},
		{[]string{"--threshold", "close-wait"}, `want NAME=VALUE`},
		{[]string{"--check"}, `--check and --once exclude each other`},
	} {
		out, errs, code := runTcptop(t, nil, append([]string{"--once"}, c.args...)...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errs, "tcptop: ") || !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line containing %q", c.args, code, out, errs, c.want)
		}
	}
	out, _, code := runTcptop(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "--filter EXPR") || !strings.Contains(out, "--theme NAME") ||
		!strings.Contains(out, "--check") || !strings.Contains(out, "close-wait=10 ") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	out, _, code = runTcptop(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "tcptop ") {
		t.Errorf("--version: exit %d %q", code, out)
	}
}
