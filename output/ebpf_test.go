package output

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// ebpfSnapshot is the second of two polls of sample() with eBPF counts
// (50 short connections a second to 192.0.2.10:443 by php-fpm, timed-out
// connects to 198.51.100.7:5432, a listener overflow) and the listener's
// own drops (10 a second).
func ebpfSnapshot(t *testing.T, lost source.EBPFLost) *model.Snapshot {
	t.Helper()
	a := model.NewAnalyzer(model.DefaultThresholds())
	var snap *model.Snapshot
	for k := range uint64(2) {
		s := sample()
		s.Time = s.Time.Add(time.Duration(k) * time.Second)
		s.Sockets[0].Cookie, s.Sockets[0].Drops, s.Sockets[0].DropsKnown = 7, uint32(100+10*k), true
		web := source.EBPFPeer{Dir: source.EBPFOut, Local: netip.MustParseAddrPort("10.0.0.1:0"),
			Remote: netip.MustParseAddrPort("192.0.2.10:443"), Born: 1,
			EBPFCounts: source.EBPFCounts{Opens: 100 + 50*k, Closes: 95 + 50*k, Retrans: 3 * k}}
		web.Life[11] = 95 + 50*k
		db := source.EBPFPeer{Dir: source.EBPFOut, Local: netip.MustParseAddrPort("10.0.0.1:0"),
			Remote: netip.MustParseAddrPort("198.51.100.7:5432"), Born: 1,
			EBPFCounts: source.EBPFCounts{TimedOut: 2 + k, Refused: 1, Retrans: 4 + 2*k}}
		lis := source.EBPFPeer{Dir: source.EBPFListen, Local: netip.MustParseAddrPort("0.0.0.0:80"), Born: 1,
			EBPFCounts: source.EBPFCounts{Overflows: 20 + 10*k, Retrans: 5}}
		s.EBPF = &source.EBPF{Loaded: true, Since: s.Time.Add(-time.Duration(k)*time.Second - time.Minute), Now: 1_000_000_000 * (k + 1),
			Peers: []source.EBPFPeer{web, db, lis},
			Procs: []source.EBPFProc{{PID: 20, Start: 5, Comm: "php-fpm", Local: netip.MustParseAddr("10.0.0.1"),
				Remote: netip.MustParseAddrPort("192.0.2.10:443"), Born: 1, Opens: 100 + 50*k, Closes: 95 + 50*k,
				LifeSum: time.Duration(95+50*k) * 2 * time.Millisecond}},
		}
		if k == 1 {
			s.EBPF.Lost = lost
		}
		snap = a.Next(s, model.Options{})
	}
	snap.PollMS = model.PollCost{}
	return snap
}

// TestWriteTextEBPF: with eBPF loaded the text has an EBPF section (peers,
// the connecting process, the listener) and the listener's own drops;
// golden.
func TestWriteTextEBPF(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, ebpfSnapshot(t, source.EBPFLost{}), TextOptions{}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{"EBPF  loaded 2026-11-21 08:59:00 UTC", "192.0.2.10:443", "php-fpm", "dropping 10/s", "LISTENER"} {
		if !strings.Contains(got, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	if strings.Contains(got, "LOST") {
		t.Errorf("nothing lost, yet a LOST line")
	}
	path := filepath.Join("..", "testdata", "golden", "text", "ebpf.txt")
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./output -update)", err)
	}
	if string(want) != got {
		t.Errorf("text output differs from %s (run go test ./output -update and review):\n%s", path, got)
	}
	b.Reset()
	WriteText(&b, ebpfSnapshot(t, source.EBPFLost{PeersFull: 3}), TextOptions{})
	if !strings.Contains(b.String(), "LOST  3 peer-map full, 0 process-map full, 0 socket storage") {
		t.Errorf("losses not shown")
	}
}

// TestEBPFOffOneLine: the programs not loaded: one line says why, in
// text and JSON; no eBPF section at all: nothing.
func TestEBPFOffOneLine(t *testing.T) {
	s := sample()
	s.EBPF = &source.EBPF{Reason: "unavailable: BTF not found\nat /x"}
	snap := model.Build(s, nil, model.Options{})
	var b bytes.Buffer
	WriteText(&b, snap, TextOptions{})
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "EBPF") || strings.Contains(l, "BTF") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || lines[0] != "EBPF  unavailable: BTF not found at /x" {
		t.Errorf("eBPF lines: %q", lines)
	}
	b.Reset()
	WriteJSON(&b, snap, false)
	var doc struct {
		EBPF map[string]any `json:"ebpf"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.EBPF["loaded"] != false || doc.EBPF["reason"] != "unavailable: BTF not found\nat /x" || len(doc.EBPF) != 2 {
		t.Errorf("JSON ebpf: %v", doc.EBPF)
	}
	b.Reset()
	WriteText(&b, model.Build(sample(), nil, model.Options{}), TextOptions{})
	if strings.Contains(b.String(), "EBPF") {
		t.Errorf("no eBPF section, yet the text speaks of it")
	}
}
