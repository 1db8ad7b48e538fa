package record

import (
	"encoding/binary"

	"github.com/tcptop/tcptop/source"
)

// tcp_info in a frame: marker 2, the kernel's attribute length (Len, so a
// replay knows which fields this kernel sent), a count N, then N values,
// each a uvarint, in the order of source.TCPInfo's fields after Len (a
// bool is 0 or 1). The list only ever grows at its end: a newer tcptop
// reads an older file's N values and leaves the rest zero (beyond Len
// anyway), an older one skips values it does not know. Marker 1 is the
// first layout (ten fields, no length), still read.
//
// The fields are written and read by straight-line code over a fixed
// array, not a table of accessors: at 100k sockets the CLOSE_WAIT ones
// carry tcp_info whose LastAckRecv moves every poll, so this runs for
// thousands of sockets a poll, and building closures per call was a
// sixth of the flight recorder's whole cost (issue 18). infoValues and
// setInfo must list the same fields in the same order; the tests check
// every field against the struct's order.

// infoCount is N: how many tcp_info values this tcptop writes. Append new
// fields at the end only (the format's compatibility rests on it).
const infoCount = 59

// infoValues is in's stored fields, in their fixed order.
func infoValues(in *source.TCPInfo) [infoCount]uint64 {
	var limited uint64
	if in.DeliveryRateAppLimited {
		limited = 1
	}
	return [infoCount]uint64{
		uint64(in.State), uint64(in.CAState), uint64(in.Retransmits), uint64(in.Probes), uint64(in.Backoff),
		uint64(in.Options), uint64(in.SndWscale), uint64(in.RcvWscale), limited,
		uint64(in.RTO), uint64(in.ATO), uint64(in.SndMSS), uint64(in.RcvMSS), uint64(in.Unacked), uint64(in.Sacked),
		uint64(in.Lost), uint64(in.Retrans), uint64(in.LastDataSent), uint64(in.LastAckSent), uint64(in.LastDataRecv),
		uint64(in.LastAckRecv), uint64(in.PMTU), uint64(in.RcvSsthresh), uint64(in.RTT), uint64(in.RTTVar),
		uint64(in.SndSsthresh), uint64(in.SndCwnd), uint64(in.AdvMSS), uint64(in.Reordering), uint64(in.RcvRTT),
		uint64(in.RcvSpace), uint64(in.TotalRetrans),
		in.PacingRate, in.MaxPacingRate, in.BytesAcked, in.BytesReceived,
		uint64(in.SegsOut), uint64(in.SegsIn), uint64(in.NotsentBytes), uint64(in.MinRTT), uint64(in.DataSegsIn),
		uint64(in.DataSegsOut), in.DeliveryRate, in.BusyTime, in.RwndLimited,
		in.SndbufLimited, uint64(in.Delivered), uint64(in.DeliveredCE), in.BytesSent,
		in.BytesRetrans, uint64(in.DSACKDups), uint64(in.ReordSeen), uint64(in.RcvOOOPack),
		uint64(in.SndWnd), uint64(in.RcvWnd), uint64(in.Rehash), uint64(in.TotalRTO), uint64(in.TotalRTORecoveries),
		uint64(in.TotalRTOTime),
	}
}

// setInfo stores v into in's fields, in infoValues' order (each value cut
// to its field's width, as it was written).
func setInfo(in *source.TCPInfo, v *[infoCount]uint64) {
	in.State, in.CAState, in.Retransmits, in.Probes, in.Backoff = uint8(v[0]), uint8(v[1]), uint8(v[2]), uint8(v[3]), uint8(v[4])
	in.Options, in.SndWscale, in.RcvWscale, in.DeliveryRateAppLimited = uint8(v[5]), uint8(v[6]), uint8(v[7]), v[8] != 0
	in.RTO, in.ATO, in.SndMSS, in.RcvMSS, in.Unacked, in.Sacked = uint32(v[9]), uint32(v[10]), uint32(v[11]), uint32(v[12]), uint32(v[13]), uint32(v[14])
	in.Lost, in.Retrans, in.LastDataSent, in.LastAckSent, in.LastDataRecv = uint32(v[15]), uint32(v[16]), uint32(v[17]), uint32(v[18]), uint32(v[19])
	in.LastAckRecv, in.PMTU, in.RcvSsthresh, in.RTT, in.RTTVar = uint32(v[20]), uint32(v[21]), uint32(v[22]), uint32(v[23]), uint32(v[24])
	in.SndSsthresh, in.SndCwnd, in.AdvMSS, in.Reordering, in.RcvRTT = uint32(v[25]), uint32(v[26]), uint32(v[27]), uint32(v[28]), uint32(v[29])
	in.RcvSpace, in.TotalRetrans = uint32(v[30]), uint32(v[31])
	in.PacingRate, in.MaxPacingRate, in.BytesAcked, in.BytesReceived = v[32], v[33], v[34], v[35]
	in.SegsOut, in.SegsIn, in.NotsentBytes, in.MinRTT, in.DataSegsIn = uint32(v[36]), uint32(v[37]), uint32(v[38]), uint32(v[39]), uint32(v[40])
	in.DataSegsOut, in.DeliveryRate, in.BusyTime, in.RwndLimited = uint32(v[41]), v[42], v[43], v[44]
	in.SndbufLimited, in.Delivered, in.DeliveredCE, in.BytesSent = v[45], uint32(v[46]), uint32(v[47]), v[48]
	in.BytesRetrans, in.DSACKDups, in.ReordSeen, in.RcvOOOPack = v[49], uint32(v[50]), uint32(v[51]), uint32(v[52])
	in.SndWnd, in.RcvWnd, in.Rehash, in.TotalRTO, in.TotalRTORecoveries = uint32(v[53]), uint32(v[54]), uint32(v[55]), uint16(v[56]), uint16(v[57])
	in.TotalRTOTime = uint32(v[58])
}

// appendInfo writes in (nil: marker 0).
func appendInfo(b []byte, in *source.TCPInfo) []byte {
	if in == nil {
		return append(b, 0)
	}
	b = append(b, 2)
	b = binary.AppendUvarint(b, uint64(in.Len))
	b = binary.AppendUvarint(b, infoCount)
	for _, v := range infoValues(in) {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

// readInfo reads a marker-2 tcp_info after its marker: values past
// infoCount (a newer tcptop's) are skipped, missing ones stay zero.
func readInfo(r *cursor) *source.TCPInfo {
	in := &source.TCPInfo{Len: int(min(r.uvarint(), 1<<16))}
	n := r.uvarint()
	var v [infoCount]uint64
	for i := uint64(0); i < n && r.err == nil; i++ {
		x := r.uvarint()
		if i < infoCount {
			v[i] = x
		}
	}
	setInfo(in, &v)
	return in
}
