package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestShortSoak runs the whole soak for 5 s and checks the report: a row
// per second, polls that succeed, goroutines that do not pile up, and the
// namespace gone afterwards.
func TestShortSoak(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	out := filepath.Join(t.TempDir(), "soak.md")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-duration", "5s", "-every", "1s", "-rate", "500",
		"-estab", "50", "-closewait", "10", "-timewait", "50", "-o", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("stderr:\n%s\nreport:\n%s", stderr.String(), stdout.String())
	file, err := os.ReadFile(out)
	if err != nil || string(file) != stdout.String() {
		t.Errorf("-o file differs from the printed table (%v)", err)
	}

	var goroutines []int
	for _, line := range strings.Split(stdout.String(), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 17 || strings.Contains(line, "---") || strings.Contains(line, "elapsed") {
			continue
		}
		g, err := strconv.Atoi(strings.TrimSpace(f[6]))
		if err != nil {
			t.Fatalf("row %q: goroutines column: %v", line, err)
		}
		goroutines = append(goroutines, g)
		if sockets, _ := strconv.Atoi(strings.TrimSpace(f[7])); sockets <= 0 {
			t.Errorf("row %q: no sockets shown", line)
		}
	}
	if len(goroutines) < 4 {
		t.Fatalf("%d rows, want at least 4", len(goroutines))
	}
	// Children's waiters come and go (at most churn.MaxChildren): allow
	// that much more, nothing that grows with time.
	if first, last := goroutines[0], goroutines[len(goroutines)-1]; last > first+10 {
		t.Errorf("goroutines grew from %d to %d", first, last)
	}

	ns := strings.TrimPrefix(strings.SplitN(stderr.String(), "\n", 2)[0], "namespace ")
	if !strings.HasPrefix(ns, "tcptop-soak-") {
		t.Fatalf("first stderr line %q does not name the namespace", ns)
	}
	list, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(list), ns) {
		t.Errorf("namespace %s left behind", ns)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-duration", "0"},
		{"-every", "2m", "-duration", "1m"},
		{"-rate", "-1"},
		{"-close", "both"},
		{"-estab", "-3"},
		{"extra"},
		{"-nosuchflag"},
	} {
		var stderr bytes.Buffer
		if err := run(context.Background(), args, &stderr, &stderr); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
