package ui

import (
	"flag"
	"net/netip"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sample is one poll of a small web server: a full listener, a client, two
// CLOSE_WAIT to redis, five TIME_WAIT to one destination. package output's
// tests build the same one.
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

func TestHelpers(t *testing.T) {
	if Bar(1, 1000, 40, '#') != "#" || Bar(0, 10, 40, '#') != "" || len(Bar(10, 10, 40, '#')) != 40 {
		t.Error("Bar")
	}
	for f, want := range map[float64]string{0: "0%", 0.0004: "<0.1%", 0.05: "5.0%", 1.125: "112%"} {
		if Pct(f) != want {
			t.Errorf("Pct(%v) = %s, want %s", f, Pct(f), want)
		}
	}
	if Millis(850) != "850ms" || Millis(59100) != "59.1s" {
		t.Error("Millis")
	}
	if Clip("php-fpm: pool www", 8) != "php-fpm~" || Clip("short", 8) != "short" {
		t.Error("Clip")
	}
}
