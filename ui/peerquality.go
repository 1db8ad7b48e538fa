package ui

import (
	"cmp"
	"slices"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// Per-peer network quality: at 140 columns and wider, with a live kernel,
// the Peers view adds the median and worst rtt of each peer's sockets and
// their retransmits per second. tcp_info is never in the regular dump:
// each refresh looks up at most qualityBudget sockets exactly, shared by
// the peers on screen and taken round-robin through each peer's sockets,
// so every socket of a small peer is seen at once and a big peer's are
// sampled over a few refreshes. A lookup costs ~6 µs here
// (source.BenchmarkExactLookup): the budget is well under a millisecond.

const (
	qualityMinWidth = 140
	qualityBudget   = 64
	// qualityKeep bounds the sockets remembered per peer.
	qualityKeep = 256
	// qualityCols is the width the three columns take.
	qualityCols = 3 + 8 + 8 + 8
)

// qualityBy is the Peers view's order by quality (Q steps it).
type qualityBy uint8

const (
	qualityOff qualityBy = iota
	qualityRTT
	qualityWorst
	qualityRetrans
)

var qualityNames = [...]string{"", "rtt", "rtt max", "retrans/s"}

// peerQuality is what the table view remembers of the lookups.
type peerQuality struct {
	peers map[model.PeerKey]*peerQ
	sort  qualityBy
}

// peerQ is one peer's sampled sockets and where the round-robin stands.
type peerQ struct {
	socks  map[uint64]*sockQ
	cursor int
}

// sockQ is one socket's last lookup.
type sockQ struct {
	rtt, retrans uint32
	at           time.Time
	rate         float64 // retransmits per second between its last two lookups
	rated        bool
}

// qualityRes is one lookup's answer.
type qualityRes struct {
	peer   model.PeerKey
	cookie uint64
	info   *source.TCPInfo
	gone   bool
	at     time.Time
}

// qualityMsg carries a refresh's lookups and where each peer's
// round-robin goes on from.
type qualityMsg struct {
	res     []qualityRes
	cursors map[model.PeerKey]int
}

// hasInfo: the states whose sockets carry tcp_info.
func hasInfo(st source.State) bool {
	return st != source.TimeWait && st != source.SynRecv && st != source.Listen
}

// qualityOn reports whether the Peers view shows the quality columns.
func (v *tableView) qualityOn() bool {
	_, peers := v.top().kind.(*peersLevel)
	return peers && v.c.Actions != nil && max(v.width, MinWidth) >= qualityMinWidth
}

// sampleQuality picks this refresh's lookups for the peers on screen and
// runs them off the UI goroutine; nil when the columns are off.
func (v *tableView) sampleQuality() tea.Cmd {
	if !v.qualityOn() || v.snap == nil || v.snap.Sample == nil {
		return nil
	}
	q := &v.acts.quality
	tbl := &v.top().tbl
	pl := v.top().kind.(*peersLevel)
	lo, hi := min(tbl.offset, len(pl.peers)), min(tbl.offset+max(1, tbl.height), len(pl.peers))
	onScreen := pl.peers[lo:hi]
	if len(onScreen) == 0 {
		return nil
	}
	// The cursors travel with the command and come back with the
	// answers: the selection (a pass over the sample) and the lookups run
	// off the UI goroutine.
	peers := slices.Clone(onScreen)
	cursors := make([]int, len(peers))
	for i := range peers {
		if pq := q.peers[peers[i].Key]; pq != nil {
			cursors[i] = pq.cursor
		}
	}
	snap, a := v.snap, v.c.Actions
	return func() tea.Msg {
		type job struct {
			peer model.PeerKey
			id   source.SocketID
		}
		var jobs []job
		msg := qualityMsg{cursors: map[model.PeerKey]int{}}
		share := max(1, qualityBudget/len(peers))
		for i, all := range snap.PeersSockets(peers) {
			var idx []int
			for _, j := range all {
				if hasInfo(snap.Sample.Socket(j).State) {
					idx = append(idx, j)
				}
			}
			if len(idx) == 0 {
				continue
			}
			n := min(share, len(idx), qualityBudget-len(jobs))
			for k := range n {
				jobs = append(jobs, job{peers[i].Key, snap.Sample.Socket(idx[(cursors[i]+k)%len(idx)]).ID()})
			}
			msg.cursors[peers[i].Key] = (cursors[i] + n) % len(idx)
			if len(jobs) == qualityBudget {
				break
			}
		}
		for _, j := range jobs {
			det, err := a.Lookup(j.id)
			r := qualityRes{peer: j.peer, cookie: j.id.Cookie, at: time.Now(), gone: isGone(err)}
			if err == nil && det != nil {
				r.info = det.Socket.Info
			}
			msg.res = append(msg.res, r)
		}
		return msg
	}
}

// answer records a refresh's lookups.
func (q *peerQuality) answer(m qualityMsg) {
	if q.peers == nil {
		q.peers = map[model.PeerKey]*peerQ{}
	}
	peer := func(k model.PeerKey) *peerQ {
		pq := q.peers[k]
		if pq == nil {
			pq = &peerQ{socks: map[uint64]*sockQ{}}
			q.peers[k] = pq
		}
		return pq
	}
	for k, c := range m.cursors {
		peer(k).cursor = c
	}
	for _, r := range m.res {
		pq := peer(r.peer)
		if r.gone {
			delete(pq.socks, r.cookie)
			continue
		}
		if r.info == nil {
			continue
		}
		s := pq.socks[r.cookie]
		if s == nil {
			if len(pq.socks) >= qualityKeep {
				pq.evictOldest()
			}
			s = &sockQ{}
			pq.socks[r.cookie] = s
		} else if dt := r.at.Sub(s.at).Seconds(); dt > 0 && r.info.TotalRetrans >= s.retrans {
			s.rate, s.rated = float64(r.info.TotalRetrans-s.retrans)/dt, true
		}
		s.rtt, s.retrans, s.at = r.info.RTT, r.info.TotalRetrans, r.at
	}
}

func (pq *peerQ) evictOldest() {
	var oldest uint64
	var at time.Time
	for c, s := range pq.socks {
		if at.IsZero() || s.at.Before(at) {
			oldest, at = c, s.at
		}
	}
	delete(pq.socks, oldest)
}

// peerStats is a peer's quality: median and worst rtt (µs) of its
// sampled sockets, and its retransmits per second (the mean of the
// sampled sockets' rates times its sockets); ok is false before any
// lookup answered, rated before any socket was seen twice.
type peerStats struct {
	p50, worst uint32
	retrans    float64
	ok, rated  bool
}

func (q *peerQuality) stats(p *model.Peer) peerStats {
	pq := q.peers[p.Key]
	if pq == nil || len(pq.socks) == 0 {
		return peerStats{}
	}
	rtts := make([]uint32, 0, len(pq.socks))
	var sum float64
	n := 0
	for _, s := range pq.socks {
		rtts = append(rtts, s.rtt)
		if s.rated {
			sum += s.rate
			n++
		}
	}
	slices.Sort(rtts)
	st := peerStats{p50: rtts[len(rtts)/2], worst: rtts[len(rtts)-1], ok: true}
	if n > 0 {
		st.retrans, st.rated = sum/float64(n)*float64(p.Total), true
	}
	return st
}

// sorted orders peers by the quality sort (unknown last), stably.
func (q *peerQuality) sorted(peers []model.Peer) []model.Peer {
	if q.sort == qualityOff {
		return peers
	}
	out := slices.Clone(peers)
	val := func(p *model.Peer) (float64, bool) {
		s := q.stats(p)
		switch q.sort {
		case qualityRTT:
			return float64(s.p50), s.ok
		case qualityWorst:
			return float64(s.worst), s.ok
		}
		return s.retrans, s.rated
	}
	slices.SortStableFunc(out, func(a, b model.Peer) int {
		va, oka := val(&a)
		vb, okb := val(&b)
		if oka != okb {
			if oka {
				return -1
			}
			return 1
		}
		return cmp.Compare(vb, va)
	})
	return out
}

// qualityData is the peers table with the quality columns.
func (q *peerQuality) qualityData(snap *model.Snapshot, width int, g format.Glyphs) ([]model.Peer, tableData) {
	peers := q.sorted(snap.Peers)
	view := *snap // the same snapshot with its peers in the quality order
	view.Peers = peers
	td := peersData(&view, width-qualityCols, g)
	base := len(td.cols)
	mark := func(b qualityBy) string {
		if q.sort == b {
			return g.Down
		}
		return ""
	}
	td.cols = append(td.cols,
		column{title: "RTT", width: 8, right: true, sorted: mark(qualityRTT)},
		column{title: "RTT MAX", width: 8, right: true, sorted: mark(qualityWorst)},
		column{title: "RETR/s", width: 8, right: true, sorted: mark(qualityRetrans)})
	cell := td.cell
	td.cell = func(i, c int) string {
		if c < base {
			return cell(i, c)
		}
		s := q.stats(&peers[i])
		switch {
		case !s.ok:
			return "-"
		case c == base:
			return us(s.p50)
		case c == base+1:
			return us(s.worst)
		case !s.rated:
			return "-"
		}
		return format.Rate(s.retrans)
	}
	return peers, td
}

// qualityNote names the quality sort in the title.
func (q *peerQuality) note() string {
	if q.sort == qualityOff {
		return "  rtt sampled [Q sorts]"
	}
	return "  sort " + qualityNames[q.sort] + " [Q]"
}

// stepQualitySort is Q: rtt, rtt max, retrans/s, off.
func (q *peerQuality) stepQualitySort() { q.sort = (q.sort + 1) % qualityBy(len(qualityNames)) }
