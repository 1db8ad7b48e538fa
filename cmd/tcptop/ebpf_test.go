package main

import (
	"strings"
	"testing"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// TestOpenTracerOnePoll: "auto" does not load the programs for a single
// poll and says why; "on" still tries (a missing BTF file makes it fail),
// and "off" keeps its own reason.
func TestOpenTracerOnePoll(t *testing.T) {
	tr, closeFn, err := openTracer(ebpfAuto, "/nonexistent/vmlinux", true)
	if err != nil {
		t.Fatal(err)
	}
	closeFn()
	if got, ok := tr.(source.NoTracer); !ok || string(got) != reasonOnePoll {
		t.Errorf("auto, one poll: tracer %#v, want NoTracer(%q)", tr, reasonOnePoll)
	}
	if _, _, err := openTracer(ebpfOn, "/nonexistent/vmlinux", true); err == nil || !strings.HasPrefix(err.Error(), "--ebpf on: ") {
		t.Errorf("on, one poll, no BTF: err %v, want the load's failure", err)
	}
	tr, _, err = openTracer(ebpfOff, "", true)
	if err != nil || tr != source.NoTracer("off (--ebpf off)") {
		t.Errorf("off, one poll: %#v, %v", tr, err)
	}
	// Several polls: auto tries, and here says why the load failed.
	tr, _, err = openTracer(ebpfAuto, "/nonexistent/vmlinux", false)
	if got, ok := tr.(source.NoTracer); err != nil || !ok || !strings.HasPrefix(string(got), "unavailable: ") {
		t.Errorf("auto, several polls, no BTF: %#v, %v; want unavailable", tr, err)
	}
}

// TestOncePollsWithoutEBPF: `--once --json` (auto) reports the programs
// not loaded, with the reason, in the document.
func TestOncePollsWithoutEBPF(t *testing.T) {
	name, _ := nstest.New(t, "tcptop-e2e-once-ebpf")
	for _, args := range [][]string{{"--once"}, {"--count", "1"}} {
		out, stderr, code := runTcptop(t, nil, append(args, "--json", "--no-procs", "--netns", name)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		snap := decode(t, strings.TrimSpace(out))
		if snap.EBPF == nil || snap.EBPF.Loaded || snap.EBPF.Reason != reasonOnePoll {
			t.Errorf("%v: ebpf %+v, want not loaded because %q", args, snap.EBPF, reasonOnePoll)
		}
	}
}
