package record

import (
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/tcptop/tcptop/source"
)

// Every tcp_info field after Len, set to a value no other field has,
// comes back from a frame, and is written at its place in the struct's
// order (the format's order): a field left out, swapped or added to
// TCPInfo without being recorded fails here.
func TestInfoEveryField(t *testing.T) {
	in := &source.TCPInfo{Len: 232}
	v := reflect.ValueOf(in).Elem()
	var want []uint64
	for i := 1; i < v.NumField(); i++ {
		f := v.Field(i)
		x := uint64(i + 1) // distinct, and fits every width
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
			x = 1
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(x)
		default:
			t.Fatalf("TCPInfo.%s is a %s: record it", v.Type().Field(i).Name, f.Kind())
		}
		want = append(want, x)
	}
	if len(want) != infoCount {
		t.Fatalf("TCPInfo has %d fields after Len, the format %d: append the new ones to infoValues and setInfo", len(want), infoCount)
	}
	b := appendInfo(nil, in)
	r := &cursor{b: b}
	if m, l, n := r.byte1(), r.uvarint(), r.uvarint(); m != 2 || l != 232 || n != infoCount {
		t.Fatalf("marker %d, len %d, count %d", m, l, n)
	}
	for i, w := range want {
		if got := r.uvarint(); got != w {
			t.Errorf("value %d (TCPInfo.%s) is %d, want %d", i, v.Type().Field(i+1).Name, got, w)
		}
	}
	if r.err != nil || len(r.b) != 0 {
		t.Fatalf("err %v, %d bytes left", r.err, len(r.b))
	}
	r = &cursor{b: b[1:]}
	if got := readInfo(r); !reflect.DeepEqual(got, in) {
		t.Errorf("read back\n got %+v\nwant %+v", got, in)
	}
}

// The straight-line encoding writes the bytes the accessor table it
// replaced wrote (kept below as the reference), for values of every
// width, and reads what that table wrote; an older file's shorter list
// and a newer one's longer list read as before.
func TestInfoBytesAsBefore(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		in := &source.TCPInfo{Len: rng.IntN(300)}
		v := reflect.ValueOf(in).Elem()
		for i := 1; i < v.NumField(); i++ {
			switch f := v.Field(i); f.Kind() {
			case reflect.Bool:
				f.SetBool(rng.IntN(2) == 1)
			default:
				f.SetUint(rng.Uint64() >> rng.IntN(64))
			}
		}
		got, want := appendInfo(nil, in), refAppendInfo(nil, in)
		if string(got) != string(want) {
			t.Fatalf("bytes differ for %+v:\n got %x\nwant %x", in, got, want)
		}
		for _, n := range []int{0, 10, 40, infoCount, infoCount + 3} {
			b := binary.AppendUvarint(nil, uint64(in.Len))
			b = binary.AppendUvarint(b, uint64(n))
			fs := refInfoFields(in)
			for i := range n {
				x := uint64(i * 7)
				if i < len(fs) {
					x = fs[i].get()
				}
				b = binary.AppendUvarint(b, x)
			}
			r := &cursor{b: b}
			got := readInfo(r)
			want := &source.TCPInfo{Len: in.Len}
			wf := refInfoFields(want)
			for i := range min(n, len(wf)) {
				wf[i].set(fs[i].get())
			}
			if r.err != nil || len(r.b) != 0 || !reflect.DeepEqual(got, want) {
				t.Fatalf("%d values: err %v, %d left\n got %+v\nwant %+v", n, r.err, len(r.b), got, want)
			}
		}
	}
}

// refAppendInfo and refInfoFields are the encoding as it was before the
// straight-line code, the reference the bytes are checked against.
func refAppendInfo(b []byte, in *source.TCPInfo) []byte {
	if in == nil {
		return append(b, 0)
	}
	b = append(b, 2)
	b = binary.AppendUvarint(b, uint64(in.Len))
	fs := refInfoFields(in)
	b = binary.AppendUvarint(b, uint64(len(fs)))
	for _, f := range fs {
		b = binary.AppendUvarint(b, f.get())
	}
	return b
}

type refInfoField struct {
	get func() uint64
	set func(uint64)
}

func u8f(p *uint8) refInfoField {
	return refInfoField{func() uint64 { return uint64(*p) }, func(v uint64) { *p = uint8(v) }}
}
func u16f(p *uint16) refInfoField {
	return refInfoField{func() uint64 { return uint64(*p) }, func(v uint64) { *p = uint16(v) }}
}
func u32f(p *uint32) refInfoField {
	return refInfoField{func() uint64 { return uint64(*p) }, func(v uint64) { *p = uint32(v) }}
}
func u64f(p *uint64) refInfoField {
	return refInfoField{func() uint64 { return *p }, func(v uint64) { *p = v }}
}
func boolf(p *bool) refInfoField {
	return refInfoField{func() uint64 {
		if *p {
			return 1
		}
		return 0
	}, func(v uint64) { *p = v != 0 }}
}

func refInfoFields(in *source.TCPInfo) []refInfoField {
	return []refInfoField{
		u8f(&in.State), u8f(&in.CAState), u8f(&in.Retransmits), u8f(&in.Probes), u8f(&in.Backoff),
		u8f(&in.Options), u8f(&in.SndWscale), u8f(&in.RcvWscale), boolf(&in.DeliveryRateAppLimited),
		u32f(&in.RTO), u32f(&in.ATO), u32f(&in.SndMSS), u32f(&in.RcvMSS), u32f(&in.Unacked), u32f(&in.Sacked),
		u32f(&in.Lost), u32f(&in.Retrans), u32f(&in.LastDataSent), u32f(&in.LastAckSent), u32f(&in.LastDataRecv),
		u32f(&in.LastAckRecv), u32f(&in.PMTU), u32f(&in.RcvSsthresh), u32f(&in.RTT), u32f(&in.RTTVar),
		u32f(&in.SndSsthresh), u32f(&in.SndCwnd), u32f(&in.AdvMSS), u32f(&in.Reordering), u32f(&in.RcvRTT),
		u32f(&in.RcvSpace), u32f(&in.TotalRetrans),
		u64f(&in.PacingRate), u64f(&in.MaxPacingRate), u64f(&in.BytesAcked), u64f(&in.BytesReceived),
		u32f(&in.SegsOut), u32f(&in.SegsIn), u32f(&in.NotsentBytes), u32f(&in.MinRTT), u32f(&in.DataSegsIn),
		u32f(&in.DataSegsOut), u64f(&in.DeliveryRate), u64f(&in.BusyTime), u64f(&in.RwndLimited),
		u64f(&in.SndbufLimited), u32f(&in.Delivered), u32f(&in.DeliveredCE), u64f(&in.BytesSent),
		u64f(&in.BytesRetrans), u32f(&in.DSACKDups), u32f(&in.ReordSeen), u32f(&in.RcvOOOPack),
		u32f(&in.SndWnd), u32f(&in.RcvWnd), u32f(&in.Rehash), u16f(&in.TotalRTO), u16f(&in.TotalRTORecoveries),
		u32f(&in.TotalRTOTime),
	}
}
