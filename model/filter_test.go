package model

import (
	"strings"
	"testing"

	"github.com/tcptop/tcptop/source"
)

func TestFilterMatch(t *testing.T) {
	php := &source.Socket{State: source.CloseWait, Local: ap("127.0.0.1:35000"), Remote: ap("127.0.0.1:6379"), Owners: []int32{20}}
	tw := &source.Socket{State: source.TimeWait, Local: ap("10.0.0.1:33000"), Remote: ap("192.0.2.10:443")}
	v6 := &source.Socket{State: source.Established, Local: ap("[::ffff:10.0.0.1]:80"), Remote: ap("[::ffff:10.9.8.7]:5000"), Owners: []int32{10}}
	cases := []struct {
		expr string
		sock *source.Socket
		want bool
	}{
		{"", tw, true},
		{"port:443", tw, true},
		{"port:33000", tw, true},
		{"sport:443", tw, false},
		{"dport:443", tw, true},
		{"dport:80,443", tw, true},
		{"state:TIME_WAIT", tw, true},
		{"state:time-wait", tw, true},
		{"state:CLOSE_WAIT", tw, false},
		{"state:CLOSE_WAIT,TIME_WAIT", tw, true},
		{"state:TIME_WAIT dport:80", tw, false},
		{"proc:php", php, true},
		{"proc:PHP", php, true},
		{"proc:nginx", php, false},
		{"proc:php", tw, false},
		{"pid:20", php, true},
		{"pid:21", php, false},
		{"addr:192.0.2.10", tw, true},
		{"addr:192.0.2.0/24", tw, true},
		{"addr:198.51.100.0/24", tw, false},
		{"10.0.0.0/8", v6, true},
		{"10.9.8.7", v6, true},
		{"addr:::ffff:10.9.8.7", v6, true},
		{"php", php, true},
		{"redis", php, false},
		{"192.0.2", tw, true},
		{"::1", tw, false},
	}
	for _, c := range cases {
		f, err := ParseFilter(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		if got := f.Match(c.sock, procs); got != c.want {
			t.Errorf("%q on %v %v->%v: %v, want %v", c.expr, c.sock.State, c.sock.Local, c.sock.Remote, got, c.want)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"port:abc":        `bad filter term "port:abc": "abc" is not a port number (0-65535)`,
		"port:70000":      `"70000" is not a port number`,
		"state:BOGUS":     `"BOGUS" is not a TCP state`,
		"color:red":       `unknown key "color:"`,
		"addr:10.0.0.300": `"10.0.0.300" is not an IP address or CIDR prefix`,
		"pid:-3":          `"-3" is not a pid`,
		"port:":           `empty value after "port:"`,
		"dport:80,":       `empty value after "dport:"`,
	} {
		_, err := ParseFilter(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", expr, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: multi-line error", expr)
		}
	}
}

func TestParseSortKey(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		state   source.State
		reverse bool
	}{
		{"", "total", 0, false},
		{"TOTAL", "total", 0, false},
		{"time_wait", "TIME_WAIT", source.TimeWait, false},
		{"CLOSE-WAIT", "CLOSE_WAIT", source.CloseWait, false},
		{"established", "ESTABLISHED", source.Established, false},
		{"-total", "-total", 0, true},
		{"-TOTAL", "-total", 0, true},
		{"-TIME_WAIT", "-TIME_WAIT", source.TimeWait, true},
		{"-time-wait", "-TIME_WAIT", source.TimeWait, true},
		{"-closewait", "-CLOSE_WAIT", source.CloseWait, true},
	}
	for _, c := range cases {
		k, err := ParseSortKey(c.in)
		if err != nil || k.String() != c.want || k.State != c.state || k.Reverse != c.reverse {
			t.Errorf("%q: %+v %v, want %s", c.in, k, err, c.want)
		}
	}
	for _, in := range []string{"bogus", "-", "--total", "--TIME_WAIT", "-bogus", "+total", "total-"} {
		if k, err := ParseSortKey(in); err == nil {
			t.Errorf("%q accepted as %+v", in, k)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: multi-line error", in)
		}
	}
}

func TestSortColumns(t *testing.T) {
	var got []string
	for _, k := range SortColumns() {
		if k.Reverse {
			t.Errorf("%v is reversed", k)
		}
		got = append(got, k.String())
		// Every key and its reverse survive String and ParseSortKey.
		for _, k := range []SortKey{k, {State: k.State, Reverse: true}} {
			back, err := ParseSortKey(k.String())
			if err != nil || back != k {
				t.Errorf("%+v -> %q -> %+v %v", k, k.String(), back, err)
			}
		}
	}
	want := "ESTABLISHED TIME_WAIT CLOSE_WAIT SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 LAST_ACK total"
	if strings.Join(got, " ") != want {
		t.Errorf("SortColumns = %v, want %s", got, want)
	}
	// Callers may modify the slice.
	SortColumns()[0].Reverse = true
	if SortColumns()[0].Reverse {
		t.Error("SortColumns shares its slice")
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"port:443 proc:php state:CLOSE_WAIT 10.0.0.0/8", "addr:::1", "dport:80,443", "state:time-wait,LISTEN pid:1", "[::1]", "x:y:z", "port:,", "addr:1.2.3.4/33"} {
		f.Add(s)
	}
	sock := &source.Socket{State: source.TimeWait, Local: ap("10.0.0.1:33000"), Remote: ap("192.0.2.10:443"), Owners: []int32{20}}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := ParseFilter(expr)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error for %q", expr)
			}
			return
		}
		flt.Match(sock, procs)
		// The normalised form parses to the same filter.
		again, err := ParseFilter(flt.String())
		if err != nil || again.String() != flt.String() {
			t.Fatalf("normalised %q does not round-trip: %v", flt.String(), err)
		}
	})
}
