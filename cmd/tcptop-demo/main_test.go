package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/incidents"
)

func TestMain(m *testing.M) {
	incidents.RunChild() // the populations' processes are this test binary
	os.Exit(m.Run())
}

func runArgs(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{nil, 2, "tcptop-demo: no scenario (try: tcptop-demo list)\n"},
		{[]string{"nosuch"}, 2, `tcptop-demo: unknown scenario "nosuch" (one of: ` + strings.Join(incidents.Names(), ", ") + ")\n"},
		{[]string{"ephemeral", "prober"}, 2, "tcptop-demo: one scenario at a time (got ephemeral, prober)\n"},
		{[]string{"-duration", "0s", "idle"}, 2, "tcptop-demo: -duration 0s: want more than 0 and at most 1h\n"},
		{[]string{"idle", "-duration", "2h"}, 2, "tcptop-demo: -duration 2h0m0s: want more than 0 and at most 1h\n"},
		{[]string{"idle", "-duration", "soon"}, 2, `tcptop-demo: invalid value "soon" for flag -duration: parse error` + "\n"},
		{[]string{"-bogus", "idle"}, 2, "tcptop-demo: flag provided but not defined: -bogus\n"},
		{[]string{"-netns", "a/b", "idle"}, 2, `tcptop-demo: -netns "a/b": want a plain name (no '/' or spaces, at most 64 characters)` + "\n"},
	} {
		code, out, errs := runArgs(t, context.Background(), tc.args...)
		if code != tc.code || errs != tc.err || out != "" {
			t.Errorf("%q: code %d, stderr %q, stdout %q; want %d, %q, nothing", tc.args, code, errs, out, tc.code, tc.err)
		}
	}
}

func TestNotRoot(t *testing.T) {
	old := checkEnv
	checkEnv = func() error { return errors.New("needs root: it creates network namespaces") }
	defer func() { checkEnv = old }()
	code, out, errs := runArgs(t, context.Background(), "close-wait")
	want := "tcptop-demo: needs root: it creates network namespaces (run it with sudo)\n"
	if code != 1 || errs != want || out != "" {
		t.Errorf("code %d, stderr %q, stdout %q; want 1, %q", code, errs, out, want)
	}
}

func TestHelpAndList(t *testing.T) {
	code, out, errs := runArgs(t, context.Background(), "-h")
	if code != 0 || !strings.HasPrefix(out, "usage: tcptop-demo") || errs != "" {
		t.Errorf("-h: code %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = runArgs(t, context.Background(), "list")
	if code != 0 || errs != "" {
		t.Fatalf("list: code %d, stderr %q", code, errs)
	}
	for _, name := range incidents.Names() {
		if !strings.Contains(out, "\n"+name+" ") || !strings.Contains(out, "\n"+name+":\n  builds: ") {
			t.Errorf("list does not describe %s:\n%s", name, out)
		}
	}
}

// TestDemoRuns builds a real population, stops it with -duration and
// checks the namespace is gone.
func TestDemoRuns(t *testing.T) {
	if err := incidents.CheckEnv(); err != nil {
		t.Skip(err)
	}
	ns := "tcptop-demo-test-" + strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
	code, out, errs := runArgs(t, context.Background(), "close-wait", "-duration", "1s", "-netns", ns)
	if code != 0 || errs != "" {
		t.Fatalf("code %d, stderr %q, stdout:\n%s", code, errs, out)
	}
	for _, want := range []string{
		"tcptop-demo: close-wait stands in network namespace " + ns,
		"\n    tcptop --netns " + ns + "\n",
		"tcptop-demo: 1s passed, stopping close-wait\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if b, err := exec.Command("ip", "netns", "list").Output(); err != nil || strings.Contains(string(b), ns) {
		t.Errorf("namespace %s left behind (ip netns list: %v):\n%s", ns, err, b)
	}
}

// TestDemoInterrupted: Ctrl-C while it stands stops it cleanly.
func TestDemoInterrupted(t *testing.T) {
	if err := incidents.CheckEnv(); err != nil {
		t.Skip(err)
	}
	ns := "tcptop-demo-test-" + strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"idle", "-netns", ns}, &out, &errb) }()
	// Interrupt once it stands (its namespace exists and it said so), or
	// after a bound.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat("/var/run/netns/" + ns); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 && code != 1 {
			t.Errorf("code %d, stderr %q", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tcptop-demo did not stop after the interrupt")
	}
	if _, err := os.Stat("/var/run/netns/" + ns); err == nil {
		t.Errorf("namespace %s left behind", ns)
	}
}
