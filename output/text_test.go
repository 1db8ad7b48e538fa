package output

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sample is one poll of a small web server: a full listener, a client, two
// CLOSE_WAIT to redis, five TIME_WAIT to one destination.
func sample() *source.Sample {
	mk := func(st source.State, l, r string, inode uint32, owners ...int32) source.Socket {
		return source.Socket{State: st, Local: netip.MustParseAddrPort(l), Remote: netip.MustParseAddrPort(r), Inode: inode, Owners: owners}
	}
	socks := []source.Socket{
		{State: source.Listen, Local: netip.MustParseAddrPort("0.0.0.0:80"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), RecvQ: 129, SendQ: 128, Inode: 1, Owners: []int32{10}},
		mk(source.Established, "10.0.0.1:80", "10.0.0.5:50001", 2, 10),
		mk(source.CloseWait, "127.0.0.1:35000", "127.0.0.1:6379", 3, 20),
		mk(source.CloseWait, "127.0.0.1:35001", "127.0.0.1:6379", 4, 20),
	}
	for i := range 5 {
		s := mk(source.TimeWait, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(33000+i)).String(), "192.0.2.10:443", 0)
		s.Expires = uint32(20000 + i*1000)
		socks = append(socks, s)
	}
	return &source.Sample{
		Time: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC), Host: "web1", Netns: "default",
		Sockets: socks, Attributed: true,
		Procs: map[int32]*source.Process{
			10: {PID: 10, Name: "nginx", Cmdline: "nginx: worker process", User: "www-data"},
			20: {PID: 20, Name: "php-fpm", Cmdline: "php-fpm: pool www", User: "www-data"},
		},
		Sysctl: source.Sysctls{PortLow: 32768, PortHigh: 60999, PortRangeParsed: true, Somaxconn: 128,
			Raw: map[string]string{"net.ipv4.ip_local_port_range": "32768 60999", "net.core.somaxconn": "128"}},
		Counters: map[string]int64{"ListenOverflows": 42, "ListenDrops": 42},
	}
}

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
