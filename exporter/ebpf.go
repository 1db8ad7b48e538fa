package exporter

import (
	"cmp"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcptop/tcptop/model"
)

// maxReasonLen bounds tcptop_ebpf_loaded's reason label: it is one series
// per run (the programs load once), but its text comes from an error.
const maxReasonLen = 160

// ebpfMachine adds what the eBPF programs report for the whole machine:
// whether they are loaded (with why not), and what they lost. Nothing
// when the snapshot carried no eBPF section (no tracer).
func (b *builder) ebpfMachine(v *model.EBPFView) {
	if v == nil {
		return
	}
	d := b.e.d
	if !v.Loaded {
		b.emit(d.ebpfLoaded, prometheus.GaugeValue, 0, nil, reasonLabel(v.Reason))
		return
	}
	b.emit(d.ebpfLoaded, prometheus.GaugeValue, 1, nil, "")
	for _, x := range []struct {
		cause string
		n     uint64
	}{{"peers_map_full", v.Lost.PeersFull}, {"procs_map_full", v.Lost.ProcsFull}, {"socket_storage", v.Lost.Storage}} {
		b.emit(d.ebpfLost, prometheus.CounterValue, float64(x.n), nil, x.cause)
	}
	b.emit(d.ebpfResetsNoSocket, prometheus.CounterValue, float64(v.Lost.ResetsNoSocket), nil)
}

// reasonLabel is the reason text on one line, cut to maxReasonLen.
func reasonLabel(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxReasonLen {
		i := maxReasonLen
		for i > 0 && s[i]&0xC0 == 0x80 { // not inside a UTF-8 sequence
			i--
		}
		s = s[:i] + "…"
	}
	return s
}

// peerSeries is one exported eBPF peer: its labels and counts since the
// programs loaded.
type peerSeries struct {
	dir, peer, listener string
	t                   model.EBPFTotals
}

func (p *peerSeries) add(t *model.EBPFTotals) {
	p.t.Opens += t.Opens
	p.t.Closes += t.Closes
	p.t.Retransmits += t.Retransmits
	p.t.ResetsSent += t.ResetsSent
	p.t.ResetsReceived += t.ResetsReceived
	p.t.ConnectRefused += t.ConnectRefused
	p.t.ConnectTimedOut += t.ConnectTimedOut
	p.t.ConnectOther += t.ConnectOther
	p.t.ConnectNoPort += t.ConnectNoPort
}

// ebpf adds one namespace's eBPF counters (cumulative since the programs
// loaded): per peer, per connecting process and per listener, each capped
// with an "other" series. Nothing when the programs are not loaded.
//
// Peers and processes are ranked by their counts since load, not by this
// interval's, so the exported set changes only when one overtakes
// another. A peer leaving the top N moves its counts into other, so other
// can go down (Prometheus reads that as a counter reset): rate() over
// other is approximate. A peer the programs evicted (idle for a while)
// comes back from 0, which is a reset too.
func (b *builder) ebpf(v *model.EBPFView, t []string) {
	if v == nil || !v.Loaded {
		return
	}
	e, d := b.e, b.e.d
	counter := func(desc *prometheus.Desc, n uint64, labels ...string) {
		b.emit(desc, prometheus.CounterValue, float64(n), t, labels...)
	}

	peers := make([]peerSeries, 0, len(v.Peers))
	for i := range v.Peers {
		r := &v.Peers[i]
		p := peerSeries{dir: r.Direction, peer: r.Remote}
		if r.Direction == "in" {
			p.listener = r.Local
		}
		p.add(&r.Total)
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(a, b peerSeries) int {
		if c := cmp.Compare(b.t.Opens+b.t.Retransmits, a.t.Opens+a.t.Retransmits); c != 0 {
			return c
		}
		if c := cmp.Compare(a.dir, b.dir); c != 0 {
			return c
		}
		if c := cmp.Compare(a.peer, b.peer); c != 0 {
			return c
		}
		return cmp.Compare(a.listener, b.listener)
	})
	// The model keys peers as the peers table does; two keys with the
	// same text (never expected) are merged rather than duplicated.
	var out []peerSeries
	seen := map[[3]string]int{}
	for _, p := range peers {
		k := [3]string{p.dir, p.peer, p.listener}
		if i, ok := seen[k]; ok {
			out[i].add(&p.t)
			continue
		}
		seen[k] = len(out)
		out = append(out, p)
	}
	if len(out) > e.cfg.Top {
		other := peerSeries{dir: OtherLabel, peer: OtherLabel}
		for i := range out[e.cfg.Top:] {
			other.add(&out[e.cfg.Top+i].t)
		}
		b.drop(droppedPeer, len(out)-e.cfg.Top)
		out = append(out[:e.cfg.Top], other)
	}
	for _, p := range out {
		l := []string{p.dir, p.peer, p.listener}
		counter(d.peerOpens, p.t.Opens, l...)
		counter(d.peerCloses, p.t.Closes, l...)
		counter(d.peerRetrans, p.t.Retransmits, l...)
		counter(d.peerRstSent, p.t.ResetsSent, l...)
		counter(d.peerRstRcv, p.t.ResetsReceived, l...)
		if p.dir == "in" {
			continue // accepted connections make no connect()
		}
		counter(d.peerConnFail, p.t.ConnectRefused, append(l, "refused")...)
		counter(d.peerConnFail, p.t.ConnectTimedOut, append(l, "timed_out")...)
		counter(d.peerConnFail, p.t.ConnectOther, append(l, "unreachable")...)
		counter(d.peerConnFail, p.t.ConnectNoPort, append(l, "no_port")...)
	}

	procs, cut := ebpfProcesses(v.Processes, e.cfg.Top)
	b.drop(droppedProcess, cut)
	for _, p := range procs {
		counter(d.procConnects, p.opens, p.name)
		counter(d.procConnFail, p.failed, p.name)
	}

	lis := v.Listeners
	var other model.EBPFListenerRow
	if len(lis) > e.cfg.MaxListeners { // sorted by overflows
		for _, l := range lis[e.cfg.MaxListeners:] {
			other.Overflows += l.Overflows
			other.SynAckRetrans += l.SynAckRetrans
		}
		b.drop(droppedListener, len(lis)-e.cfg.MaxListeners)
		lis = lis[:e.cfg.MaxListeners]
	}
	for _, l := range lis {
		counter(d.lisOverflows, l.Overflows, l.Local)
		counter(d.lisSynAckRetrans, l.SynAckRetrans, l.Local)
	}
	if len(lis) < len(v.Listeners) {
		counter(d.lisOverflows, other.Overflows, OtherLabel)
		counter(d.lisSynAckRetrans, other.SynAckRetrans, OtherLabel)
	}
}

// procConnects is one process name's connect()s since the programs
// loaded.
type procConnects struct {
	name          string
	opens, failed uint64
}

// ebpfProcesses sums the eBPF process rows (one per process and peer) by
// process name, keeps the top names by connects (then by name) and sums
// the rest into "other". It returns the series and how many names were
// cut.
func ebpfProcesses(rows []model.EBPFProcRow, top int) ([]procConnects, int) {
	by := map[string]*procConnects{}
	for i := range rows {
		r := &rows[i]
		name := r.Name
		if name == "" {
			name = model.UnknownName
		}
		p := by[name]
		if p == nil {
			p = &procConnects{name: name}
			by[name] = p
		}
		p.opens += r.Opens
		p.failed += r.Failed
	}
	var other *procConnects
	if p, ok := by[OtherLabel]; ok { // a process really named "other"
		other = p
		delete(by, OtherLabel)
	}
	out := make([]procConnects, 0, len(by))
	for _, p := range by {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b procConnects) int {
		if c := cmp.Compare(b.opens, a.opens); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	cut := 0
	if len(out) > top {
		if other == nil {
			other = &procConnects{name: OtherLabel}
		}
		for _, p := range out[top:] {
			other.opens += p.opens
			other.failed += p.failed
		}
		cut = len(out) - top
		out = out[:top]
	}
	if other != nil {
		out = append(out, *other)
	}
	return out, cut
}
