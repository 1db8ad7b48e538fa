package model

import (
	"fmt"
	"time"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/source"
)

// InfoJSON is a socket's tcp_info in the JSON "sockets" array (--info).
// Fields this kernel does not send are absent, never 0. Units are in the
// names: _us microseconds, _ms milliseconds (last_*: ago), _bps bytes per
// second; cwnd and ssthresh are segments.
type InfoJSON struct {
	CAState      uint8  `json:"ca_state"`
	Retransmits  uint8  `json:"retransmits"` // current backoff
	Probes       uint8  `json:"probes"`
	Backoff      uint8  `json:"backoff"`
	RTOUS        uint32 `json:"rto_us"`
	ATOUS        uint32 `json:"ato_us"`
	SndMSS       uint32 `json:"snd_mss"`
	RcvMSS       uint32 `json:"rcv_mss"`
	Unacked      uint32 `json:"unacked"`
	Sacked       uint32 `json:"sacked"`
	Lost         uint32 `json:"lost"`
	Retrans      uint32 `json:"retrans"`
	LastSendMS   uint32 `json:"last_data_sent_ms"`
	LastRecvMS   uint32 `json:"last_data_recv_ms"`
	LastAckMS    uint32 `json:"last_ack_recv_ms"`
	PMTU         uint32 `json:"pmtu"`
	RTTUS        uint32 `json:"rtt_us"`
	RTTVarUS     uint32 `json:"rttvar_us"`
	SndSsthresh  uint32 `json:"snd_ssthresh"`
	SndCwnd      uint32 `json:"snd_cwnd"`
	AdvMSS       uint32 `json:"advmss"`
	Reordering   uint32 `json:"reordering"`
	RcvRTTUS     uint32 `json:"rcv_rtt_us"`
	RcvSpace     uint32 `json:"rcv_space"`
	TotalRetrans uint32 `json:"total_retrans"`

	PacingRate    *uint64 `json:"pacing_rate_bps,omitempty"`
	MaxPacingRate *uint64 `json:"max_pacing_rate_bps,omitempty"`
	BytesAcked    *uint64 `json:"bytes_acked,omitempty"`
	BytesReceived *uint64 `json:"bytes_received,omitempty"`
	SegsOut       *uint32 `json:"segs_out,omitempty"`
	SegsIn        *uint32 `json:"segs_in,omitempty"`
	NotsentBytes  *uint32 `json:"notsent_bytes,omitempty"`
	MinRTTUS      *uint32 `json:"min_rtt_us,omitempty"`
	DeliveryRate  *uint64 `json:"delivery_rate_bps,omitempty"`
	AppLimited    *bool   `json:"delivery_rate_app_limited,omitempty"`
	BusyUS        *uint64 `json:"busy_time_us,omitempty"`
	RwndLimitedUS *uint64 `json:"rwnd_limited_us,omitempty"`
	SndbufLimUS   *uint64 `json:"sndbuf_limited_us,omitempty"`
	Delivered     *uint32 `json:"delivered,omitempty"`
	BytesSent     *uint64 `json:"bytes_sent,omitempty"`
	BytesRetrans  *uint64 `json:"bytes_retrans,omitempty"`
	SndWnd        *uint32 `json:"snd_wnd,omitempty"`
	RcvWnd        *uint32 `json:"rcv_wnd,omitempty"`
	TotalRTO      *uint16 `json:"total_rto,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// NewInfoJSON converts tcp_info, gating each field on the kernel's length.
func NewInfoJSON(in *source.TCPInfo) *InfoJSON {
	j := &InfoJSON{
		CAState: in.CAState, Retransmits: in.Retransmits, Probes: in.Probes, Backoff: in.Backoff,
		RTOUS: in.RTO, ATOUS: in.ATO, SndMSS: in.SndMSS, RcvMSS: in.RcvMSS,
		Unacked: in.Unacked, Sacked: in.Sacked, Lost: in.Lost, Retrans: in.Retrans,
		LastSendMS: in.LastDataSent, LastRecvMS: in.LastDataRecv, LastAckMS: in.LastAckRecv,
		PMTU: in.PMTU, RTTUS: in.RTT, RTTVarUS: in.RTTVar, SndSsthresh: in.SndSsthresh,
		SndCwnd: in.SndCwnd, AdvMSS: in.AdvMSS, Reordering: in.Reordering, RcvRTTUS: in.RcvRTT,
		RcvSpace: in.RcvSpace, TotalRetrans: in.TotalRetrans,
	}
	if in.Has(source.InfoPacingRate) {
		j.PacingRate, j.MaxPacingRate = ptr(in.PacingRate), ptr(in.MaxPacingRate)
	}
	if in.Has(source.InfoBytesAcked) {
		j.BytesAcked, j.BytesReceived = ptr(in.BytesAcked), ptr(in.BytesReceived)
	}
	if in.Has(source.InfoSegs) {
		j.SegsOut, j.SegsIn = ptr(in.SegsOut), ptr(in.SegsIn)
	}
	if in.Has(source.InfoNotsent) {
		j.NotsentBytes = ptr(in.NotsentBytes)
	}
	if in.Has(source.InfoMinRTT) {
		j.MinRTTUS = ptr(in.MinRTT)
	}
	if in.Has(source.InfoDeliveryRate) {
		j.DeliveryRate, j.AppLimited = ptr(in.DeliveryRate), ptr(in.DeliveryRateAppLimited)
	}
	if in.Has(source.InfoLimited) {
		j.BusyUS, j.RwndLimitedUS, j.SndbufLimUS = ptr(in.BusyTime), ptr(in.RwndLimited), ptr(in.SndbufLimited)
	}
	if in.Has(source.InfoDelivered) {
		j.Delivered = ptr(in.Delivered)
	}
	if in.Has(source.InfoBytesSent) {
		j.BytesSent, j.BytesRetrans = ptr(in.BytesSent), ptr(in.BytesRetrans)
	}
	if in.Has(source.InfoSndWnd) {
		j.SndWnd = ptr(in.SndWnd)
	}
	if in.Has(source.InfoRcvWnd) {
		j.RcvWnd = ptr(in.RcvWnd)
	}
	if in.Has(source.InfoTotalRTO) {
		j.TotalRTO = ptr(in.TotalRTO)
	}
	return j
}

// SocketWatch is what the socket detail keeps of one socket while it is
// open: its exact lookups, oldest first, at most SparkPoints. It is built
// by the front end from source.Detail values; it does no I/O.
type SocketWatch struct {
	// ID is the socket watched.
	ID source.SocketID
	// Samples are the lookups so far.
	Samples []source.Detail
	// Gone is set once a lookup said the socket no longer exists.
	Gone bool
}

// Add records one lookup.
func (w *SocketWatch) Add(d source.Detail) {
	w.Samples = append(w.Samples, d)
	if len(w.Samples) > SparkPoints {
		w.Samples = append(w.Samples[:0:0], w.Samples[len(w.Samples)-SparkPoints:]...)
	}
}

// Last is the newest lookup (nil before the first).
func (w *SocketWatch) Last() *source.Detail {
	if len(w.Samples) == 0 {
		return nil
	}
	return &w.Samples[len(w.Samples)-1]
}

// Series are the detail's sparklines: one value per lookup (per interval
// between lookups for Retrans), oldest first. A lookup without tcp_info
// gives 0.
type Series struct {
	RTT          []int // µs
	Cwnd         []int // segments
	DeliveryRate []int // bytes per second
	Retrans      []int // segments retransmitted since the previous lookup
}

// Series returns the watch's series.
func (w *SocketWatch) Series() Series {
	var s Series
	var prev *source.TCPInfo
	for i := range w.Samples {
		in := w.Samples[i].Socket.Info
		if in == nil {
			s.RTT, s.Cwnd, s.DeliveryRate, s.Retrans = append(s.RTT, 0), append(s.Cwnd, 0), append(s.DeliveryRate, 0), append(s.Retrans, 0)
			prev = nil
			continue
		}
		s.RTT = append(s.RTT, int(in.RTT))
		s.Cwnd = append(s.Cwnd, int(in.SndCwnd))
		s.DeliveryRate = append(s.DeliveryRate, int(in.DeliveryRate))
		d := 0
		if prev != nil && in.TotalRetrans >= prev.TotalRetrans {
			d = int(in.TotalRetrans - prev.TotalRetrans)
		}
		s.Retrans = append(s.Retrans, d)
		prev = in
	}
	return s
}

// Limit is what holds a flow back, as the verdict judges it.
type Limit string

// Verdicts.
const (
	LimitUnknown     Limit = "unknown"      // not enough lookups, or no tcp_info
	LimitIdle        Limit = "idle"         // nothing moved between lookups
	LimitReceiver    Limit = "receiver"     // the peer's receive window
	LimitSendBuffer  Limit = "send_buffer"  // our send buffer
	LimitApplication Limit = "application"  // the sender writes less than the path carries
	LimitNetwork     Limit = "network"      // loss / the congestion window
	LimitStalled     Limit = "stalled"      // retransmission timeouts in a row
	LimitLocalReader Limit = "local_reader" // our application does not read
	LimitClosing     Limit = "closing"      // CLOSE_WAIT: the peer is done, the app has not closed
)

// Verdict is one line on what limits a flow, from the deltas between the
// first and the last lookup of the window.
type Verdict struct {
	Limit Limit
	// Text is the line, in words (no glyphs).
	Text string
}

// VerdictWindow is how many recent lookups the verdict compares.
const VerdictWindow = 5

// Verdict judges the flow from the last VerdictWindow lookups.
func (w *SocketWatch) Verdict() Verdict {
	if w.Gone {
		return Verdict{LimitUnknown, "the socket is gone"}
	}
	last := w.Last()
	if last == nil {
		return Verdict{LimitUnknown, "waiting for the first lookup"}
	}
	sk := &last.Socket
	if sk.State == source.CloseWait {
		return Verdict{LimitClosing, "the peer closed its side; the application has not closed this socket (CLOSE_WAIT)"}
	}
	in := sk.Info
	if in == nil {
		return Verdict{LimitUnknown, "no tcp_info for a " + sk.State.String() + " socket"}
	}
	if in.Retransmits > 0 && in.Unacked > 0 {
		return Verdict{LimitStalled, fmt.Sprintf("stalled: %d retransmission timeouts in a row, nothing acknowledged since (is the peer reachable?)", in.Retransmits)}
	}
	if len(w.Samples) < 2 {
		return Verdict{LimitUnknown, "one lookup so far: the verdict needs two"}
	}
	first := &w.Samples[max(0, len(w.Samples)-VerdictWindow)]
	a := first.Socket.Info
	if a == nil {
		return Verdict{LimitUnknown, "no tcp_info in the window"}
	}
	dt := last.Time.Sub(first.Time)
	if dt <= 0 {
		dt = time.Millisecond
	}
	sent := sub64(in.BytesAcked, a.BytesAcked)
	if in.Has(source.InfoBytesSent) {
		sent = sub64(in.BytesSent, a.BytesSent)
	}
	recv := sub64(in.BytesReceived, a.BytesReceived)
	retrans := int64(in.TotalRetrans) - int64(a.TotalRetrans)
	secs := dt.Seconds()
	if sk.RecvQ > 0 && recv == 0 && in.LastDataRecv > 0 && sent == 0 {
		return Verdict{LimitLocalReader, fmt.Sprintf("the application is not reading: %d bytes wait in Recv-Q", sk.RecvQ)}
	}
	if sent == 0 && recv == 0 && sk.SendQ == 0 {
		return Verdict{LimitIdle, fmt.Sprintf("idle: nothing sent or received in the last %.0f s", secs)}
	}
	if in.Has(source.InfoLimited) {
		busy := sub64(in.BusyTime, a.BusyTime)
		rwnd := sub64(in.RwndLimited, a.RwndLimited)
		sndbuf := sub64(in.SndbufLimited, a.SndbufLimited)
		if busy > 0 || rwnd > 0 || sndbuf > 0 {
			total := float64(busy)
			switch {
			case float64(rwnd) >= 0.5*total:
				return Verdict{LimitReceiver, fmt.Sprintf("limited by the peer's receive window %.0f%% of the time (the peer reads slowly or its buffer is small)", 100*float64(rwnd)/max(total, 1))}
			case float64(sndbuf) >= 0.5*total:
				return Verdict{LimitSendBuffer, fmt.Sprintf("limited by the send buffer %.0f%% of the time (SO_SNDBUF / net.ipv4.tcp_wmem)", 100*float64(sndbuf)/max(total, 1))}
			}
		}
	}
	if retrans > 0 {
		segs := int64(in.SegsOut) - int64(a.SegsOut)
		share := ""
		if segs > 0 {
			share = fmt.Sprintf(" (%.1f%% of segments)", 100*float64(retrans)/float64(segs))
		}
		return Verdict{LimitNetwork, fmt.Sprintf("the network: %.1f retransmits/s%s, cwnd %d segments", float64(retrans)/secs, share, in.SndCwnd)}
	}
	if in.DeliveryRateAppLimited || in.Unacked < in.SndCwnd/2 {
		return Verdict{LimitApplication, fmt.Sprintf("the application: it sends %s/s, less than the path takes (cwnd %d, %d in flight)", format.Bytes(int64(float64(sent)/secs)), in.SndCwnd, in.Unacked)}
	}
	return Verdict{LimitNetwork, fmt.Sprintf("the congestion window: %d segments in flight of %d, no loss", in.Unacked, in.SndCwnd)}
}

func sub64(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}
