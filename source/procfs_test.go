package source

import (
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	fixtureRoot        = "../testdata/proc"
	fixtureMissingRoot = "../testdata/proc-missing"
)

func readFixture(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseCounterPairs(t *testing.T) {
	netstat := readFixture(t, "thread-self/net/netstat")
	snmp := readFixture(t, "thread-self/net/snmp")
	tests := []struct {
		name    string
		in      string
		want    []string
		check   map[string]map[string]int64 // subset that must match
		size    map[string]int              // exact number of names per prefix
		wantErr string                      // substring; "" for success
	}{
		{name: "netstat fixture", in: netstat, want: []string{"TcpExt"},
			check: map[string]map[string]int64{"TcpExt": {"SyncookiesSent": 2, "TW": 1234,
				"ListenOverflows": 17, "ListenDrops": 19, "TCPTimeWaitOverflow": 5, "TWRecycled": 0,
				"TCPAbortOnData": 6, "TCPAbortOnClose": 8, "TCPAODroppedIcmps": 0}},
			size: map[string]int{"TcpExt": strings.Count(strings.SplitN(netstat, "\n", 2)[0], " ")}},
		{name: "snmp fixture", in: snmp, want: []string{"Tcp"},
			check: map[string]map[string]int64{"Tcp": {"RtoAlgorithm": 1, "RtoMin": 200, "RtoMax": 120000,
				"MaxConn": -1, "ActiveOpens": 1000, "PassiveOpens": 900, "AttemptFails": 11,
				"EstabResets": 13, "CurrEstab": 42, "RetransSegs": 77, "InCsumErrors": 0}},
			size: map[string]int{"Tcp": 15}},
		{name: "snmp two prefixes", in: snmp, want: []string{"Tcp", "Udp"},
			check: map[string]map[string]int64{"Tcp": {"CurrEstab": 42}, "Udp": {"InDatagrams": 19}},
			size:  map[string]int{"Tcp": 15, "Udp": 9}},
		{name: "Tcp is not TcpExt", in: netstat, want: []string{"Tcp"},
			size: map[string]int{}},
		{name: "nothing wanted", in: snmp, size: map[string]int{}},
		{name: "empty", in: "", want: []string{"Tcp"}, size: map[string]int{}},
		{name: "no trailing newline, tabs, CRLF", in: "Tcp:\tA  B\r\nTcp: 1\t-2", want: []string{"Tcp"},
			check: map[string]map[string]int64{"Tcp": {"A": 1, "B": -2}}},
		{name: "unknown and junk lines skipped", in: "garbage\n\nFoo: 1 2 3\nTcp: A\nTcp: 7\nBar: x\n", want: []string{"Tcp"},
			check: map[string]map[string]int64{"Tcp": {"A": 7}}},
		{name: "unknown prefix between header and values", in: "Tcp: A\nFoo: B\nFoo: 1\nTcp: 7\n", want: []string{"Tcp"},
			check: map[string]map[string]int64{"Tcp": {"A": 7}}},
		{name: "header without names", in: "Tcp:\nTcp:\n", want: []string{"Tcp"}, size: map[string]int{}},
		{name: "int64 extremes", in: "Tcp: A B\nTcp: 9223372036854775807 -9223372036854775808\n", want: []string{"Tcp"},
			check: map[string]map[string]int64{"Tcp": {"A": 9223372036854775807, "B": -9223372036854775808}}},

		{name: "too many values", in: "Tcp: A B\nTcp: 1 2 3\n", want: []string{"Tcp"}, wantErr: "line 2: Tcp: 3 values for 2 names (header at line 1)"},
		{name: "too few values", in: "Foo: x\nFoo: 1\nTcp: A B\nTcp: 1\n", want: []string{"Tcp"}, wantErr: "line 4: Tcp: 1 values for 2 names"},
		{name: "value line without header", in: "Tcp: 1 2\n", want: []string{"Tcp"}, wantErr: "line 1: Tcp values without a header"},
		{name: "negative value line without header", in: "Ip: A\nIp: 1\nTcp: -1 2\n", want: []string{"Tcp"}, wantErr: "line 3: Tcp values without a header"},
		{name: "header without values at EOF", in: "Tcp: A B\n", want: []string{"Tcp"}, wantErr: "line 1: Tcp header has no value line"},
		{name: "header followed by other header", in: "Tcp: A\nUdp: B\nUdp: 1\n", want: []string{"Tcp", "Udp"}, wantErr: "line 1: Tcp header has no value line"},
		{name: "two headers", in: "Tcp: A B\nTcp: A B\n", want: []string{"Tcp"}, wantErr: `line 2: Tcp: value 1 ("A") is not an integer`},
		{name: "non-numeric value", in: "Tcp: A B\nTcp: 1 x2\n", want: []string{"Tcp"}, wantErr: `line 2: Tcp: value 2 ("x2") is not an integer`},
		{name: "lone minus", in: "Tcp: A\nTcp: -\n", want: []string{"Tcp"}, wantErr: "not an integer"},
		{name: "plus sign", in: "Tcp: A\nTcp: +1\n", want: []string{"Tcp"}, wantErr: "not an integer"},
		{name: "overflow", in: "Tcp: A\nTcp: 9223372036854775808\n", want: []string{"Tcp"}, wantErr: "not an integer"},
		{name: "negative overflow", in: "Tcp: A\nTcp: -9223372036854775809\n", want: []string{"Tcp"}, wantErr: "not an integer"},
		{name: "line too long", in: "Tcp: " + strings.Repeat("A ", maxProcLine), want: []string{"Tcp"}, wantErr: "line 1: bufio.Scanner: token too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCounterPairs(strings.NewReader(tt.in), tt.want...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("nil map")
			}
			for prefix, names := range tt.check {
				for name, want := range names {
					if v, ok := got[prefix][name]; !ok || v != want {
						t.Errorf("%s %s = %d, %v; want %d", prefix, name, v, ok, want)
					}
				}
			}
			if tt.size != nil {
				if len(got) != len(tt.size) {
					t.Errorf("prefixes = %v, want %v", slices.Sorted(maps.Keys(got)), tt.size)
				}
				for prefix, n := range tt.size {
					if len(got[prefix]) != n {
						t.Errorf("%s has %d names, want %d", prefix, len(got[prefix]), n)
					}
				}
			}
		})
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in      string
		lo, hi  int
		wantErr bool
	}{
		{in: readFixture(t, "sys/net/ipv4/ip_local_port_range"), lo: 32768, hi: 60999},
		{in: "32768\t60999\n", lo: 32768, hi: 60999},
		{in: "1024 1024", lo: 1024, hi: 1024},
		{in: "  0   65535  \n", lo: 0, hi: 65535},
		{in: "", wantErr: true},
		{in: "\n", wantErr: true},
		{in: "32768", wantErr: true},
		{in: "32768 60999 1", wantErr: true},
		{in: "60999 32768", wantErr: true},
		{in: "1 65536", wantErr: true},
		{in: "-1 100", wantErr: true},
		{in: "+1 100", wantErr: true},
		{in: "1-100", wantErr: true},
		{in: "a b", wantErr: true},
		{in: "99999999999999999999 1", wantErr: true},
	}
	for _, tt := range tests {
		lo, hi, err := ParsePortRange(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParsePortRange(%q) = %d, %d, nil; want an error", tt.in, lo, hi)
			}
			continue
		}
		if err != nil || lo != tt.lo || hi != tt.hi {
			t.Errorf("ParsePortRange(%q) = %d, %d, %v; want %d, %d", tt.in, lo, hi, err, tt.lo, tt.hi)
		}
	}
}

func TestParseReservedPorts(t *testing.T) {
	tests := []struct {
		in      string
		want    []PortRange
		wantErr bool
	}{
		{in: readFixture(t, "sys/net/ipv4/ip_local_reserved_ports"), want: []PortRange{{8080, 8080}, {9000, 9010}}},
		{in: "", want: nil},
		{in: "\n", want: nil},
		{in: "8080\n", want: []PortRange{{8080, 8080}}},
		{in: "0,65535", want: []PortRange{{0, 0}, {65535, 65535}}},
		{in: "0-65535", want: []PortRange{{0, 65535}}},
		// Unsorted, overlapping and adjacent input is merged the way the
		// kernel prints it ("8080-8081,9000-9020").
		{in: "9005-9020,9000-9010,8081,8080", want: []PortRange{{8080, 8081}, {9000, 9020}}},
		{in: "5-5,1-3,2,4", want: []PortRange{{1, 5}}},
		{in: " 1 , 3-4 ", want: []PortRange{{1, 1}, {3, 4}}},
		{in: "9010-9000", wantErr: true},
		{in: "65536", wantErr: true},
		{in: "1-65536", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "1-", wantErr: true},
		{in: "1-2-3", wantErr: true},
		{in: "8080,", wantErr: true},
		{in: ",8080", wantErr: true},
		{in: "8080,,9000", wantErr: true},
		{in: "80 90", wantErr: true},
		{in: "http", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseReservedPorts(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseReservedPorts(%q) = %v, nil; want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseReservedPorts(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestReservedInRange(t *testing.T) {
	r := []PortRange{{8080, 8080}, {9000, 9010}, {40000, 40099}}
	tests := []struct{ lo, hi, want int }{
		{32768, 60999, 100},
		{0, 65535, 112},
		{8080, 8080, 1},
		{8081, 8999, 0},
		{9005, 40000, 7},
		{9010, 9010, 1},
		{60999, 32768, 0}, // empty interval
		{-10, 8080, 1},
	}
	for _, tt := range tests {
		if got := ReservedInRange(r, tt.lo, tt.hi); got != tt.want {
			t.Errorf("ReservedInRange(%d, %d) = %d, want %d", tt.lo, tt.hi, got, tt.want)
		}
	}
	if got := ReservedInRange(nil, 0, 65535); got != 0 {
		t.Errorf("ReservedInRange(nil) = %d", got)
	}
}

func TestIsReserved(t *testing.T) {
	r := []PortRange{{0, 0}, {8080, 8080}, {9000, 9010}, {65535, 65535}}
	for port := -1; port <= 65536; port++ {
		want := port == 0 || port == 8080 || (port >= 9000 && port <= 9010) || port == 65535
		if got := IsReserved(r, port); got != want {
			t.Fatalf("IsReserved(%d) = %v, want %v", port, got, want)
		}
	}
	if IsReserved(nil, 8080) {
		t.Error("IsReserved(nil, 8080) = true")
	}
}

func TestParseSockstat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Sockstat
		wantErr string
	}{
		{name: "fixture", in: readFixture(t, "thread-self/net/sockstat"),
			want: Sockstat{SocketsUsed: 57, InUse: 12, Orphan: 3, TW: 41, Alloc: 15, Mem: 7}},
		{name: "no sockets line", in: "TCP: inuse 1 orphan 0 tw 6 alloc 1 mem 90\n",
			want: Sockstat{InUse: 1, TW: 6, Alloc: 1, Mem: 90}},
		{name: "unknown keys and order", in: "TCP: mem 5 future 9 inuse 2\nTCP6: inuse 100\n",
			want: Sockstat{InUse: 2, Mem: 5}},
		{name: "negative", in: "TCP: orphan -1", want: Sockstat{Orphan: -1}},
		{name: "empty", in: "", wantErr: "no TCP line"},
		{name: "only TCP6", in: "sockets: used 3\nTCP6: inuse 1\n", wantErr: "no TCP line"},
		{name: "key without value", in: "sockets: used 3\nTCP: inuse 1 orphan\n", wantErr: `line 2: TCP "orphan": value "" is not an integer`},
		{name: "bad value", in: "sockets: used x\nTCP: inuse 1\n", wantErr: `line 1: sockets "used": value "x" is not an integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSockstat(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if got != (Sockstat{}) {
					t.Errorf("got %+v with an error, want zero", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestProcfsFixture(t *testing.T) {
	p := ProcFS{Root: fixtureRoot}

	s, warns := strs(p.ReadSysctls())
	if len(warns) != 0 {
		t.Errorf("warnings: %q", warns)
	}
	want := Sysctls{
		PortLow: 32768, PortHigh: 60999, PortRangeParsed: true,
		Reserved:  []PortRange{{8080, 8080}, {9000, 9010}},
		Somaxconn: 1024, MaxSynBacklog: 1024, FinTimeout: 30, TwReuse: 2,
		MaxTwBuckets: 262144, Timestamps: 1, MaxOrphans: 65536,
		SynRetries: 6, SynackRetries: 5, Syncookies: 1, AbortOnOverflow: 0, KeepaliveTime: 7200,
		Raw: map[string]string{
			"net.ipv4.ip_local_port_range":     "32768 60999",
			"net.ipv4.ip_local_reserved_ports": "8080,9000-9010",
			"net.core.somaxconn":               "1024",
			"net.ipv4.tcp_max_syn_backlog":     "1024",
			"net.ipv4.tcp_fin_timeout":         "30",
			"net.ipv4.tcp_tw_reuse":            "2",
			"net.ipv4.tcp_max_tw_buckets":      "262144",
			"net.ipv4.tcp_timestamps":          "1",
			"net.ipv4.tcp_max_orphans":         "65536",
			"net.ipv4.tcp_syn_retries":         "6",
			"net.ipv4.tcp_synack_retries":      "5",
			"net.ipv4.tcp_syncookies":          "1",
			"net.ipv4.tcp_abort_on_overflow":   "0",
			"net.ipv4.tcp_keepalive_time":      "7200",
		},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("ReadSysctls =\n%+v\nwant\n%+v", s, want)
	}

	c, warns := strs(p.ReadCounters())
	if len(warns) != 0 {
		t.Errorf("warnings: %q", warns)
	}
	for name, v := range map[string]int64{
		"ListenOverflows": 17, "ListenDrops": 19, "TCPTimeWaitOverflow": 5, "TWRecycled": 0,
		"TW": 1234, "TCPAbortOnData": 6, "TCPAbortOnClose": 8,
		"ActiveOpens": 1000, "PassiveOpens": 900, "AttemptFails": 11, "EstabResets": 13,
		"CurrEstab": 42, "RetransSegs": 77, "MaxConn": -1,
	} {
		if got, ok := c[name]; !ok || got != v {
			t.Errorf("counter %s = %d, %v; want %d", name, got, ok, v)
		}
	}
	nTcpExt := strings.Count(strings.SplitN(readFixture(t, "thread-self/net/netstat"), "\n", 2)[0], " ")
	if len(c) != nTcpExt+15 {
		t.Errorf("%d counters, want %d TcpExt + 15 Tcp", len(c), nTcpExt)
	}
	for name := range c {
		if strings.HasPrefix(name, "Tcp.") {
			t.Errorf("unexpected collision %s", name)
		}
	}

	ss, warns := strs(p.ReadSockstat())
	if len(warns) != 0 {
		t.Errorf("warnings: %q", warns)
	}
	if want := (Sockstat{SocketsUsed: 57, InUse: 12, Orphan: 3, TW: 41, Alloc: 15, Mem: 7}); ss != want {
		t.Errorf("ReadSockstat = %+v, want %+v", ss, want)
	}
}

func TestProcfsMissing(t *testing.T) {
	p := ProcFS{Root: fixtureMissingRoot}

	s, warns := strs(p.ReadSysctls())
	wantMissing := []string{"net.ipv4.ip_local_port_range", "net.ipv4.tcp_max_syn_backlog",
		"net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_timestamps", "net.ipv4.tcp_max_orphans"}
	if !slices.Equal(s.Missing, wantMissing) {
		t.Errorf("Missing = %q, want %q", s.Missing, wantMissing)
	}
	if len(warns) != len(wantMissing) {
		t.Errorf("warnings = %q, want one per missing file", warns)
	}
	for i, w := range warns {
		if i < len(wantMissing) && (!strings.HasPrefix(w, "sysctl "+wantMissing[i]+": open ") ||
			!strings.Contains(w, "no such file") || strings.Contains(w, "\n")) {
			t.Errorf("warning %q", w)
		}
	}
	if s.PortRangeParsed || s.PortLow != 0 || s.PortHigh != 0 {
		t.Errorf("port range = %d-%d parsed %v, want unparsed", s.PortLow, s.PortHigh, s.PortRangeParsed)
	}
	wantRaw := map[string]string{
		"net.ipv4.ip_local_reserved_ports": "",
		"net.core.somaxconn":               "4096",
		"net.ipv4.tcp_fin_timeout":         "60",
		"net.ipv4.tcp_tw_reuse":            "2",
		"net.ipv4.tcp_syn_retries":         "6",
		"net.ipv4.tcp_synack_retries":      "5",
		"net.ipv4.tcp_syncookies":          "1",
		"net.ipv4.tcp_abort_on_overflow":   "0",
		"net.ipv4.tcp_keepalive_time":      "7200",
	}
	if !maps.Equal(s.Raw, wantRaw) {
		t.Errorf("Raw = %q, want %q", s.Raw, wantRaw)
	}
	if s.Reserved != nil || s.Somaxconn != 4096 || s.FinTimeout != 60 || s.TwReuse != 2 || s.MaxOrphans != 0 {
		t.Errorf("ReadSysctls = %+v", s)
	}

	c, warns := strs(p.ReadCounters())
	if c == nil {
		t.Fatal("nil counters")
	}
	if len(c) != 15 || c["CurrEstab"] != 42 || c["MaxConn"] != -1 {
		t.Errorf("counters = %v, want the 15 Tcp ones", c)
	}
	if len(warns) != 1 || !strings.HasPrefix(warns[0], "counters: open ") || !strings.Contains(warns[0], "netstat") {
		t.Errorf("warnings = %q, want one about netstat", warns)
	}

	ss, warns := strs(p.ReadSockstat())
	if ss != (Sockstat{}) || len(warns) != 1 || !strings.HasPrefix(warns[0], "sockstat: open ") {
		t.Errorf("ReadSockstat = %+v, %q", ss, warns)
	}

	c, warns = strs(ProcFS{Root: filepath.Join(t.TempDir(), "nonexistent")}.ReadCounters())
	if c == nil || len(c) != 0 || len(warns) != 2 {
		t.Errorf("ReadCounters on nothing = %v, %q", c, warns)
	}
}

// writeTree creates files (relative path -> content) below a new temporary root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestProcfsMalformed(t *testing.T) {
	root := writeTree(t, map[string]string{
		"sys/net/ipv4/ip_local_port_range":     "60999\t32768\n",
		"sys/net/ipv4/ip_local_reserved_ports": "8080,\n",
		"sys/net/core/somaxconn":               "lots\n",
		"sys/net/ipv4/tcp_tw_reuse":            "\n",
		"sys/net/ipv4/tcp_fin_timeout":         " 30 \n",
		// Header/value mismatch after a good first pair.
		"thread-self/net/netstat": "TcpExt: A B\nTcpExt: 1 2\nTcpExt: C D\nTcpExt: 3\n",
		// A Tcp name that collides with a TcpExt one.
		"thread-self/net/snmp":     "Tcp: A CurrEstab\nTcp: 10 5\n",
		"thread-self/net/sockstat": "sockets: used 1\nTCP: inuse 1 orphan\n",
	})
	p := ProcFS{Root: root + "/"} // a trailing slash is fine

	s, warns := strs(p.ReadSysctls())
	if s.PortRangeParsed || s.Reserved != nil || s.Somaxconn != 0 || s.FinTimeout != 30 {
		t.Errorf("ReadSysctls = %+v", s)
	}
	if want := map[string]string{"net.ipv4.tcp_fin_timeout": "30"}; !maps.Equal(s.Raw, want) {
		t.Errorf("Raw = %q, want %q", s.Raw, want)
	}
	wantWarn := []string{
		`sysctl net.ipv4.ip_local_port_range: port range "60999 32768": low end above high end`,
		`sysctl net.ipv4.ip_local_reserved_ports: reserved ports: "" is not a port or lo-hi range in 0..65535`,
		`sysctl net.core.somaxconn: "lots" is not an integer`,
		`sysctl net.ipv4.tcp_tw_reuse: "" is not an integer`,
	}
	parseWarns := slices.DeleteFunc(slices.Clone(warns), func(w string) bool { return strings.Contains(w, ": open ") })
	if !slices.Equal(parseWarns, wantWarn) {
		t.Errorf("warnings =\n%s\nwant first\n%s", strings.Join(warns, "\n"), strings.Join(wantWarn, "\n"))
	}
	// Four malformed, the other nine absent from the tree.
	if len(s.Missing) != 13 || len(warns) != 13 {
		t.Errorf("Missing = %q (%d warnings), want 13", s.Missing, len(warns))
	}

	c, warns := strs(p.ReadCounters())
	if want := map[string]int64{"A": 1, "B": 2, "Tcp.A": 10, "CurrEstab": 5}; !maps.Equal(c, want) {
		t.Errorf("counters = %v, want %v", c, want)
	}
	if len(warns) != 1 || warns[0] != "counters: "+root+"/thread-self/net/netstat: line 4: TcpExt: 1 values for 2 names (header at line 3)" {
		t.Errorf("warnings = %q", warns)
	}

	ss, warns := strs(p.ReadSockstat())
	if ss != (Sockstat{}) || len(warns) != 1 || !strings.Contains(warns[0], "line 2") {
		t.Errorf("ReadSockstat = %+v, %q", ss, warns)
	}

	root = writeTree(t, map[string]string{"thread-self/net/netstat": "IpExt: A\nIpExt: 1\n"})
	_, warns = strs(ProcFS{Root: root}.ReadCounters())
	if len(warns) != 2 || !strings.HasSuffix(warns[0], "netstat: no TcpExt lines") {
		t.Errorf("warnings = %q", warns)
	}
}

// sysctlN reads a tunable the way `sysctl -n` does, using the sysctl binary
// when there is one.
func sysctlN(t *testing.T, name string) string {
	t.Helper()
	var out []byte
	var err error
	if bin, lerr := exec.LookPath("sysctl"); lerr == nil {
		out, err = exec.Command(bin, "-n", name).Output()
	} else {
		out, err = os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	}
	if err != nil {
		t.Fatalf("sysctl -n %s: %v", name, err)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

func TestProcfsRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/thread-self/net/netstat"); err != nil {
		t.Skip("no /proc/thread-self/net:", err)
	}
	// thread-self must name a thread of this process's netns; keep the
	// goroutine on one thread anyway in case another test entered a netns.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := ProcFS{Root: "/proc"}

	s, warns := strs(p.ReadSysctls())
	if len(warns) != 0 || len(s.Missing) != 0 {
		t.Fatalf("warnings %q, missing %q", warns, s.Missing)
	}
	for _, f := range sysctlFiles {
		if got, want := s.Raw[f.name], sysctlN(t, f.name); got != want {
			t.Errorf("%s = %q, sysctl -n says %q", f.name, got, want)
		}
	}
	if !s.PortRangeParsed || s.PortLow < 1 || s.PortLow > s.PortHigh {
		t.Errorf("port range %d-%d parsed %v", s.PortLow, s.PortHigh, s.PortRangeParsed)
	}
	if got := strings.Fields(s.Raw["net.ipv4.ip_local_port_range"]); len(got) != 2 ||
		got[0] != strconv.Itoa(s.PortLow) || got[1] != strconv.Itoa(s.PortHigh) {
		t.Errorf("port range fields %d-%d disagree with raw %q", s.PortLow, s.PortHigh, got)
	}
	for _, f := range sysctlFiles {
		if f.kind == sysctlInt {
			if got := strconv.Itoa(*f.field(&s)); got != s.Raw[f.name] {
				t.Errorf("%s field %s, raw %q", f.name, got, s.Raw[f.name])
			}
		}
	}

	c, warns := strs(p.ReadCounters())
	if len(warns) != 0 {
		t.Errorf("warnings %q", warns)
	}
	for _, name := range []string{"ListenOverflows", "ListenDrops", "TCPTimeWaitOverflow",
		"TWRecycled", "TW", "TCPAbortOnData", "TCPAbortOnClose", "ActiveOpens", "PassiveOpens",
		"AttemptFails", "EstabResets", "CurrEstab", "RetransSegs"} {
		if v, ok := c[name]; !ok || v < 0 {
			t.Errorf("counter %s = %d, %v", name, v, ok)
		}
	}
	if c["MaxConn"] != -1 {
		t.Errorf("MaxConn = %d, want -1 (the kernel's constant)", c["MaxConn"])
	}

	// A listener of our own must show in TCP inuse (IPv4 only).
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ss, warns := strs(p.ReadSockstat())
	if len(warns) != 0 || ss.InUse < 1 || ss.SocketsUsed < 1 || ss.Alloc < 1 {
		t.Errorf("ReadSockstat = %+v, %q", ss, warns)
	}
}

func BenchmarkReadCounters(b *testing.B) {
	p := ProcFS{Root: fixtureRoot}
	b.ReportAllocs()
	for b.Loop() {
		c, warns := strs(p.ReadCounters())
		if len(warns) != 0 || len(c) == 0 {
			b.Fatal(warns)
		}
	}
}

func TestParseNoFileLimit(t *testing.T) {
	const head = "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max cpu time              unlimited            unlimited            seconds   \n"
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{head + "Max open files            1024                 524288               files     \n", 1024, false},
		{head + "Max open files            unlimited            unlimited            files     \n", -1, false},
		{head + "Max open files            20000                20000                files", 20000, false},
		{head, 0, true},
		{head + "Max open files            lots                 524288               files     \n", 0, true},
		{head + "Max open files            -5                   524288               files     \n", 0, true},
		{"", 0, true},
	} {
		got, err := ParseNoFileLimit([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseNoFileLimit(%q) = %d, %v; want %d, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// strs passes v through and turns the warnings into their printed text.
func strs[T any](v T, ws []Warning) (T, []string) { return v, WarningStrings(ws) }
