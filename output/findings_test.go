package output

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// twoPolls are two polls of sample() a second apart: more TIME_WAIT, a new
// CLOSE_WAIT, listen overflows rising, a connect retrying (the monitor's
// fixture in ui).
func twoPolls() []*source.Sample {
	first, second := sample(), sample()
	first.Sockets = first.Sockets[:len(first.Sockets)-2]
	first.Sockets = append(first.Sockets[:3:3], first.Sockets[4:]...) // one CLOSE_WAIT fewer
	first.Counters = map[string]int64{"ListenOverflows": 40, "ListenDrops": 40, "ActiveOpens": 100, "PassiveOpens": 50}
	second.Time = first.Time.Add(time.Second)
	second.Counters = map[string]int64{"ListenOverflows": 42, "ListenDrops": 42, "ActiveOpens": 110, "PassiveOpens": 55}
	second.Took = source.Timings{Dump: 1500 * time.Microsecond, Attribute: 2 * time.Millisecond}
	for _, s := range []*source.Sample{first, second} {
		s.Sockets = append(s.Sockets, source.Socket{
			State: source.SynSent, Local: netip.MustParseAddrPort("10.0.0.1:40000"),
			Remote: netip.MustParseAddrPort("198.51.100.7:5432"), Inode: 50, Owners: []int32{20},
			Timer: 1, Expires: 800, Retrans: 2,
		})
		// The same socket has the same cookie in both polls (ages).
		for i := range s.Sockets {
			sk := &s.Sockets[i]
			sk.Cookie = uint64(sk.Local.Port())<<16 | uint64(sk.Remote.Port())
		}
		s.Procs[10].FDs, s.Procs[10].FDLimit = 12, 1024
		s.Procs[20].FDs, s.Procs[20].FDLimit = 900, 1024
	}
	return []*source.Sample{first, second}
}

// quietPolls are twoPolls without the full accept queue and with the
// overflow counters flat.
func quietPolls() []*source.Sample {
	ss := twoPolls()
	for _, s := range ss {
		s.Sockets[0].RecvQ = 0
		s.Counters["ListenOverflows"], s.Counters["ListenDrops"] = 42, 42
	}
	return ss
}

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
