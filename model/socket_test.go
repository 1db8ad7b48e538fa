package model

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

// tenThousand builds 10,000 ESTABLISHED and CLOSE_WAIT sockets; at sec 0
// only the socket with cookie old exists, the rest come at sec 5. The
// socket with cookie deep has the biggest Recv-Q.
func tenThousand(sec float64, old, deep uint64) poll {
	return poll{sec: sec, build: func(b *sb) {
		for i := range 10000 {
			c := uint64(i + 1)
			if sec == 0 && c != old {
				continue
			}
			st := source.Established
			if i%3 == 0 {
				st = source.CloseWait
			}
			sk := b.add(st, fmt.Sprintf("10.0.0.1:%d", 1024+i), "10.0.0.9:80", uint32(i+1), []int32{10}, false)
			sk.Cookie = c
			sk.RecvQ = uint32(i % 100)
			if c == deep {
				sk.RecvQ = 1 << 20
			}
		}
	}}
}

func TestSortTenThousandSockets(t *testing.T) {
	const old, deep = 4322, 777 // old is ESTABLISHED
	a := NewAnalyzer(DefaultThresholds())
	a.Next(tenThousand(0, old, deep).sample(), Options{})
	snap := a.Next(tenThousand(5, old, deep).sample(), Options{})
	idx := snap.Sockets()
	if len(idx) != 10000 {
		t.Fatalf("%d sockets", len(idx))
	}
	socks := snap.Sample.Sockets
	snap.SortSockets(idx, SocketSort{By: SocketByAge})
	if got := socks[idx[0]]; got.Cookie != old || got.State != source.Established {
		t.Errorf("oldest first: cookie %d %v, want %d ESTABLISHED", got.Cookie, got.State, uint64(old))
	}
	if age, _ := snap.SocketAge(&socks[idx[0]]); age != 5*time.Second {
		t.Errorf("oldest age %v, want 5s", age)
	}
	snap.SortSockets(idx, SocketSort{By: SocketByRecvQ})
	if got := socks[idx[0]]; got.Cookie != deep {
		t.Errorf("biggest Recv-Q first: cookie %d, want %d", got.Cookie, uint64(deep))
	}
	snap.SortSockets(idx, SocketSort{By: SocketByRecvQ, Reverse: true})
	if got := socks[idx[0]]; got.RecvQ != 0 {
		t.Errorf("reversed: Recv-Q %d first, want 0", got.RecvQ)
	}
	snap.SortSockets(idx, SocketSort{By: SocketByState})
	if socks[idx[0]].State != source.Established || socks[idx[len(idx)-1]].State != source.CloseWait {
		t.Errorf("state order: %v ... %v", socks[idx[0]].State, socks[idx[len(idx)-1]].State)
	}
	// Filtered lists sort the same way.
	f, _ := ParseFilter("state:CLOSE_WAIT")
	fs := Rebuild(snap, Options{Filter: f})
	fi := fs.Sockets()
	if len(fi) != 3334 {
		t.Errorf("filtered: %d sockets, want 3334", len(fi))
	}
}

func TestParseSocketSort(t *testing.T) {
	for in, want := range map[string]SocketSort{
		"age": {By: SocketByAge}, "-recv-q": {By: SocketByRecvQ, Reverse: true}, "RecvQ": {By: SocketByRecvQ},
		"send_q": {By: SocketBySendQ}, "rtt": {By: SocketByRTT}, "retrans": {By: SocketByRetrans}, "": {},
	} {
		got, err := ParseSocketSort(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
		if err == nil && in != "" {
			if back, _ := ParseSocketSort(got.String()); back != got {
				t.Errorf("%q does not read back", got.String())
			}
		}
	}
	if _, err := ParseSocketSort("bogus"); err == nil {
		t.Error("bogus order accepted")
	}
}

// Fields past this kernel's tcp_info are absent from the JSON, not 0.
func TestSocketRowsInfoGated(t *testing.T) {
	snap := analyze(DefaultThresholds(), poll{build: func(b *sb) {
		sk := b.add(source.Established, "10.0.0.1:5000", "10.0.0.9:80", 1, []int32{10}, false)
		sk.Info = &source.TCPInfo{Len: int(source.InfoDeliveryRate), RTT: 1500, DeliveryRate: 1000, BytesAcked: 7}
		sk2 := b.add(source.Established, "10.0.0.1:5001", "10.0.0.9:80", 2, []int32{10}, false)
		sk2.Info = &source.TCPInfo{Len: int(source.InfoBase), RTT: 2500}
	}})
	rows := snap.SocketRows(snap.Sockets(), true)
	b, _ := json.Marshal(rows)
	s := string(b)
	for _, want := range []string{`"rtt_us":1500`, `"delivery_rate_bps":1000`, `"bytes_acked":7`, `"rtt_us":2500`, `"owners":[{"pid":10,"name":"nginx"}]`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s: %s", want, s)
		}
	}
	if strings.Count(s, "delivery_rate_bps") != 1 || strings.Contains(s, "busy_time_us") {
		t.Errorf("a field this kernel lacks is in the JSON: %s", s)
	}
	if rows := snap.SocketRows(snap.Sockets(), false); rows[0].Info != nil {
		t.Error("tcp_info without --info")
	}
}

func detail(sec float64, st source.State, in source.TCPInfo) source.Detail {
	in.Len = int(source.InfoTotalRTO)
	return source.Detail{Socket: source.Socket{State: st, Info: &in}, Time: t0.Add(time.Duration(sec * float64(time.Second)))}
}

func TestVerdict(t *testing.T) {
	cases := []struct {
		name string
		a, b source.TCPInfo
		st   source.State
		want Limit
	}{
		{"idle", source.TCPInfo{BytesSent: 10}, source.TCPInfo{BytesSent: 10}, source.Established, LimitIdle},
		{"receiver", source.TCPInfo{BytesSent: 0}, source.TCPInfo{BytesSent: 1e6, BusyTime: 1e6, RwndLimited: 8e5}, source.Established, LimitReceiver},
		{"sndbuf", source.TCPInfo{}, source.TCPInfo{BytesSent: 1e6, BusyTime: 1e6, SndbufLimited: 9e5}, source.Established, LimitSendBuffer},
		{"loss", source.TCPInfo{}, source.TCPInfo{BytesSent: 1e6, BusyTime: 1e6, TotalRetrans: 40, SegsOut: 1000, SndCwnd: 4, Unacked: 4}, source.Established, LimitNetwork},
		{"app", source.TCPInfo{}, source.TCPInfo{BytesSent: 1000, BusyTime: 1e3, SndCwnd: 10, Unacked: 1}, source.Established, LimitApplication},
		{"stalled", source.TCPInfo{}, source.TCPInfo{Retransmits: 3, Unacked: 2}, source.Established, LimitStalled},
		{"close-wait", source.TCPInfo{}, source.TCPInfo{}, source.CloseWait, LimitClosing},
	}
	for _, c := range cases {
		var w SocketWatch
		w.Add(detail(0, c.st, c.a))
		w.Add(detail(2, c.st, c.b))
		v := w.Verdict()
		if v.Limit != c.want || v.Text == "" {
			t.Errorf("%s: %v %q, want %v", c.name, v.Limit, v.Text, c.want)
		}
	}
	var w SocketWatch
	if v := w.Verdict(); v.Limit != LimitUnknown {
		t.Errorf("empty watch: %v", v)
	}
	for i := range SparkPoints + 10 {
		w.Add(detail(float64(i), source.Established, source.TCPInfo{RTT: uint32(i), TotalRetrans: uint32(2 * i)}))
	}
	s := w.Series()
	if len(w.Samples) != SparkPoints || len(s.RTT) != SparkPoints || s.Retrans[1] != 2 || s.Retrans[0] != 0 {
		t.Errorf("series: %d samples, retrans %v", len(w.Samples), s.Retrans[:3])
	}
}

func TestPlanKill(t *testing.T) {
	snap := analyze(DefaultThresholds(), poll{build: func(b *sb) {
		b.add(source.Listen, "10.0.0.1:22", "0.0.0.0:0", 1, []int32{30}, false)
		b.add(source.Established, "10.0.0.1:22", "192.0.2.7:50022", 2, []int32{20}, false)
		b.add(source.CloseWait, "10.0.0.1:80", "10.0.0.9:1000", 3, []int32{10}, false)
		b.add(source.CloseWait, "10.0.0.1:80", "10.0.0.9:1001", 4, []int32{10}, false)
	}})
	all := snap.Sockets()
	p := snap.PlanKill(all, false, "192.0.2.7 50022 10.0.0.1 22")
	if len(p.Sockets) != 3 || p.KeptListeners != 1 || p.Listeners != 0 || p.CloseWait != 2 {
		t.Errorf("plan without listeners: %+v", p)
	}
	if p.OwnSSH < 0 || p.Sockets[p.OwnSSH].Remote.Port() != 50022 {
		t.Errorf("own SSH connection not found: %d", p.OwnSSH)
	}
	if got := p.StatesText(); got != "1 ESTABLISHED, 2 CLOSE_WAIT" {
		t.Errorf("states %q", got)
	}
	if len(p.Owners) != 2 || p.Owners[0].Name != "nginx" {
		t.Errorf("owners %v", p.Owners)
	}
	p = snap.PlanKill(all, true, "")
	if p.Listeners != 1 || len(p.Sockets) != 4 || p.OwnSSH != -1 {
		t.Errorf("plan with listeners: %+v", p)
	}
}
