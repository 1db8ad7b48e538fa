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

func TestHelpers(t *testing.T) {
	if bar(1, 1000, 40, '#') != "#" || bar(0, 10, 40, '#') != "" || len(bar(10, 10, 40, '#')) != 40 {
		t.Error("bar")
	}
	for f, want := range map[float64]string{0: "0%", 0.0004: "<0.1%", 0.05: "5.0%", 1.125: "112%"} {
		if pct(f) != want {
			t.Errorf("pct(%v) = %s, want %s", f, pct(f), want)
		}
	}
	if millis(850) != "850ms" || millis(59100) != "59.1s" {
		t.Error("millis")
	}
	if clip("php-fpm: pool www", 8) != "php-fpm~" || clip("short", 8) != "short" {
		t.Error("clip")
	}
}

func BenchmarkWriteText(b *testing.B) {
	snap := model.Build(sample(), nil, model.Options{})
	b.ReportAllocs()
	for b.Loop() {
		WriteText(&bytes.Buffer{}, snap, TextOptions{})
	}
}
