package output

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tcptop/tcptop/internal/fixture"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// twoPolls are the fixture's two polls (fixture.TwoPolls).
func twoPolls() []*source.Sample { return fixture.TwoPolls() }

// quietPolls are the polls without a full queue (fixture.QuietPolls).
func quietPolls() []*source.Sample { return fixture.QuietPolls() }

// lowAnalyzer has thresholds low enough for twoPolls to show four
// findings: the full accept queue (critical), php-fpm's CLOSE_WAIT
// (critical: its open files are near the limit), the ports to
// 192.0.2.10:443 and the SYN_SENT to 198.51.100.7:5432 (warnings).
func lowAnalyzer(t testing.TB) *model.Analyzer {
	t.Helper()
	th := model.DefaultThresholds()
	if err := th.Set("close-wait=1,close-wait-age=1,syn-sent=1,ports-warn=0.0001"); err != nil {
		t.Fatal(err)
	}
	return model.NewAnalyzer(th)
}

// secondPoll is the snapshot of the second of polls through a.
func secondPoll(a *model.Analyzer, polls []*source.Sample) *model.Snapshot {
	a.Next(polls[0], model.Options{})
	return a.Next(polls[1], model.Options{})
}

func TestWriteTextFindingsFirst(t *testing.T) {
	a := lowAnalyzer(t)
	ss := twoPolls()
	a.Next(ss[0], model.Options{})
	snap := a.Next(ss[1], model.Options{})
	var b bytes.Buffer
	if err := WriteText(&b, snap, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	fi, si := strings.Index(got, "\nFINDINGS 4\n"), strings.Index(got, "\nSTATE ")
	if fi < 0 || si < fi {
		t.Fatalf("findings should come first:\n%s", got)
	}
	for _, want := range []string{
		"  CRITICAL  Accept queue full on 0.0.0.0:80 (129/128)\n",
		"      about:  listener 0.0.0.0:80  (rule accept_queue_overflow)\n",
		"        why:  129 connections wait for accept()",
		"         do:  Raise net.core.somaxconn (now 128) AND restart",
		"              Check the process is alive",
		"  WARNING   Connects to 198.51.100.7:5432 failing",
	} {
		if !strings.Contains(got[fi:si], want) {
			t.Errorf("findings lack %q:\n%s", want, got[fi:si])
		}
	}
	// Quiet: one line says so. Built without an Analyzer: no section.
	a = model.NewAnalyzer(model.DefaultThresholds())
	b.Reset()
	WriteText(&b, a.Next(quietPolls()[1], model.Options{}), TextOptions{})
	if !strings.Contains(b.String(), "\nFINDINGS  no findings\n\nSTATE ") {
		t.Errorf("quiet text:\n%s", b.String())
	}
	b.Reset()
	WriteText(&b, model.Build(quietPolls()[1], nil, model.Options{}), TextOptions{})
	if strings.Contains(b.String(), "FINDINGS") {
		t.Errorf("a snapshot without an Analyzer has no findings section:\n%s", b.String())
	}
}
