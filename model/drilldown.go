package model

import (
	"cmp"
	"slices"

	"github.com/tcptop/tcptop/source"
)

// The drill-down views scan the sample on demand: the UI asks for one peer,
// one process or the port list at a time, so Build does not keep them. Each
// obeys the options the snapshot was built with.

// MaxPortProcesses bounds PortRow.Processes.
const MaxPortProcesses = 5

// Options returns the options the snapshot was built with.
func (snap *Snapshot) Options() Options { return snap.opt }

// PeerSockets returns the indexes into Sample.Sockets of a peer's sockets
// (those passing the snapshot's filter), ordered by state (in
// source.AllStates order), then remote, then local address.
func (snap *Snapshot) PeerSockets(p *Peer) []int {
	s := snap.Sample
	if s == nil || p == nil {
		return nil
	}
	var out []int
	for i := range s.NumSockets() {
		sk := s.Socket(i)
		if isPeerSocket(sk) && snap.opt.Filter.Match(sk, s.Procs) && classify(sk, snap.lt) == p.key {
			out = append(out, i)
		}
	}
	sortSocketIndexes(s, out)
	return out
}

// PeersSockets is PeerSockets for several peers in one pass over the
// sample: the sockets of each, by position in peers.
func (snap *Snapshot) PeersSockets(peers []Peer) [][]int {
	out := make([][]int, len(peers))
	s := snap.Sample
	if s == nil || len(peers) == 0 {
		return out
	}
	at := make(map[peerKey]int, len(peers))
	for i := range peers {
		at[peers[i].key] = i
	}
	for i := range s.NumSockets() {
		sk := s.Socket(i)
		if !isPeerSocket(sk) {
			continue
		}
		if j, ok := at[classify(sk, snap.lt)]; ok && snap.opt.Filter.Match(sk, s.Procs) {
			out[j] = append(out[j], i)
		}
	}
	for _, idx := range out {
		sortSocketIndexes(s, idx)
	}
	return out
}

// ProcessSockets returns the indexes into Sample.Sockets of the sockets a
// process holds (pid 0: those without a known owner, or all of them when
// the sample is not attributed) that pass the filter, in the order of
// PeerSockets.
func (snap *Snapshot) ProcessSockets(pid int32) []int {
	s := snap.Sample
	if s == nil {
		return nil
	}
	var out []int
	for i := range s.NumSockets() {
		sk := s.Socket(i)
		if snap.opt.Filter.Match(sk, s.Procs) && slices.Contains(ownersOf(sk, s.Attributed), pid) {
			out = append(out, i)
		}
	}
	sortSocketIndexes(s, out)
	return out
}

// ProcessPeerSockets returns the indexes into Sample.Sockets of a peer's
// sockets held by one process (pid 0: those without a known owner, or all
// of them when the sample is not attributed), in the order of PeerSockets.
func (snap *Snapshot) ProcessPeerSockets(p *Peer, pid int32) []int {
	all := snap.PeerSockets(p)
	out := all[:0]
	for _, i := range all {
		if slices.Contains(ownersOf(snap.Sample.Socket(i), snap.Sample.Attributed), pid) {
			out = append(out, i)
		}
	}
	return out
}

// PeerProcesses returns one row per process holding the peer's sockets,
// counting only those sockets (a socket shared by two processes counts for
// both). Rows carry the process details of Sample.Procs; pid 0 "unknown"
// holds the sockets without an owner, and every socket when the sample is
// not attributed. Rows are ordered by the snapshot's sort key, then total
// (largest first), then pid.
func (snap *Snapshot) PeerProcesses(p *Peer) []ProcessRow {
	rows := map[int32]*ProcessRow{}
	for _, i := range snap.PeerSockets(p) {
		sk := snap.Sample.Socket(i)
		for _, pid := range ownersOf(sk, snap.Sample.Attributed) {
			r := rows[pid]
			if r == nil {
				r = newProcessRow(pid, snap.Sample.Procs)
				rows[pid] = r
			}
			r.States[sk.State]++
			r.Total++
		}
	}
	return sortedProcessRows(rows, snap.opt.Sort)
}

// LocalPorts groups the sockets passing the snapshot's filter by local port.
// A port's listeners are not counted in States and Total, so a port with
// only a listener has a row with Total 0. Listening tells whether any
// LISTEN socket is bound to the port, whether or not it passes the filter:
// it says which side of the connections the port is. Processes are filled
// only when the sample is attributed. Rows are ordered by the snapshot's
// sort key, then total (largest first), then port.
//
// It scans the whole sample: call it once per snapshot, not per frame.
func (snap *Snapshot) LocalPorts() []PortRow {
	s := snap.Sample
	if s == nil {
		return []PortRow{}
	}
	// Half the size of a PortRow: this is what the scan touches.
	type portAcc struct {
		states    [source.MaxState]int32
		total     int32
		port      uint16
		listening bool
		npids     uint8
		pids      [MaxPortProcesses]int32 // the lowest owners, sorted
	}
	// Row index+1 per port: an array beats a map when tens of thousands of
	// ephemeral ports are in use.
	idx := make([]int32, 1<<16)
	var accs []portAcc
	nrefs := 0
	for i := range s.NumSockets() {
		sk := s.Socket(i)
		if !snap.opt.Filter.Match(sk, s.Procs) {
			continue
		}
		port := sk.Local.Port()
		ai := idx[port] - 1
		if ai < 0 {
			ai = int32(len(accs))
			idx[port] = ai + 1
			accs = append(accs, portAcc{port: port, listening: snap.lt.listening(port)})
		}
		a := &accs[ai]
		if sk.State != source.Listen {
			a.states[sk.State]++
			a.total++
		}
		if s.Attributed {
			for _, pid := range ownersOf(sk, true) {
				before := a.npids
				a.npids = addPID(&a.pids, a.npids, pid)
				nrefs += int(a.npids - before)
			}
		}
	}
	// Sort a permutation of the small accumulators, then fill the rows once.
	// value and the comparison are SortKey.compare on int32 counts.
	key := snap.opt.Sort
	value := func(a *portAcc) int32 {
		if key.State == 0 {
			return a.total
		}
		if key.State >= source.MaxState {
			return 0
		}
		return a.states[key.State]
	}
	order := make([]int32, len(accs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		x, y := &accs[i], &accs[j]
		c := cmp.Compare(value(y), value(x))
		if key.Reverse {
			c = -c
		}
		if c != 0 {
			return c
		}
		if c := cmp.Compare(y.total, x.total); c != 0 {
			return c
		}
		return cmp.Compare(x.port, y.port)
	})
	// One backing array holds every row's processes.
	refs := make([]ProcRef, 0, nrefs)
	rows := make([]PortRow, len(accs))
	for i, ai := range order {
		a := &accs[ai]
		r := &rows[i]
		r.Port, r.Listening, r.Total = a.port, a.listening, int(a.total)
		for st, n := range a.states {
			r.States[st] = int(n)
		}
		start := len(refs)
		for _, pid := range a.pids[:a.npids] {
			name := UnknownName
			if pid != 0 {
				name = procName(pid, s.Procs)
			}
			refs = append(refs, ProcRef{PID: pid, Name: name})
		}
		r.Processes = refs[start:len(refs):len(refs)]
	}
	return rows
}

// addPID inserts pid into the first n entries of pids, kept sorted and
// distinct, holding only the lowest MaxPortProcesses; it returns the new n.
func addPID(pids *[MaxPortProcesses]int32, n uint8, pid int32) uint8 {
	j, found := slices.BinarySearch(pids[:n], pid)
	if found || j == MaxPortProcesses {
		return n
	}
	if n < MaxPortProcesses {
		n++
	}
	copy(pids[j+1:n], pids[j:n-1])
	pids[j] = pid
	return n
}

// stateRank is a state's position in source.AllStates; unknown states last.
var stateRank = func() (r [256]uint8) {
	for i := range r {
		r[i] = 255
	}
	for i, st := range source.AllStates {
		r[st] = uint8(i)
	}
	return r
}()

// sortSocketIndexes orders indexes into socks by state (AllStates order),
// remote, local, then index, so drill-down lists do not move between polls.
func sortSocketIndexes(s *source.Sample, idx []int) {
	slices.SortFunc(idx, func(i, j int) int {
		a, b := s.Socket(i), s.Socket(j)
		if c := cmp.Compare(stateRank[a.State], stateRank[b.State]); c != 0 {
			return c
		}
		if c := a.Remote.Compare(b.Remote); c != 0 {
			return c
		}
		if c := a.Local.Compare(b.Local); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
}

// isEphemeralRow reports whether a port row is one connect() handed out:
// inside the usable ephemeral range, nothing listening on it.
func (snap *Snapshot) isEphemeralRow(r *PortRow) bool {
	return r.Port != 0 && !r.Listening && snap.Sample != nil && inEphemeral(&snap.Sample.Sysctl, int(r.Port))
}

// LocalPortGroups is LocalPorts with the ports of the ephemeral range that
// nothing listens on folded into one row (Ephemeral, Port 0, Ports
// counting them, the owners of the lowest pids), placed by the sort key
// like any row: a client with thousands of connections is one row, not
// thousands. EphemeralPorts lists what it folds.
func (snap *Snapshot) LocalPortGroups() []PortRow {
	rows := snap.LocalPorts()
	out := rows[:0:0]
	var eph PortRow
	var pids [MaxPortProcesses]int32
	var npids uint8
	for i := range rows {
		r := &rows[i]
		if !snap.isEphemeralRow(r) {
			out = append(out, *r)
			continue
		}
		eph.Ports++
		eph.Total += r.Total
		for st, n := range r.States {
			eph.States[st] += n
		}
		for _, p := range r.Processes {
			npids = addPID(&pids, npids, p.PID)
		}
	}
	if eph.Ports == 0 {
		return out
	}
	eph.Ephemeral = true
	eph.Processes = make([]ProcRef, 0, npids)
	for _, pid := range pids[:npids] {
		name := UnknownName
		if pid != 0 {
			name = procName(pid, snap.Sample.Procs)
		}
		eph.Processes = append(eph.Processes, ProcRef{PID: pid, Name: name})
	}
	// Insert it where the sort puts it: after the rows that come first.
	key := snap.opt.Sort
	at := len(out)
	for i := range out {
		c := key.compare(&eph.States, eph.Total, &out[i].States, out[i].Total)
		if c == 0 {
			c = cmp.Compare(out[i].Total, eph.Total)
		}
		if c < 0 {
			at = i
			break
		}
	}
	return slices.Insert(out, at, eph)
}

// EphemeralPorts is the rows LocalPortGroups folds into its ephemeral
// row, in the order of LocalPorts.
func (snap *Snapshot) EphemeralPorts() []PortRow {
	rows := snap.LocalPorts()
	out := rows[:0]
	for i := range rows {
		if snap.isEphemeralRow(&rows[i]) {
			out = append(out, rows[i])
		}
	}
	return out
}
