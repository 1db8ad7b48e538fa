package model

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/tcptop/tcptop/source"
)

// EBPFView is what tcptop's eBPF programs add to a snapshot (JSON "ebpf"):
// rates over the last interval and totals since the programs loaded, per
// peer, per connecting process and per listener. It is absent (nil) when
// the sample carried no eBPF section; with the programs not loaded only
// Loaded (false) and Reason are set. Every number here is from eBPF.
type EBPFView struct {
	Loaded bool `json:"loaded"`
	// Reason says why the programs are not loaded.
	Reason string `json:"reason,omitempty"`
	// Since is when the programs loaded.
	Since time.Time `json:"since,omitzero"`
	// Peers are the peers with eBPF counts, busiest first (opens, then
	// retransmits).
	Peers []EBPFPeerRow `json:"peers,omitempty"`
	// Processes are the processes that connected, per peer, busiest
	// first: the process that called connect(), even when it has exited.
	Processes []EBPFProcRow `json:"processes,omitempty"`
	// Listeners are the listeners that dropped handshakes or
	// retransmitted SYN-ACKs.
	Listeners []EBPFListenerRow `json:"listeners,omitempty"`
	// UntrackedCloses counts connections opened before the programs
	// loaded that closed since (no peer or lifetime is known for them).
	UntrackedCloses uint64 `json:"untracked_closes,omitempty"`
	// Lost counts what the programs could not aggregate (maps full,
	// socket storage failures), machine-wide: 0 means nothing was lost.
	Lost EBPFLost `json:"lost,omitzero"`
	// ReadMS is what reading the kernel maps cost this poll.
	ReadMS float64 `json:"read_ms,omitempty"`

	byPeer map[PeerKey]*EBPFPeerRow
}

// EBPFLost is source.EBPFLost in JSON.
type EBPFLost struct {
	PeersFull      uint64 `json:"peers_map_full"`
	ProcsFull      uint64 `json:"procs_map_full"`
	Storage        uint64 `json:"socket_storage"`
	ResetsNoSocket uint64 `json:"resets_without_socket"`
}

// EBPFTotals are eBPF counts: since the programs loaded, or over the last
// interval.
type EBPFTotals struct {
	Opens  uint64 `json:"opens"`
	Closes uint64 `json:"closes"`
	// ConnectRefused: a RST answered the SYN.
	ConnectRefused uint64 `json:"connect_refused"`
	// ConnectTimedOut: no answer — the kernel's SYN retries ran out, or
	// the application gave up and closed while connecting.
	ConnectTimedOut uint64 `json:"connect_timed_out"`
	// ConnectOther: unreachable (ICMP, no route) and other errors.
	ConnectOther uint64 `json:"connect_other"`
	// ConnectNoPort: connect() found no free local port (EADDRNOTAVAIL).
	ConnectNoPort uint64 `json:"connect_no_port"`
	// Retransmits counts retransmitted segments, tail-loss probes
	// included (SYN and SYN-ACK retransmits too).
	Retransmits    uint64 `json:"retransmits"`
	TailLossProbes uint64 `json:"tail_loss_probes"`
	ResetsSent     uint64 `json:"resets_sent"`
	ResetsReceived uint64 `json:"resets_received"`
}

func (t *EBPFTotals) add(c *source.EBPFCounts) {
	t.Opens += c.Opens
	t.Closes += c.Closes
	t.ConnectRefused += c.Refused
	t.ConnectTimedOut += c.TimedOut + c.Abandoned
	t.ConnectOther += c.Unreachable
	t.ConnectNoPort += c.NoPort
	t.Retransmits += c.Retrans
	t.TailLossProbes += c.TLP
	t.ResetsSent += c.ResetsSent
	t.ResetsReceived += c.ResetsRecv
}

// EBPFPeerRow is one peer's eBPF counts (the peer as the peers table keys
// it: an outgoing remote ip:port, or an incoming remote IP and listener).
type EBPFPeerRow struct {
	Key       PeerKey `json:"-"`
	Remote    string  `json:"remote"`
	Direction string  `json:"direction"`
	Local     string  `json:"local"`
	// OpensPerSec and ClosesPerSec are over the last interval, exact:
	// connections that lived between two polls are counted.
	OpensPerSec  Rate `json:"opens_per_sec"`
	ClosesPerSec Rate `json:"closes_per_sec"`
	// RetransPerSec is retransmitted segments per second.
	RetransPerSec Rate `json:"retransmits_per_sec"`
	// Last is the counts over the last interval, Total since load.
	Last  EBPFTotals `json:"last"`
	Total EBPFTotals `json:"total"`
	// LifeP50MS and LifeP90MS are the lifetimes of the connections closed
	// in the last interval (upper bounds of log2 buckets); 0 when none
	// closed.
	LifeP50MS float64 `json:"life_p50_ms,omitempty"`
	LifeP90MS float64 `json:"life_p90_ms,omitempty"`

	life [source.LifeBuckets]uint64 // closed in the last interval
}

// EBPFProcRow is a process that connected to a peer.
type EBPFProcRow struct {
	Key    ProcKey `json:"-"`
	PID    int32   `json:"pid"`
	Name   string  `json:"name"`
	Remote string  `json:"remote"`
	Local  string  `json:"local"`
	// LocalAddr is the local IP connect() used (unmapped).
	LocalAddr netip.Addr `json:"-"`
	// Peer is the outgoing peer (its Remote).
	Peer        PeerKey `json:"-"`
	OpensPerSec Rate    `json:"opens_per_sec"`
	Opens       uint64  `json:"opens"`
	Closes      uint64  `json:"closes"`
	Failed      uint64  `json:"failed"`
	NoPort      uint64  `json:"no_port"`
	// MeanLifeMS is the mean lifetime of its closed connections.
	MeanLifeMS float64 `json:"mean_life_ms"`
}

// EBPFListenerRow is a listener's dropped handshakes.
type EBPFListenerRow struct {
	Local    string         `json:"local"`
	Listener netip.AddrPort `json:"-"`
	// Overflows counts SYNs and handshake ACKs dropped because the
	// accept queue was full (see README: which ones this kernel shows).
	Overflows        uint64 `json:"overflows"`
	OverflowsPerSec  Rate   `json:"overflows_per_sec"`
	SynAckRetrans    uint64 `json:"synack_retransmits"`
	SynAckRetransSec Rate   `json:"synack_retransmits_per_sec"`
}

// ebpfID identifies a raw key of the programs' maps.
type ebpfID struct {
	dir           source.EBPFDir
	local, remote netip.AddrPort
}

type ebpfProcID struct {
	pid    int32
	start  uint64
	comm   string
	local  netip.Addr
	remote netip.AddrPort
}

// buildEBPF fills snap.EBPF from the sample's eBPF section, with the rates
// since prev's, and hangs each peer's row on its Peer.
func buildEBPF(snap *Snapshot, s *source.Sample, prev *Snapshot) {
	e := s.EBPF
	if e == nil {
		return
	}
	v := &EBPFView{Loaded: e.Loaded, Reason: e.Reason}
	snap.EBPF = v
	if !e.Loaded {
		return
	}
	v.Since = e.Since
	v.Lost = EBPFLost(e.Lost)
	v.ReadMS = ms(e.Took)
	var pe *source.EBPF
	sec := 0.0
	if prev != nil && prev.Sample != nil && prev.Sample.EBPF != nil && prev.Sample.EBPF.Loaded {
		pe = prev.Sample.EBPF
		sec = s.Time.Sub(prev.Time).Seconds()
	}
	prevPeers := map[ebpfID]*source.EBPFPeer{}
	if pe != nil {
		for i := range pe.Peers {
			p := &pe.Peers[i]
			prevPeers[ebpfID{p.Dir, p.Local, p.Remote}] = p
		}
	}
	// since returns what a key counted since the previous read: all of
	// it when the key was created after that read.
	since := func(p *source.EBPFPeer) (source.EBPFCounts, [source.LifeBuckets]uint64, bool) {
		if pe == nil {
			return source.EBPFCounts{}, [source.LifeBuckets]uint64{}, false
		}
		old, ok := prevPeers[ebpfID{p.Dir, p.Local, p.Remote}]
		if !ok || old.Born != p.Born {
			if p.Born > pe.Now {
				return p.EBPFCounts, p.Life, true
			}
			return source.EBPFCounts{}, [source.LifeBuckets]uint64{}, ok
		}
		var life [source.LifeBuckets]uint64
		for b := range life {
			if p.Life[b] > old.Life[b] {
				life[b] = p.Life[b] - old.Life[b]
			}
		}
		return p.EBPFCounts.Sub(&old.EBPFCounts), life, true
	}
	rate := func(n uint64) Rate {
		if sec <= 0 {
			return 0
		}
		return Rate(float64(n) / sec)
	}

	v.byPeer = map[PeerKey]*EBPFPeerRow{}
	var rows []*EBPFPeerRow
	lis := map[netip.AddrPort]*EBPFListenerRow{}
	for i := range e.Peers {
		p := &e.Peers[i]
		d, life, _ := since(p)
		switch p.Dir {
		case source.EBPFNamespace:
			v.UntrackedCloses += p.Closes
			continue
		case source.EBPFListen:
			l := lis[p.Local]
			if l == nil {
				l = &EBPFListenerRow{Listener: p.Local, Local: p.Local.String()}
				if idx, ok := snap.lt.lookup(p.Local); ok {
					l.Listener, l.Local = snap.Listeners[idx].Addr, snap.Listeners[idx].Local
				}
				lis[p.Local] = l
			}
			l.Overflows += p.Overflows
			l.SynAckRetrans += p.Retrans
			l.OverflowsPerSec += rate(d.Overflows)
			l.SynAckRetransSec += rate(d.Retrans)
			continue
		}
		key, dir, local := ebpfPeerKey(snap, p)
		r := v.byPeer[key]
		if r == nil {
			r = &EBPFPeerRow{Key: key, Direction: dir, Local: local}
			if dir == "in" {
				r.Remote = key.Remote.Addr().String()
			} else {
				r.Remote = key.Remote.String()
			}
			v.byPeer[key] = r
			rows = append(rows, r)
		} else if dir == "out" && r.Local != local {
			r.Local = "*"
		}
		r.Total.add(&p.EBPFCounts)
		r.Last.add(&d)
		for b := range life {
			r.life[b] += life[b]
		}
	}
	for _, r := range rows {
		r.OpensPerSec, r.ClosesPerSec, r.RetransPerSec = rate(r.Last.Opens), rate(r.Last.Closes), rate(r.Last.Retransmits)
		r.LifeP50MS, r.LifeP90MS = lifeQuantile(&r.life, 0.5), lifeQuantile(&r.life, 0.9)
	}
	slices.SortFunc(rows, func(a, b *EBPFPeerRow) int {
		if c := cmp.Compare(b.Last.Opens, a.Last.Opens); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Total.Opens+b.Total.Retransmits, a.Total.Opens+a.Total.Retransmits); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Direction, b.Direction); c != 0 {
			return c
		}
		return a.Key.Remote.Compare(b.Key.Remote)
	})
	v.Peers = make([]EBPFPeerRow, len(rows))
	for i, r := range rows {
		v.Peers[i] = *r
		v.byPeer[r.Key] = &v.Peers[i]
	}
	for _, l := range lis {
		v.Listeners = append(v.Listeners, *l)
	}
	slices.SortFunc(v.Listeners, func(a, b EBPFListenerRow) int {
		if c := cmp.Compare(b.Overflows, a.Overflows); c != 0 {
			return c
		}
		return cmp.Compare(a.Local, b.Local)
	})
	buildEBPFProcs(v, s, pe, rate)
	attachEBPF(snap)
}

// buildEBPFProcs fills the per-process rows.
func buildEBPFProcs(v *EBPFView, s *source.Sample, pe *source.EBPF, rate func(uint64) Rate) {
	prev := map[ebpfProcID]*source.EBPFProc{}
	if pe != nil {
		for i := range pe.Procs {
			p := &pe.Procs[i]
			prev[ebpfProcID{p.PID, p.Start, p.Comm, p.Local, p.Remote}] = p
		}
	}
	for i := range s.EBPF.Procs {
		p := &s.EBPF.Procs[i]
		r := EBPFProcRow{
			Key: ProcKey{PID: p.PID, Start: p.Start}, PID: p.PID, Name: p.Comm,
			Remote: p.Remote.String(), Local: p.Local.Unmap().String(), LocalAddr: p.Local.Unmap(),
			Peer:  PeerKey{Remote: netip.AddrPortFrom(p.Remote.Addr().Unmap(), p.Remote.Port())},
			Opens: p.Opens, Closes: p.Closes, Failed: p.Failed, NoPort: p.NoPort,
		}
		if p.Closes > 0 {
			r.MeanLifeMS = float64(p.LifeSum) / float64(p.Closes) / 1e6
		}
		if pe != nil {
			old, ok := prev[ebpfProcID{p.PID, p.Start, p.Comm, p.Local, p.Remote}]
			switch {
			case ok && old.Born == p.Born:
				r.OpensPerSec = rate(p.Opens - min(p.Opens, old.Opens))
			case p.Born > pe.Now:
				r.OpensPerSec = rate(p.Opens)
			}
		}
		if pr, ok := s.Procs[p.PID]; ok && pr.Start == p.Start && pr.Name != "" {
			r.Name = pr.Name // the scan's name, as every other list shows it
		}
		v.Processes = append(v.Processes, r)
	}
	slices.SortFunc(v.Processes, func(a, b EBPFProcRow) int {
		if c := cmp.Compare(b.OpensPerSec, a.OpensPerSec); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Opens, a.Opens); c != 0 {
			return c
		}
		if c := cmp.Compare(a.PID, b.PID); c != 0 {
			return c
		}
		return cmp.Compare(a.Remote, b.Remote)
	})
}

// attachEBPF hangs each peer's eBPF row on the peers table.
func attachEBPF(snap *Snapshot) {
	if snap.EBPF == nil || snap.EBPF.byPeer == nil {
		return
	}
	for i := range snap.Peers {
		if r := snap.EBPF.byPeer[snap.Peers[i].Key]; r != nil {
			snap.Peers[i].EBPF = r
		}
	}
}

// ebpfPeerKey maps a raw eBPF peer to the peers table's key, its
// direction and its local text.
func ebpfPeerKey(snap *Snapshot, p *source.EBPFPeer) (PeerKey, string, string) {
	remote := netip.AddrPortFrom(p.Remote.Addr().Unmap(), p.Remote.Port())
	dir := p.Dir
	idx, isListener := snap.lt.lookup(p.Local)
	if dir == source.EBPFUnknown {
		dir = source.EBPFOut
		if isListener {
			dir = source.EBPFIn
		}
	}
	if dir == source.EBPFIn {
		k := PeerKey{Remote: netip.AddrPortFrom(remote.Addr(), 0), Listener: p.Local}
		local := p.Local.String()
		if isListener {
			k.Listener, local = snap.Listeners[idx].Addr, snap.Listeners[idx].Local
		}
		return k, "in", local
	}
	return PeerKey{Remote: remote}, "out", p.Local.Addr().Unmap().String()
}

// lifeQuantile is the upper bound (ms) of the log2 bucket holding the q
// quantile of the lifetimes; 0 when there are none.
func lifeQuantile(life *[source.LifeBuckets]uint64, q float64) float64 {
	var n uint64
	for _, c := range life {
		n += c
	}
	if n == 0 {
		return 0
	}
	want := uint64(q*float64(n) + 0.5)
	want = max(want, 1)
	var acc uint64
	for b, c := range life {
		acc += c
		if acc >= want {
			return float64(uint64(1)<<b) / 1000 // bucket b holds < 2^b µs
		}
	}
	return float64(uint64(1)<<(source.LifeBuckets-1)) / 1000
}
