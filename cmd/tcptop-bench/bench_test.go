package main

import (
	"github.com/tcptop/tcptop/internal/sscount"

	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
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
	results, err := run(ctx, []string{"-sizes", "300,600", "-runs", "2", "-tanp-runs", "1", "-tcptop", "/bin/true", "-o", out}, &stdout, &stderr)
	for _, res := range results {
		checkCleanedUp(t, res)
	}
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("stderr:\n%s", stderr.String())
	if len(results) != 2 {
		t.Fatalf("%d results, want one per size", len(results))
	}
	for i, want := range []int{300, 600} {
		res := results[i]
		if total(res.expected) != want || total(res.before) != want {
			t.Errorf("sockets: holders announced %d, ss counted %d, want %d each", total(res.expected), total(res.before), want)
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
		if len(res.rows) != 6 {
			t.Fatalf("%d rows, want 6", len(res.rows))
		}
		for _, r := range res.rows {
			runs := 2
			if r.label == labelSSP {
				runs = 1
			}
			if r.runs != runs || r.wall <= 0 {
				t.Errorf("row %+v: want %d runs with a positive wall time", r, runs)
			}
			if r.label == labelProbe && r.user+r.sys <= 0 && r.wall <= 0 {
				t.Errorf("probe row %+v: no time measured", r)
			}
		}
	}
	md := stdout.String()
	for _, want := range []string{"# tcptop vs ss at 300 and 600 sockets", "### Ratios", "### Cost per socket", "### Targets (issue 5) at 600 sockets",
		"| command | runs | median wall ms | median user ms | median sys ms |", "| `ss -tanp` | 1 |", "| TIME_WAIT | ", "kernel: ",
		"## 300 sockets", "## 600 sockets", "tcptop-bench -sizes 300,600 -runs 2"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != md {
		t.Errorf("-o file: %v, same as stdout: %v", err, string(b) == md)
	}
}

// TestSizesFlags checks -sizes, -tui-sizes and -tanp-runs.
func TestSizesFlags(t *testing.T) {
	o, err := parseFlags([]string{"-sizes", "10k,50000,100000", "-tui", "60s"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.sizes, []int{10000, 50000, 100000}) || !slices.Equal(o.tuiSizes, []int{100000}) || o.tanpRuns != 5 {
		t.Errorf("sizes %v, tui sizes %v, tanp runs %d", o.sizes, o.tuiSizes, o.tanpRuns)
	}
	o, err = parseFlags([]string{"-sizes", "1000,3000", "-runs", "2"}, &bytes.Buffer{})
	if err != nil || !slices.Equal(o.tuiSizes, []int{3000}) || o.tanpRuns != 2 {
		t.Errorf("%+v, %v", o, err)
	}
	for _, bad := range [][]string{{"-sizes", "10,x"}, {"-sizes", "1000,1000"}, {"-sizes", "50"}, {"-sizes", "1000", "-tui-sizes", "2000"}, {"-tanp-runs", "-1"}} {
		if _, err := parseFlags(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// TestPlan checks the split adds up exactly and respects the per-process
// and per-destination limits.
func TestPlan(t *testing.T) {
	for _, m := range mixes {
		for _, n := range []int{100, 101, 600, 40000, 40001, 100000, 250000} {
			p := makePlanMix(n, m)
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

// checkCleanedUp fails when a size's namespace or holders outlived the run
// (and removes the namespace): whatever happened, nothing may be left.
func checkCleanedUp(t *testing.T, res *result) {
	t.Helper()
	list, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(list), res.netns) {
		t.Errorf("namespace %s still exists", res.netns)
		exec.Command("ip", "netns", "del", res.netns).Run()
	}
	for _, h := range append(res.holders, res.retired...) {
		select {
		case <-h.done:
		default:
			t.Errorf("holder %s still running", h.spec.name)
		}
	}
}
