package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/model"
)

// --check watches for as long as its rules need (close-wait-age, at least
// three polls), prints the findings and exits 1 on a warning; on a quiet
// namespace it prints OK and exits 0.
func TestCheck(t *testing.T) {
	bins(t)
	quiet, _ := nstest.New(t, "tcptop-checkok")
	// Listeners below the ephemeral range: no listener_in_ephemeral_range
	// info either.
	startPop(t, quiet, "-estab", "5", "-port", "7000")
	out, errs, code := runTcptop(t, nil, "--check", "--interval", "300ms", "--netns", quiet)
	if code != 0 || errs != "" || !strings.HasPrefix(out, "FINDINGS  no findings\nOK ") || !strings.Contains(out, "11 sockets, no findings") {
		t.Errorf("quiet namespace: exit %d, stdout %q, stderr %q; want exit 0 and OK", code, out, errs)
	}

	sick, _ := nstest.New(t, "tcptop-checkbad")
	pop := startPop(t, sick, "-closewait", "12", "-full-backlog", "4", "-full-clients", "8", "-port", "7000")
	out, errs, code = runTcptop(t, nil, "--check", "--interval", "300ms", "--netns", sick)
	if code != exitFailure || errs != "" {
		t.Errorf("sick namespace: exit %d, stderr %q; want exit 1 and nothing on stderr", code, errs)
	}
	for _, want := range []string{
		fmt.Sprintf("WARNING   CLOSE_WAIT leak: sockpop[%d] holds 12 sockets", pop.PID),
		fmt.Sprintf("about:  process sockpop[%d]  (rule close_wait_leak)", pop.PID),
		"12 of them have been in CLOSE_WAIT for 5.0 s or more",
		// WARNING (full for three polls), or CRITICAL when the clients'
		// SYN retries overflow it while it is full.
		"  Accept queue full on 127.0.0.1:7001 (5/4)",
		"(rule accept_queue_overflow)",
		"do:  ",
		"CHECK FAILED ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--check output lacks %q:\n%s", want, out)
		}
	}

	// --json: the second snapshot, findings included; same exit status.
	out, _, code = runTcptop(t, nil, "--check", "--json", "--interval", "300ms", "--netns", sick, "--threshold", "close-wait-age=1")
	snap := decode(t, out)
	if code != exitFailure || model.Worst(snap.Findings) < model.Warning {
		t.Fatalf("--check --json: exit %d, findings %+v", code, snap.Findings)
	}
	found := false
	for _, f := range snap.Findings {
		if f.Rule == model.RuleCloseWaitLeak && f.Subject.Kind == model.SubjectProcess && f.Subject.PID == int32(pop.PID) && f.Subject.Name == "sockpop" {
			found = true
		}
	}
	if !found {
		t.Errorf("no close_wait_leak finding on sockpop[%d]: %+v", pop.PID, snap.Findings)
	}
	if snap.Interval == 0 && snap.Rates == nil {
		t.Errorf("the snapshot has no rates: --check must take several")
	}

	// Thresholds are tunable: with close-wait=13 the 12 sockets pass.
	out, _, _ = runTcptop(t, nil, "--check", "--interval", "300ms", "--netns", sick, "--threshold", "close-wait=13,close-wait-age=1")
	if strings.Contains(out, "close_wait_leak") {
		t.Errorf("--threshold close-wait=13 still reports 12 CLOSE_WAIT:\n%s", out)
	}
}
