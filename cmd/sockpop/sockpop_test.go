package main

import (
	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/internal/sscount"

	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

// sockpopBin builds the command once per test process.
func sockpopBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "sockpop-test-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "sockpop")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// requireNetns skips the test unless it can create network namespaces.
func requireNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (ip netns add)")
	}
	for _, tool := range []string{"ip", "ss"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %q (iproute2) in PATH: %v", tool, err)
		}
	}
}

// newNetns creates a private network namespace with lo up, deleted when the
// test ends (skipping the test when not root).
func newNetns(t *testing.T) string {
	t.Helper()
	name, _ := nstest.New(t, "sockpop-test")
	return name
}

// startSockpop runs sockpop in ns, waits for READY and returns its report.
// The process is stopped (stdin EOF) and must exit 0 when the test ends.
func startSockpop(t *testing.T, ns string, args ...string) *Report {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, sockpopBin(t)}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stdin.Close()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("sockpop did not exit within 15s of stdin EOF")
		}
	}
	type line struct {
		s   string
		err error
	}
	lines := make(chan line, 1)
	go func() {
		r := bufio.NewReader(stdout)
		s, err := r.ReadString('\n')
		lines <- line{s, err}
		io.Copy(io.Discard, r) // sockpop prints nothing else
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("sockpop %v: %v; stderr: %s", args, err, stderr.String())
		}
	})
	var l line
	select {
	case l = <-lines:
	case <-time.After(60 * time.Second):
		stop()
		t.Fatalf("sockpop %v: no READY within 60s; stderr: %s", args, stderr.String())
	}
	if l.err != nil || !strings.HasPrefix(l.s, "READY ") {
		stop()
		t.Fatalf("sockpop %v: first line %q (%v); stderr: %s", args, l.s, l.err, stderr.String())
	}
	var rep Report
	if err := json.Unmarshal([]byte(strings.TrimPrefix(l.s, "READY ")), &rep); err != nil {
		t.Fatalf("READY json: %v: %q", err, l.s)
	}
	return &rep
}

// ssLine is one socket line of ss output.
type ssLine struct {
	state        string // kernel spelling
	recvQ, sendQ int
	local, peer  string
}

// ss runs ss with flags in ns and parses its socket lines.
func ss(t *testing.T, ns string, flags string) []ssLine {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "ss", flags).Output()
	if err != nil {
		t.Fatalf("ss %s: %v", flags, err)
	}
	var lines []ssLine
	for i, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) == 0 {
			continue // header
		}
		if len(f) < 5 {
			t.Fatalf("ss %s: short line %q", flags, l)
		}
		st := sscount.State(f[0])
		rq, err1 := strconv.Atoi(f[1])
		sq, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("ss %s: bad queues in %q", flags, l)
		}
		lines = append(lines, ssLine{st, rq, sq, f[3], f[4]})
	}
	return lines
}

// port returns the port of an ss address such as 127.0.0.1:80 or [::1]:80.
func port(t *testing.T, addr string) int {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	p, err := strconv.Atoi(addr[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("bad ss address %q", addr)
	}
	return p
}

func TestPopulationMatchesSS(t *testing.T) {
	requireNetns(t)
	cases := []struct {
		name    string
		addr    string
		backlog int
		args    []string
	}{
		{"ipv4", "127.0.0.1", 5, []string{"-estab", "50", "-closewait", "20", "-timewait", "100", "-timewait-ports", "3", "-full-backlog", "5", "-full-clients", "12"}},
		{"ipv6", "::1", 5, []string{"-estab", "50", "-closewait", "20", "-timewait", "100", "-timewait-ports", "3", "-full-backlog", "5", "-full-clients", "12"}},
		{"other-loopback-fixed-ports", "127.3.4.5", 0, []string{"-port", "40000", "-estab", "7", "-timewait", "9", "-timewait-ports", "2", "-full-backlog", "0", "-full-clients", "3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNetns(t)
			start := time.Now()
			rep := startSockpop(t, ns, append([]string{"-addr", tc.addr}, tc.args...)...)
			t.Logf("READY after %v: %+v", time.Since(start).Round(time.Millisecond), rep.Sockets)
			if rep.Addr != tc.addr {
				t.Errorf("addr = %q, want %q", rep.Addr, tc.addr)
			}

			// Every state ss shows must be exactly what READY announced.
			lines := ss(t, ns, "-tan")
			got := map[string]int{}
			for _, l := range lines {
				got[l.state]++
			}
			states := map[string]bool{}
			for s := range got {
				states[s] = true
			}
			for s := range rep.Sockets {
				states[s] = true
			}
			for s := range states {
				if got[s] != rep.Sockets[s] {
					t.Errorf("%s: ss shows %d, READY says %d", s, got[s], rep.Sockets[s])
				}
			}
			if t.Failed() {
				t.Logf("ss -tan states: %v", got)
			}

			// TIME_WAIT sockets point at the timewait listeners, spread evenly.
			perPort := map[int]int{}
			for _, l := range lines {
				if l.state == "TIME_WAIT" {
					p := port(t, l.peer)
					if !slices.Contains(rep.TimeWaitPorts, p) {
						t.Errorf("TIME_WAIT socket to port %d, not one of %v", p, rep.TimeWaitPorts)
					}
					perPort[p]++
				}
				if l.state == "CLOSE_WAIT" && port(t, l.local) != rep.CloseWaitPort {
					t.Errorf("CLOSE_WAIT socket on %s, want port %d", l.local, rep.CloseWaitPort)
				}
			}
			for p, n := range perPort {
				if want := rep.Sockets["TIME_WAIT"] / len(rep.TimeWaitPorts); n < want || n > want+1 {
					t.Errorf("%d TIME_WAIT sockets to port %d, want %d or %d", n, p, want, want+1)
				}
			}

			// The full listener: Recv-Q = accept queue = B+1, Send-Q = B.
			if rep.FullBacklog == nil || *rep.FullBacklog != tc.backlog {
				t.Errorf("full_backlog = %v, want %d", rep.FullBacklog, tc.backlog)
			}
			found := false
			for _, l := range ss(t, ns, "-tln") {
				if port(t, l.local) != rep.FullPort {
					continue
				}
				found = true
				if l.recvQ != tc.backlog+1 || l.sendQ != tc.backlog {
					t.Errorf("full listener: Recv-Q %d Send-Q %d, want %d and %d", l.recvQ, l.sendQ, tc.backlog+1, tc.backlog)
				}
			}
			if !found {
				t.Errorf("full listener on port %d not in ss -tln", rep.FullPort)
			}
		})
	}
}

// runBin runs the binary directly (no sockets get opened: the arguments
// are refused before) and returns its exit code and stderr.
func runBin(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(sockpopBin(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdin = strings.NewReader("")
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stderr.String()
}

// hardNoFile returns the hard RLIMIT_NOFILE.
func hardNoFile(t *testing.T) int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max > 1<<30 {
		t.Skipf("hard RLIMIT_NOFILE %d too large to test the refusal", rl.Max)
	}
	return int(rl.Max)
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-nope"}, 2, "flag provided but not defined"},
		{[]string{"-estab", "-3"}, 2, "must not be negative"},
		{[]string{"-timewait-ports", "0"}, 2, "at least 1"},
		{[]string{"-addr", "not-an-ip"}, 2, "-addr"},
		// Half the hard fd limit in pairs needs more than the limit.
		{[]string{"-estab", strconv.Itoa(hardNoFile(t) / 2)}, 1, "split it over several sockpop processes"},
		{[]string{"-timewait", "60000"}, 1, "raise -timewait-ports to at least 3"},
	}
	for _, tc := range cases {
		code, stderr := runBin(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || !strings.HasPrefix(stderr, "sockpop: ") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("sockpop %v: exit %d, stderr %q; want exit %d and one line containing %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
