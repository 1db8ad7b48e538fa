package main

import (
	"github.com/tcptop/tcptop/internal/sscount"

	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEndToEnd runs the whole harness at a tiny size so it cannot rot.
func TestEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace (ip netns add)")
	}
	for _, tool := range []string{"ip", "ss", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s in PATH: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := t.TempDir() + "/bench.md"
	var stdout, stderr bytes.Buffer
	res, err := run(ctx, []string{"-sockets", "600", "-runs", "2", "-tcptop", "/bin/true", "-o", out}, &stdout, &stderr)
	if res != nil {
		// Whatever happened, nothing may be left behind.
		list, _ := exec.Command("ip", "netns", "list").Output()
		if strings.Contains(string(list), res.netns) {
			t.Errorf("namespace %s still exists", res.netns)
			exec.Command("ip", "netns", "del", res.netns).Run()
		}
		for _, h := range res.holders {
			select {
			case <-h.done:
			default:
				t.Errorf("holder %s still running", h.spec.name)
			}
		}
	}
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("stderr:\n%s", stderr.String())

	if total(res.expected) != 600 || total(res.before) != 600 {
		t.Errorf("sockets: holders announced %d, ss counted %d, want 600 each", total(res.expected), total(res.before))
	}
	for s, n := range res.expected {
		if res.before[s] != n {
			t.Errorf("%s: ss counted %d, holders announced %d", s, res.before[s], n)
		}
	}
	for _, s := range []string{"ESTABLISHED", "TIME_WAIT", "CLOSE_WAIT", "FIN_WAIT2", "SYN_SENT", "LISTEN"} {
		if res.before[s] == 0 {
			t.Errorf("no %s sockets in the population", s)
		}
	}
	if len(res.rows) != 5 {
		t.Fatalf("%d rows, want 5", len(res.rows))
	}
	for _, r := range res.rows {
		if r.runs != 2 || r.wall <= 0 {
			t.Errorf("row %+v: want 2 runs with a positive wall time", r)
		}
	}
	md := stdout.String()
	for _, want := range []string{"| command | median wall ms | median user ms | median sys ms |", "| `ss -tanp` |", "| TIME_WAIT | ", "kernel: ", "tcptop-bench -sockets 600 -runs 2"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != md {
		t.Errorf("-o file: %v, same as stdout: %v", err, string(b) == md)
	}
}

// TestPlan checks the split adds up exactly and respects the per-process
// and per-destination limits.
func TestPlan(t *testing.T) {
	for _, n := range []int{100, 101, 600, 40000, 40001, 100000, 250000} {
		p := makePlan(n)
		sum := 0
		for _, h := range append(append([]holderSpec{}, p.phase1...), p.phase2...) {
			flags := map[string]int{}
			for i := 0; i+1 < len(h.args); i += 2 {
				if v, err := strconv.Atoi(h.args[i+1]); err == nil {
					flags[h.args[i]] = v
				}
			}
			if e := flags["-estab"]; e > 0 {
				sum += 2*e + 1
				if e > maxPairsPerHolder {
					t.Errorf("n=%d %s: %d pairs", n, h.name, e)
				}
			}
			if c := flags["-closewait"]; c > 0 {
				sum += 2*c + 1
				if c > maxCloseWaitPerHolder {
					t.Errorf("n=%d %s: %d CLOSE_WAIT", n, h.name, c)
				}
			}
			if tw := flags["-timewait"]; tw > 0 {
				k := flags["-timewait-ports"]
				sum += tw + k
				if (tw+k-1)/k > maxTimeWaitPerDest {
					t.Errorf("n=%d %s: %d TIME_WAIT over %d ports", n, h.name, tw, k)
				}
			}
			if c := flags["-full-clients"]; c > 0 {
				b := flags["-full-backlog"]
				sum += 1 + 2*(b+1) + c - b - 1
			}
		}
		if sum != n {
			t.Errorf("plan for %d sockets adds up to %d", n, sum)
		}
	}
}

func TestParseSSStates(t *testing.T) {
	out := `State     Recv-Q Send-Q Local Address:Port  Peer Address:Port Process
LISTEN    6      5          127.0.0.1:46247      0.0.0.0:*
ESTAB     0      0          127.0.0.1:1          127.0.0.1:2
ESTAB     0      0              [::1]:1              [::1]:2
TIME-WAIT 0      0          127.0.0.1:3          127.0.0.1:4
SYN-RECV  0      0          127.0.0.1:3          127.0.0.1:5
`
	got := sscount.States(out)
	want := map[string]int{"LISTEN": 1, "ESTABLISHED": 2, "TIME_WAIT": 1, "SYN_RECV": 1}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for s, n := range want {
		if got[s] != n {
			t.Errorf("%s: got %d, want %d", s, got[s], n)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := median([]time.Duration{5, 1, 3}); m != 3 {
		t.Errorf("odd median = %v", m)
	}
	if m := median([]time.Duration{4, 1, 3, 2}); m != 2 {
		t.Errorf("even median = %v (want (2+3)/2 = 2 in integer ns)", m)
	}
	if m := median(nil); m != 0 {
		t.Errorf("empty median = %v", m)
	}
}
