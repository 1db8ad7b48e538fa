package source

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// addFixture seeds f with a fixture file, whole and cut short.
func addFixture(f *testing.F, rel string, extra ...any) {
	b, err := os.ReadFile(filepath.Join(fixtureRoot, rel))
	if err != nil {
		f.Fatal(err)
	}
	s := string(b)
	f.Add(append([]any{s}, extra...)...)
	f.Add(append([]any{s[:len(s)/2]}, extra...)...)
}

func FuzzParseCounterPairs(f *testing.F) {
	addFixture(f, "thread-self/net/netstat")
	addFixture(f, "thread-self/net/snmp")
	for _, s := range []string{
		"",
		"Tcp: A B\nTcp: 1 -2\n",
		"Tcp: A B\nTcp: 1 2 3\n",
		"Tcp: 1 2\n",
		"Tcp: A\n",
		"Tcp: A\nTcpExt: B\nTcpExt: 1\n",
		"TcpExt: A\nTcpExt: x\n",
		"Tcp: A\nTcp: 9223372036854775808\n",
		"Tcp: A\nTcp: -9223372036854775808\n",
		"Tcp:\r\nTcp:\r\n",
		"::::\n:\nTcp:: A\nTcp:: 1\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := []string{"TcpExt", "Tcp"}
		got, err := ParseCounterPairs(strings.NewReader(s), want...)
		if got == nil {
			t.Fatal("nil map")
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q does not name a line", err)
			}
		} else {
			for prefix, names := range got {
				if prefix != "TcpExt" && prefix != "Tcp" {
					t.Fatalf("unwanted prefix %q", prefix)
				}
				if len(names) == 0 {
					t.Fatalf("empty map for %q", prefix)
				}
				for name := range names {
					if name == "" || strings.ContainsAny(name, " \t\r\n\v\f") {
						t.Fatalf("bad name %q", name)
					}
				}
			}
		}
		// Reading byte by byte must not change the outcome.
		got2, err2 := ParseCounterPairs(iotest.OneByteReader(strings.NewReader(s)), want...)
		if (err == nil) != (err2 == nil) || (err == nil && !reflect.DeepEqual(got, got2)) {
			t.Fatalf("one-byte reads differ: %v, %v vs %v, %v", got, err, got2, err2)
		}
	})
}

// refPortRange is a slow, obviously right ParsePortRange.
func refPortRange(s string) (lo, hi int, ok bool) {
	// The kernel's whitespace is ASCII: U+00A0 and friends are not separators.
	f := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(" \t\n\r\v\f", r) })
	if len(f) != 2 {
		return 0, 0, false
	}
	var n [2]int
	for i, x := range f {
		if strings.TrimLeft(x, "0123456789") != "" {
			return 0, 0, false
		}
		v, err := strconv.Atoi(x)
		if err != nil || v > 65535 {
			return 0, 0, false
		}
		n[i] = v
	}
	return n[0], n[1], n[0] <= n[1]
}

func FuzzParsePortRange(f *testing.F) {
	addFixture(f, "sys/net/ipv4/ip_local_port_range")
	for _, s := range []string{"", "1024 1024", "0 65535", "60999 32768", "1 65536", "-1 5",
		"+1 5", "1 2 3", "1\v2", "00000000000000001 2", "99999999999999999999 1", "1-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := ParsePortRange(s)
		rlo, rhi, rok := refPortRange(s)
		if (err == nil) != rok {
			t.Fatalf("ParsePortRange(%q) err = %v, reference ok = %v", s, err, rok)
		}
		if err != nil {
			return
		}
		if lo < 0 || lo > hi || hi > 65535 {
			t.Fatalf("ParsePortRange(%q) = %d, %d", s, lo, hi)
		}
		if lo != rlo || hi != rhi {
			t.Fatalf("ParsePortRange(%q) = %d, %d; reference %d, %d", s, lo, hi, rlo, rhi)
		}
	})
}

func FuzzParseReservedPorts(f *testing.F) {
	addFixture(f, "sys/net/ipv4/ip_local_reserved_ports", int32(32768), int32(60999))
	for _, s := range []string{"", "\n", "8080", "0-65535", "9005-9020,9000-9010,8081,8080",
		"9010-9000", "65536", "8080,", ",", "1-2-3", "-", "1,,2", " 1 , 2 "} {
		f.Add(s, int32(0), int32(65535))
	}
	f.Add("8080,9000-9010", int32(9005), int32(8080))
	f.Add("0-65535", int32(-1<<31), int32(1<<31-1))
	f.Fuzz(func(t *testing.T, s string, lo32, hi32 int32) {
		r, err := ParseReservedPorts(s)
		if err != nil {
			if r != nil {
				t.Fatalf("ranges %v with error %v", r, err)
			}
			return
		}
		for i, p := range r {
			if p.Lo < 0 || p.Lo > p.Hi || p.Hi > 65535 {
				t.Fatalf("bad range %v in %v", p, r)
			}
			if i > 0 && r[i-1].Hi+1 >= p.Lo {
				t.Fatalf("ranges %v not sorted and merged", r)
			}
		}
		lo, hi := int(lo32), int(hi32)
		n := ReservedInRange(r, lo, hi)
		if n < 0 || n > max(0, hi-lo+1) {
			t.Fatalf("ReservedInRange(%v, %d, %d) = %d", r, lo, hi, n)
		}
		for _, port := range []int{lo, hi} {
			in := false
			for _, p := range r {
				in = in || (p.Lo <= port && port <= p.Hi)
			}
			if IsReserved(r, port) != in {
				t.Fatalf("IsReserved(%v, %d) = %v", r, port, !in)
			}
			if got := ReservedInRange(r, port, port); (got == 1) != in || got > 1 {
				t.Fatalf("ReservedInRange(%v, %d, %d) = %d", r, port, port, got)
			}
		}
	})
}

func FuzzParseSockstat(f *testing.F) {
	addFixture(f, "thread-self/net/sockstat")
	for _, s := range []string{"", "TCP: inuse 1 orphan\n", "TCP: inuse x\n", "sockets: used 1\n",
		"TCP6: inuse 1\n", "TCP: mem -5 inuse 9223372036854775807\n", "TCP:\nTCP: tw 1\n", ":\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSockstat(strings.NewReader(s))
		if err != nil && got != (Sockstat{}) {
			t.Fatalf("%+v with error %v", got, err)
		}
		got2, err2 := ParseSockstat(iotest.OneByteReader(strings.NewReader(s)))
		if got != got2 || (err == nil) != (err2 == nil) {
			t.Fatalf("one-byte reads differ: %+v, %v vs %+v, %v", got, err, got2, err2)
		}
	})
}

// FuzzParseNoFileLimit: /proc/PID/limits content never panics the parser;
// a limit is -1 (unlimited) or non-negative, and an error leaves it 0.
func FuzzParseNoFileLimit(f *testing.F) {
	for _, s := range []string{"", "Max open files            1024                 524288               files\n",
		"Max open files unlimited unlimited files", "Max open files", "Max open files -1", "Max open files 99999999999999999999",
		"Limit Soft\nMax open files\t7\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseNoFileLimit([]byte(s))
		switch {
		case err != nil && v != 0:
			t.Fatalf("%d with error %v", v, err)
		case err == nil && v < -1:
			t.Fatalf("limit %d", v)
		}
	})
}
