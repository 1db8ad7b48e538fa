package source_test

import (
	"net"
	"testing"

	"github.com/tcptop/tcptop/source"
)

// BenchmarkExactLookup is one exact lookup (tcp_info, congestion, memory)
// of a loopback connection: the unit of the monitor's per-peer quality
// sampling (at most 64 per refresh).
func BenchmarkExactLookup(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ex, err := source.OpenExact(nil)
	if err != nil {
		b.Skip(err)
	}
	defer ex.Close()
	socks, err := ex.Dump(source.MaskOf(source.Established), 0)
	if err != nil {
		b.Fatal(err)
	}
	var id source.SocketID
	for i := range socks {
		if socks[i].Local.String() == c.LocalAddr().String() {
			id = socks[i].ID()
		}
	}
	if id.Cookie == 0 {
		b.Fatal("connection not in the dump")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := ex.Lookup(id); err != nil {
			b.Fatal(err)
		}
	}
}
