package output

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

func TestWriteCheck(t *testing.T) {
	// Four findings, two critical: the findings as --once prints them,
	// then the verdict.
	snap := secondPoll(lowAnalyzer(t), twoPolls())
	var b bytes.Buffer
	failed, err := WriteCheck(&b, snap)
	if err != nil || !failed || !CheckFailed(snap) {
		t.Fatalf("failed %v, %v", failed, err)
	}
	var text bytes.Buffer
	WriteFindings(&text, snap)
	want := text.String() + "CHECK FAILED web1: 4 findings at warning or worse\n"
	if b.String() != want || !strings.HasPrefix(want, "FINDINGS 4\n  CRITICAL  Accept queue full on 0.0.0.0:80") {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}

	// Quiet: no findings.
	quiet := secondPoll(model.NewAnalyzer(model.DefaultThresholds()), quietPolls())
	b.Reset()
	if failed, err := WriteCheck(&b, quiet); err != nil || failed {
		t.Errorf("quiet: failed %v, %v", failed, err)
	}
	if want := "FINDINGS  no findings\nOK web1: 10 sockets, no findings at warning or worse\n"; b.String() != want {
		t.Errorf("quiet:\n%q\nwant\n%q", b.String(), want)
	}

	// Informational findings alone do not fail a check.
	polls := quietPolls()
	for _, s := range polls {
		s.Sockets = append(s.Sockets, source.Socket{State: source.Listen, Local: netip.MustParseAddrPort("0.0.0.0:45000"),
			Remote: netip.MustParseAddrPort("0.0.0.0:0"), Inode: 60, Owners: []int32{10}})
	}
	info := secondPoll(model.NewAnalyzer(model.DefaultThresholds()), polls)
	if len(info.Findings) == 0 || model.Worst(info.Findings) != model.Info {
		t.Fatalf("fixture: want informational findings only, got %d (worst %v)", len(info.Findings), model.Worst(info.Findings))
	}
	b.Reset()
	if failed, err := WriteCheck(&b, info); err != nil || failed {
		t.Errorf("info only: failed %v, %v", failed, err)
	}
	if !strings.HasPrefix(b.String(), "FINDINGS 1\n  INFO") || !strings.HasSuffix(b.String(), "\nOK web1: 11 sockets, no findings at warning or worse\n") {
		t.Errorf("info only:\n%s", b.String())
	}

	// A failed write still gives the verdict.
	errFull := errors.New("no space left on device")
	if failed, err := WriteCheck(failingWriter{errFull}, snap); !failed || err != errFull {
		t.Errorf("failing writer: failed %v, %v", failed, err)
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }
