package output

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcptop/tcptop/internal/fixture"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sample is the fixture poll the goldens are made from.
func sample() *source.Sample { return fixture.Sample() }

func TestWriteTextGolden(t *testing.T) {
	snap := model.NewAnalyzer(model.DefaultThresholds()).Next(sample(), model.Options{})
	snap.PollMS = model.PollCost{}
	var b bytes.Buffer
	if err := WriteText(&b, snap, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"sockets 9", "TIME_WAIT        5", "0.0.0.0:80", "129/128", "FULL", "backlog=somaxconn",
		"192.0.2.10:443", "first in 20.0s, all in 24.0s", "php-fpm[20]", "unknown",
		"FINDINGS 1", "WARNING   Accept queue full on 0.0.0.0:80 (129/128)", "net.ipv4.tcp_syn_retries",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("text output lacks %q", want)
		}
	}
	path := filepath.Join("..", "testdata", "golden", "text", "sample.txt")
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./output -update)", err)
	}
	if string(want) != got {
		t.Errorf("text output differs from %s (run go test ./output -update and review)", path)
	}
}

func BenchmarkWriteText(b *testing.B) {
	snap := model.Build(sample(), nil, model.Options{})
	b.ReportAllocs()
	for b.Loop() {
		WriteText(&bytes.Buffer{}, snap, TextOptions{})
	}
}

// --top bounds the listeners too, saying what it left out; findings a
// rule could not show are counted; as root, unreadable processes are
// named, not blamed on permission (issue 20 items 9, 11).
func TestTextCapsSaySo(t *testing.T) {
	s := sample()
	for i := range 12 {
		s.Sockets = append(s.Sockets, source.Socket{State: source.Listen, Local: netip.AddrPortFrom(netip.MustParseAddr("0.0.0.0"), uint16(9000+i)),
			Remote: netip.MustParseAddrPort("0.0.0.0:0"), SendQ: 128, Inode: uint32(100 + i), Owners: []int32{10}})
	}
	s.Unreadable, s.UnreadablePIDs, s.Privileged = 1, []int32{1}, true
	snap := model.Build(s, nil, model.Options{})
	snap.FindingsOmitted = map[string]int{model.RuleCloseWaitLeak: 3}
	snap.Findings = []model.Finding{{Rule: model.RuleCloseWaitLeak, Severity: model.Warning, Title: model.Plain("x"), Subject: model.Subject{Kind: model.SubjectHost}}}
	var b bytes.Buffer
	if err := WriteText(&b, snap, TextOptions{Top: 5}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"… 8 more (--top)", "+3 more close_wait_leak findings", "1 process unreadable (pid 1): their sockets count as unknown"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "without root") {
		t.Errorf("says 'without root' as root:\n%s", out)
	}
}
