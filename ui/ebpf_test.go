package ui

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// ebpfSamples are tuiSamples with the eBPF programs' counts (cumulative,
// one second apart): 50 short connections a second to 192.0.2.10:443
// living about 2 ms, retransmits and timed-out connects to
// 198.51.100.7:5432, a reset from the incoming client; 127.0.0.1:6379
// has no eBPF counts. lost is what the programs lost by the second poll.
func ebpfSamples(lost source.EBPFLost) []*source.Sample {
	ss := tuiSamples()
	since := ss[0].Time.Add(-time.Minute)
	for n, s := range ss {
		k := uint64(n) // 0 first, 1 second
		web := source.EBPFPeer{Dir: source.EBPFOut, Local: netip.MustParseAddrPort("10.0.0.1:0"),
			Remote: netip.MustParseAddrPort("192.0.2.10:443"), Born: 1,
			EBPFCounts: source.EBPFCounts{Opens: 100 + 50*k, Closes: 95 + 50*k, Retrans: 3 * k}}
		web.Life[11] = 95 + 50*k // [1.024, 2.048) ms
		db := source.EBPFPeer{Dir: source.EBPFOut, Local: netip.MustParseAddrPort("10.0.0.1:0"),
			Remote: netip.MustParseAddrPort("198.51.100.7:5432"), Born: 1,
			EBPFCounts: source.EBPFCounts{TimedOut: 2 + k, Refused: 1, Retrans: 4 + 2*k}}
		in := source.EBPFPeer{Dir: source.EBPFIn, Local: netip.MustParseAddrPort("10.0.0.1:80"),
			Remote: netip.MustParseAddrPort("10.0.0.5:0"), Born: 1,
			EBPFCounts: source.EBPFCounts{Opens: 1, ResetsRecv: 1}}
		s.EBPF = &source.EBPF{Loaded: true, Since: since, Now: 1_000_000_000 * (k + 1),
			Peers: []source.EBPFPeer{web, db, in},
			Procs: []source.EBPFProc{{PID: 20, Comm: "php-fpm", Local: netip.MustParseAddr("10.0.0.1"),
				Remote: netip.MustParseAddrPort("192.0.2.10:443"), Born: 1, Opens: 100 + 50*k, Closes: 95 + 50*k,
				LifeSum: time.Duration(95+50*k) * 2 * time.Millisecond}},
		}
		if n == 1 {
			s.EBPF.Lost = lost
		}
		// The listener's own drops: 2 a second, as the counters.
		s.Sockets[0].Drops, s.Sockets[0].DropsKnown = uint32(40+2*k), true
	}
	return ss
}

// newTUIOf is newTUI over other samples.
func newTUIOf(t *testing.T, w, h int, samples []*source.Sample) Model {
	t.Helper()
	m := New(Config{Poller: pollOf(&fakeReader{samples: samples}, tuiThresholds(t)), Interval: time.Hour, Theme: "dark"})
	m = send(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	m = run(t, m, m.Init())
	m = send(t, m, tickMsg{seq: m.tickSeq})
	if m.snap == nil || m.snap.Total != 10 {
		t.Fatalf("monitor did not take both polls: %+v", m.snap)
	}
	m.snap.PollMS = model.PollCost{Total: 3.5}
	return m
}

// TestEBPFScreenGolden: with eBPF loaded the peers table has the eBPF
// columns where they fit (lower-case titles, the table's title says so)
// and the header says eBPF; the help overlay explains the columns.
func TestEBPFScreenGolden(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {120, 40}, {200, 60}} {
		m := newTUIOf(t, sz[0], sz[1], ebpfSamples(source.EBPFLost{}))
		name := fmt.Sprintf("%dx%d-ebpf", sz[0], sz[1])
		golden(t, name+".txt", screen(m))
		if sz[0] == 120 {
			golden(t, name+".ansi", pinned(m))
			golden(t, name+"-help.txt", screen(press(t, m, "?")))
		}
	}
	m := newTUIOf(t, 200, 60, ebpfSamples(source.EBPFLost{}))
	txt := screen(m)
	for _, want := range []string{"0.0.0.0:80", "FULL drops 2/s", "open/s", "close/s", "retr/s", "rst", "refused", "timeout", "life50", "lower case: eBPF", "  eBPF  "} {
		if !strings.Contains(txt, want) {
			t.Errorf("200x60 screen lacks %q", want)
		}
	}
	// 192.0.2.10:443: 50 opens and closes a second, 3 retransmits, a
	// median life under 2.048 ms.
	for _, l := range strings.Split(txt, "\n") {
		if strings.HasPrefix(l, "out 192.0.2.10:443") {
			if f := strings.Fields(l); !strings.Contains(l, " 50 ") || !strings.Contains(l, "2.0ms") {
				t.Errorf("web peer row: %q (%d fields)", l, len(f))
			}
		}
	}
}

// TestEBPFAbsentNotZero: without eBPF data, or with the programs not
// loaded, the peers table has no eBPF column (absent, not zero); not
// loaded, the header says why in one line and so does the help overlay.
func TestEBPFAbsentNotZero(t *testing.T) {
	off := tuiSamples()
	for _, s := range off {
		s.EBPF = &source.EBPF{Reason: "unavailable: BTF not found at /nonexistent\n(second line)"}
	}
	for name, samples := range map[string][]*source.Sample{"none": tuiSamples(), "off": off} {
		m := newTUIOf(t, 200, 60, samples)
		txt := screen(m)
		for _, col := range []string{"open/s", "retr/s", "life50", "lower case"} {
			if strings.Contains(txt, col) {
				t.Errorf("%s: the screen has %q", name, col)
			}
		}
		header := strings.SplitN(txt, "\n", 2)[0]
		help := screen(press(t, m, "?"))
		if name == "off" {
			if !strings.Contains(header, "eBPF unavailable: BTF not found at /nonexistent (second line)") {
				t.Errorf("header does not say why: %q", header)
			}
			if !strings.Contains(help, "eBPF unavailable: BTF not found") {
				t.Errorf("help does not say why eBPF is off")
			}
		} else if strings.Contains(header, "eBPF") || strings.Contains(help, "eBPF") {
			t.Errorf("no eBPF section, yet the screen speaks of it")
		}
	}
	m := newTUIOf(t, 120, 40, off)
	golden(t, "120x40-ebpf-off.txt", screen(m))
}

// TestEBPFLost: what the programs lost shows in the header, kept on a
// narrow screen, and in the help overlay by cause.
func TestEBPFLost(t *testing.T) {
	m := newTUIOf(t, 80, 24, ebpfSamples(source.EBPFLost{ProcsFull: 7, Storage: 5}))
	header := strings.SplitN(screen(m), "\n", 2)[0]
	if !strings.Contains(header, "eBPF lost 12") {
		t.Errorf("header: %q", header)
	}
	if help := screen(press(t, m, "?")); !strings.Contains(help, "7 process-map full, 5 socket storage") {
		t.Errorf("help lacks the losses:\n%s", help)
	}
	// Nothing lost: no word of it.
	m = newTUIOf(t, 200, 60, ebpfSamples(source.EBPFLost{ResetsNoSocket: 9}))
	if strings.Contains(screen(m), "lost") {
		t.Errorf("resets without a socket counted as lost")
	}
}
