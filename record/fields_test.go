package record

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

// A recording holds the analyzer's input: every field of source.Sample
// (and of its sockets) must come back from a replay, or a replay judges
// from less than the live run did. The sample below sets every field; a
// field added to Sample or Socket and left zero here fails the test,
// which is the reminder to record it.
func TestEveryInputFieldIsRecorded(t *testing.T) {
	sk := source.Socket{Family: 2, State: source.Listen, Timer: 1, Retrans: 2,
		Local: netip.MustParseAddrPort("[fe80::1%eth0]:80"), Remote: netip.MustParseAddrPort("[fe80::2%eth0]:4000"),
		RecvQ: 3, SendQ: 128, Expires: 5, UID: 7, Inode: 9, Cookie: 11,
		Info:   &source.TCPInfo{Len: int(source.InfoTotalRTO), RTT: 1500, LastAckRecv: 9000, SndCwnd: 10, TotalRTO: 2},
		Owners: []int32{100}, OwnerInferred: true, Iface: 3, Drops: 12, DropsKnown: true}
	// The carried part (Partial.Carried of them) comes back as the
	// first sockets of one list: what a replay reads is the same list.
	var carried []source.Socket
	for i := range 4 {
		c := sk
		c.State, c.Cookie, c.Inode, c.Local = source.Established, uint64(100+i), uint32(200+i), netip.AddrPortFrom(sk.Local.Addr(), uint16(8000+i))
		carried = append(carried, c)
	}
	s := &source.Sample{
		Time: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), Host: "h", Netns: "n",
		Carried:        carried,
		Sockets:        []source.Socket{sk},
		Procs:          map[int32]*source.Process{100: {PID: 100, Start: 5, Name: "x", Cmdline: "x -y", User: "u", UID: 1, FDs: 4, FDLimit: 1024}},
		Groups:         map[int32][]int32{100: {100, 101}},
		Attributed:     true,
		Unreadable:     1,
		UnreadablePIDs: []int32{1},
		Privileged:     true,
		Sysctl:         source.Sysctls{PortLow: 1, PortHigh: 2, PortRangeParsed: true, Raw: map[string]string{"a": "b"}},
		Counters:       map[string]int64{"ListenDrops": 3},
		Sockstat:       source.Sockstat{InUse: 1, TW: 2},
		Took:           source.Timings{Dump: 1, Attribute: 2, Proc: 3, Total: 6},
		Warnings:       []source.Warning{{Kind: source.WarnAttribution, Err: errors.New("x")}},
		EBPF:           &source.EBPF{Loaded: true, Reason: "r", Now: 7},
		Partial:        &source.Partial{FullTime: time.Date(2026, 12, 1, 7, 59, 55, 0, time.UTC), Established: 5, Carried: 4, Counting: source.EstabWithCloseWait, Unchanged: true},
	}
	for _, v := range []reflect.Value{reflect.ValueOf(*s), reflect.ValueOf(sk)} {
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() && v.Field(i).IsZero() {
				t.Fatalf("%s.%s is not set in this test: set it, and record it", v.Type().Name(), f.Name)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "f.tcptop")
	w, err := Create(path, testHeader(), WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(s.Time) {
		t.Errorf("Time %v, want %v", got.Time, s.Time)
	}
	if !slices.Equal(source.WarningStrings(got.Warnings), source.WarningStrings(s.Warnings)) {
		t.Errorf("Warnings %q", source.WarningStrings(got.Warnings))
	}
	gv, wv := reflect.ValueOf(*got), reflect.ValueOf(*s)
	for i := range wv.NumField() {
		name := wv.Type().Field(i).Name
		switch name {
		case "Time", "Warnings":
			continue
		case "Carried", "Sockets":
			if !reflect.DeepEqual(got.Flat(), s.Flat()) || got.NumSockets() != s.NumSockets() {
				t.Errorf("the sockets do not come back from a recording:\n got %+v\nwant %+v", got.Flat(), s.Flat())
			}
			continue
		}
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			t.Errorf("%s does not come back from a recording:\n got %+v\nwant %+v", name, gv.Field(i).Interface(), wv.Field(i).Interface())
		}
	}
}
