package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// SocketBy is what a socket list is ordered by.
type SocketBy uint8

// Socket list orders.
const (
	// SocketByState: state (in source.AllStates order), then remote, local.
	SocketByState SocketBy = iota
	// SocketByAge: oldest first; sockets without a known age last.
	SocketByAge
	// SocketByRecvQ: most bytes waiting for the application first (for a
	// listener, its accept queue).
	SocketByRecvQ
	// SocketBySendQ: most bytes not yet acknowledged first.
	SocketBySendQ
	// SocketByRTT: slowest first; sockets without tcp_info last.
	SocketByRTT
	// SocketByRetrans: most retransmits first: tcp_info's lifetime count
	// when known, else the kernel timer's current retransmits.
	SocketByRetrans
)

var socketByNames = [...]string{
	SocketByState:   "state",
	SocketByAge:     "age",
	SocketByRecvQ:   "recv-q",
	SocketBySendQ:   "send-q",
	SocketByRTT:     "rtt",
	SocketByRetrans: "retrans",
}

// SocketSort orders a socket list.
type SocketSort struct {
	By SocketBy
	// Reverse puts the smallest (youngest) first; unknown values stay last.
	Reverse bool
}

// SocketSorts lists the socket orders in the order a user steps through them.
func SocketSorts() []SocketBy {
	return []SocketBy{SocketByState, SocketByAge, SocketByRecvQ, SocketBySendQ, SocketByRTT, SocketByRetrans}
}

// String is "state", "age", "recv-q", ... after "-" when Reverse.
func (k SocketSort) String() string {
	s := k.By.String()
	if k.Reverse {
		return "-" + s
	}
	return s
}

// String names the order.
func (b SocketBy) String() string {
	if int(b) < len(socketByNames) {
		return socketByNames[b]
	}
	return "state"
}

// ParseSocketSort reads "state", "age", "recv-q" (recvq), "send-q",
// "rtt", "retrans", optionally after "-" (Reverse).
func ParseSocketSort(s string) (SocketSort, error) {
	var k SocketSort
	name := s
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		k.Reverse, name = true, rest
	}
	norm := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(name))
	for b, n := range socketByNames {
		if strings.ReplaceAll(n, "-", "") == norm {
			k.By = SocketBy(b)
			return k, nil
		}
	}
	if norm == "" {
		return k, nil
	}
	return SocketSort{}, fmt.Errorf("unknown socket order %q (want state, age, recv-q, send-q, rtt or retrans; a leading - reverses)", s)
}

// Sockets returns the indexes into Sample.Sockets of every socket passing
// the snapshot's filter, in state order (see PeerSockets).
func (snap *Snapshot) Sockets() []int {
	s := snap.Sample
	if s == nil {
		return nil
	}
	out := make([]int, 0, s.NumSockets())
	for i := range s.NumSockets() {
		if snap.opt.Filter.Match(s.Socket(i), s.Procs) {
			out = append(out, i)
		}
	}
	sortSocketIndexes(s, out)
	return out
}

// SortSockets orders indexes into Sample.Sockets by k, stably: ties keep
// the state order of PeerSockets, so a list does not move between polls.
func (snap *Snapshot) SortSockets(idx []int, k SocketSort) {
	s := snap.Sample
	if s == nil || len(idx) < 2 {
		return
	}
	sortSocketIndexes(s, idx)
	if k.By == SocketByState {
		if k.Reverse {
			slices.Reverse(idx)
		}
		return
	}
	// One key per row, computed once: known sorts before unknown.
	type row struct {
		i     int
		v     int64
		known bool
	}
	rows := make([]row, len(idx))
	for j, i := range idx {
		sk := s.Socket(i)
		r := row{i: i, known: true}
		switch k.By {
		case SocketByAge:
			age, ok := snap.SocketAge(sk)
			r.v, r.known = int64(age), ok
		case SocketByRecvQ:
			r.v = int64(sk.RecvQ)
		case SocketBySendQ:
			r.v = int64(sk.SendQ)
		case SocketByRTT:
			if sk.Info != nil {
				r.v = int64(sk.Info.RTT)
			} else {
				r.known = false
			}
		case SocketByRetrans:
			r.v = int64(sk.Retrans)
			if sk.Info != nil {
				r.v = int64(sk.Info.TotalRetrans)
			}
		}
		rows[j] = r
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		if a.known != b.known {
			if a.known {
				return -1
			}
			return 1
		}
		c := cmp.Compare(b.v, a.v)
		if k.Reverse {
			c = -c
		}
		return c
	})
	for j := range rows {
		idx[j] = rows[j].i
	}
}

// SocketRow is one socket as the JSON "sockets" array and the text
// section show it (docs/JSON.md).
type SocketRow struct {
	State  string `json:"state"`
	Local  string `json:"local"`
	Remote string `json:"remote"`
	RecvQ  uint32 `json:"recv_q"`
	SendQ  uint32 `json:"send_q"`
	// AgeSeconds is how long the socket has existed as far as tcptop
	// knows (see Snapshot.SocketAge); absent when unknown.
	AgeSeconds *float64 `json:"age_s,omitempty"`
	// Timer is the kernel timer: "", "retransmit", "keepalive",
	// "time_wait", "zero_window_probe"; TimerMS is the time left on it.
	Timer   string `json:"timer,omitempty"`
	TimerMS uint32 `json:"timer_ms,omitempty"`
	// Retransmits is the running timer's retransmit count.
	Retransmits uint8      `json:"retransmits,omitempty"`
	UID         uint32     `json:"uid"`
	Inode       uint32     `json:"inode"`
	Cookie      uint64     `json:"cookie"`
	Owners      []ProcRef  `json:"owners"`
	Inferred    bool       `json:"owners_inferred,omitempty"`
	Info        *InfoJSON  `json:"tcp_info,omitempty"`
	Addr        SocketAddr `json:"-"`
}

// SocketAddr keeps a row's ends typed, for front ends that act on it.
type SocketAddr struct {
	Local, Remote netip.AddrPort
}

var timerNames = [...]string{"", "retransmit", "keepalive", "time_wait", "zero_window_probe"}

// SocketRows turns indexes into Sample.Sockets into rows; with info, rows
// of sockets that have tcp_info carry it.
func (snap *Snapshot) SocketRows(idx []int, info bool) []SocketRow {
	s := snap.Sample
	rows := make([]SocketRow, 0, len(idx))
	for _, i := range idx {
		sk := s.Socket(i)
		r := SocketRow{
			State: sk.State.String(), Local: sk.Local.String(), Remote: sk.Remote.String(),
			RecvQ: sk.RecvQ, SendQ: sk.SendQ, UID: sk.UID, Inode: sk.Inode, Cookie: sk.Cookie,
			Retransmits: sk.Retrans, Inferred: sk.OwnerInferred,
			Addr: SocketAddr{sk.Local, sk.Remote},
		}
		if int(sk.Timer) < len(timerNames) && sk.Timer != 0 {
			r.Timer, r.TimerMS = timerNames[sk.Timer], sk.Expires
		}
		if age, ok := snap.SocketAge(sk); ok {
			sec := float64(age.Milliseconds()) / 1000
			r.AgeSeconds = &sec
		}
		r.Owners = procRefs(sk.Owners, s.Procs)
		if r.Owners == nil {
			r.Owners = []ProcRef{}
		}
		if info && sk.Info != nil {
			r.Info = NewInfoJSON(sk.Info)
		}
		rows = append(rows, r)
	}
	return rows
}
