package model

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/tcptop/tcptop/source"
)

// MaxDestinations bounds Ephemeral.Destinations.
const MaxDestinations = 25

// Options shapes the lists of a Snapshot; the totals ignore them.
type Options struct {
	// Filter selects the sockets that make up Peers and Processes.
	Filter Filter
	// Sort orders Peers and Processes, largest first.
	Sort SortKey
}

// UnknownName names the process bucket of sockets without a known owner.
const UnknownName = "unknown"

// Build computes a Snapshot from a Sample. prev (may be nil) is the
// previous snapshot, for rates. Build does not modify the sample.
func Build(s *source.Sample, prev *Snapshot, opt Options) *Snapshot {
	t0 := time.Now()
	snap := &Snapshot{
		Time:                s.Time,
		Host:                s.Host,
		Netns:               s.Netns,
		Counters:            s.Counters,
		Sysctl:              s.Sysctl.Raw,
		Sockstat:            s.Sockstat,
		Attributed:          s.Attributed,
		UnreadableProcesses: s.Unreadable,
		Filter:              opt.Filter.String(),
		Sort:                opt.Sort.String(),
		Warnings:            s.Warnings,
		Sample:              s,
		Listeners:           []Listener{},
		Peers:               []Peer{},
		Processes:           []ProcessRow{},
	}
	if snap.Counters == nil {
		snap.Counters = map[string]int64{}
	}
	if snap.Sysctl == nil {
		snap.Sysctl = map[string]string{}
	}
	for i := range s.Sockets {
		snap.States[s.Sockets[i].State]++
	}
	snap.Total = len(s.Sockets)

	lt := buildListeners(snap, s)
	buildEphemeral(snap, s, lt)
	buildPeers(snap, s, lt, opt)
	buildProcesses(snap, s, opt)
	buildRates(snap, prev)

	snap.PollMS = PollCost{
		Dump:      ms(s.Took.Dump),
		Attribute: ms(s.Took.Attribute),
		Proc:      ms(s.Took.Proc),
		Build:     ms(time.Since(t0)),
	}
	snap.PollMS.Total = snap.PollMS.Dump + snap.PollMS.Attribute + snap.PollMS.Proc + snap.PollMS.Build
	return snap
}

func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// listenTable finds the listener a local address belongs to.
type listenTable map[uint16][]listenEntry

type listenEntry struct {
	addr netip.Addr // unmapped
	idx  int        // into Snapshot.Listeners
}

// lookup returns the listener index for a local endpoint: an exact address
// match first, then a wildcard listener on the port.
func (t listenTable) lookup(local netip.AddrPort) (int, bool) {
	es := t[local.Port()]
	if len(es) == 0 {
		return 0, false
	}
	a := local.Addr().Unmap()
	wild := -1
	for _, e := range es {
		if e.addr == a {
			return e.idx, true
		}
		if e.addr.IsUnspecified() && wild < 0 {
			// A dual-stack [::] listener also serves IPv4.
			if e.addr.Is6() || a.Is4() {
				wild = e.idx
			}
		}
	}
	return wild, wild >= 0
}

func buildListeners(snap *Snapshot, s *source.Sample) listenTable {
	type lis struct {
		l  Listener
		ap netip.AddrPort
	}
	var ls []lis
	lt := listenTable{}
	somax := s.Sysctl.Somaxconn
	for i := range s.Sockets {
		sk := &s.Sockets[i]
		if sk.State != source.Listen {
			continue
		}
		l := Listener{
			Local:             sk.Local.String(),
			Queue:             sk.RecvQ,
			Backlog:           sk.SendQ,
			Full:              sk.RecvQ > sk.SendQ,
			CappedBySomaxconn: somax > 0 && int(sk.SendQ) == somax,
			InEphemeralRange:  inEphemeral(&s.Sysctl, int(sk.Local.Port())),
			Processes:         procRefs(sk.Owners, s.Procs),
		}
		if sk.SendQ > 0 {
			l.Fill = float64(sk.RecvQ) / float64(sk.SendQ)
		}
		lt[sk.Local.Port()] = append(lt[sk.Local.Port()], listenEntry{sk.Local.Addr().Unmap(), len(ls)})
		ls = append(ls, lis{l, sk.Local})
	}
	for i := range s.Sockets {
		sk := &s.Sockets[i]
		if sk.State == source.SynRecv {
			if idx, ok := lt.lookup(sk.Local); ok {
				ls[idx].l.SynRecv++
			}
		}
	}
	// Fullest first, then by SYN_RECV, then by address for a stable order.
	slices.SortStableFunc(ls, func(a, b lis) int {
		if c := cmp.Compare(b.l.Fill, a.l.Fill); c != 0 {
			return c
		}
		if c := cmp.Compare(b.l.SynRecv, a.l.SynRecv); c != 0 {
			return c
		}
		return cmp.Compare(a.l.Local, b.l.Local)
	})
	clear(lt)
	for i, x := range ls {
		snap.Listeners = append(snap.Listeners, x.l)
		lt[x.ap.Port()] = append(lt[x.ap.Port()], listenEntry{x.ap.Addr().Unmap(), i})
	}
	return lt
}

func inEphemeral(sc *source.Sysctls, port int) bool {
	if !sc.PortRangeParsed || port < sc.PortLow || port > sc.PortHigh {
		return false
	}
	return !source.IsReserved(sc.Reserved, port)
}

func procRefs(pids []int32, procs map[int32]*source.Process) []ProcRef {
	refs := make([]ProcRef, 0, len(pids))
	for _, pid := range pids {
		refs = append(refs, ProcRef{PID: pid, Name: procName(pid, procs)})
	}
	return refs
}

func procName(pid int32, procs map[int32]*source.Process) string {
	if p := procs[pid]; p != nil && p.Name != "" {
		return p.Name
	}
	return "?"
}

type destKey struct {
	local  netip.Addr
	remote netip.AddrPort
}

type destAcc struct {
	inUse, tw   int
	next, drain uint32
}

func buildEphemeral(snap *Snapshot, s *source.Sample, lt listenTable) {
	sc := &s.Sysctl
	e := &snap.Ephemeral
	e.Destinations = []Destination{}
	if !sc.PortRangeParsed {
		return
	}
	e.Low, e.High = sc.PortLow, sc.PortHigh
	e.Reserved = source.ReservedInRange(sc.Reserved, sc.PortLow, sc.PortHigh)
	e.Usable = max(0, sc.PortHigh-sc.PortLow+1-e.Reserved)

	// A port counts once however many sockets hold it (bitmap over 64k ports).
	var used [65536 / 64]uint64
	dests := map[destKey]*destAcc{}
	for i := range s.Sockets {
		sk := &s.Sockets[i]
		port := int(sk.Local.Port())
		if port < sc.PortLow || port > sc.PortHigh || source.IsReserved(sc.Reserved, port) {
			continue
		}
		if used[port/64]&(1<<(port%64)) == 0 {
			used[port/64] |= 1 << (port % 64)
			e.InUse++
		}
		if sk.State == source.Listen || sk.Remote.Port() == 0 {
			continue
		}
		if _, incoming := lt.lookup(sk.Local); incoming {
			continue
		}
		k := destKey{sk.Local.Addr().Unmap(), netip.AddrPortFrom(sk.Remote.Addr().Unmap(), sk.Remote.Port())}
		d := dests[k]
		if d == nil {
			d = &destAcc{}
			dests[k] = d
		}
		d.inUse++
		if sk.State == source.TimeWait {
			d.tw++
			if d.next == 0 || sk.Expires < d.next {
				d.next = sk.Expires
			}
			d.drain = max(d.drain, sk.Expires)
		}
	}
	if e.Usable > 0 {
		e.Fraction = float64(e.InUse) / float64(e.Usable)
	}
	e.DestinationCount = len(dests)
	list := make([]Destination, 0, len(dests))
	for k, d := range dests {
		dst := Destination{
			LocalIP:    k.local.String(),
			Remote:     k.remote.String(),
			InUse:      d.inUse,
			TimeWait:   d.tw,
			NextFreeMS: d.next,
			DrainMS:    d.drain,
		}
		if e.Usable > 0 {
			dst.Fraction = float64(d.inUse) / float64(e.Usable)
		}
		list = append(list, dst)
	}
	slices.SortFunc(list, func(a, b Destination) int {
		if c := cmp.Compare(b.InUse, a.InUse); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Remote, b.Remote); c != 0 {
			return c
		}
		return cmp.Compare(a.LocalIP, b.LocalIP)
	})
	if len(list) > MaxDestinations {
		list = list[:MaxDestinations]
	}
	e.Destinations = list
}

type peerKey struct {
	remote netip.AddrPort // port 0 for incoming peers
	in     bool
	local  string // listener address for incoming peers
}

type peerAcc struct {
	peer  Peer
	local netip.Addr // outgoing: the local IP, while all agree
	mixed bool
	procs map[int32]*PeerProcess
	order []int32
}

func buildPeers(snap *Snapshot, s *source.Sample, lt listenTable, opt Options) {
	accs := map[peerKey]*peerAcc{}
	var keys []peerKey
	for i := range s.Sockets {
		sk := &s.Sockets[i]
		if sk.State == source.Listen || !sk.Remote.Addr().IsValid() {
			continue
		}
		if !opt.Filter.Empty() && !opt.Filter.Match(sk, s.Procs) {
			continue
		}
		remote := sk.Remote.Addr().Unmap()
		var k peerKey
		if idx, in := lt.lookup(sk.Local); in {
			k = peerKey{remote: netip.AddrPortFrom(remote, 0), in: true, local: snap.Listeners[idx].Local}
		} else {
			k = peerKey{remote: netip.AddrPortFrom(remote, sk.Remote.Port())}
		}
		a := accs[k]
		if a == nil {
			a = &peerAcc{procs: map[int32]*PeerProcess{}}
			a.peer.Loopback = remote.IsLoopback()
			if k.in {
				a.peer.Direction, a.peer.Remote, a.peer.Local = "in", remote.String(), k.local
			} else {
				a.peer.Direction, a.peer.Remote = "out", k.remote.String()
				a.local = sk.Local.Addr().Unmap()
			}
			accs[k] = a
			keys = append(keys, k)
		}
		if !k.in && !a.mixed && sk.Local.Addr().Unmap() != a.local {
			a.mixed = true
		}
		a.peer.States[sk.State]++
		a.peer.Total++
		a.peer.Sockets = append(a.peer.Sockets, i)
		if !s.Attributed {
			continue
		}
		owners := sk.Owners
		if len(owners) == 0 {
			owners = unknownOwner
		}
		for _, pid := range owners {
			pp := a.procs[pid]
			if pp == nil {
				name := UnknownName
				if pid != 0 {
					name = procName(pid, s.Procs)
				}
				pp = &PeerProcess{PID: pid, Name: name, Inferred: true}
				a.procs[pid] = pp
				a.order = append(a.order, pid)
			}
			pp.Sockets++
			if !sk.OwnerInferred && pid != 0 {
				pp.Inferred = false
			}
		}
	}
	peers := make([]Peer, 0, len(keys))
	for _, k := range keys {
		a := accs[k]
		if !k.in {
			if a.mixed {
				a.peer.Local = "*"
			} else {
				a.peer.Local = a.local.String()
			}
		}
		a.peer.Processes = make([]PeerProcess, 0, len(a.order))
		for _, pid := range a.order {
			pp := *a.procs[pid]
			if pid == 0 {
				pp.Inferred = false
			}
			a.peer.Processes = append(a.peer.Processes, pp)
		}
		slices.SortStableFunc(a.peer.Processes, func(x, y PeerProcess) int {
			if c := cmp.Compare(y.Sockets, x.Sockets); c != 0 {
				return c
			}
			return cmp.Compare(x.PID, y.PID)
		})
		peers = append(peers, a.peer)
	}
	slices.SortStableFunc(peers, func(x, y Peer) int {
		if c := cmp.Compare(opt.Sort.value(&y.States, y.Total), opt.Sort.value(&x.States, x.Total)); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Total, x.Total); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Remote, y.Remote); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Direction, y.Direction); c != 0 {
			return c
		}
		return cmp.Compare(x.Local, y.Local)
	})
	snap.Peers = peers
}

var unknownOwner = []int32{0}

func buildProcesses(snap *Snapshot, s *source.Sample, opt Options) {
	if !s.Attributed {
		return
	}
	rows := map[int32]*ProcessRow{}
	var order []int32
	for i := range s.Sockets {
		sk := &s.Sockets[i]
		if !opt.Filter.Empty() && !opt.Filter.Match(sk, s.Procs) {
			continue
		}
		owners := sk.Owners
		if len(owners) == 0 {
			owners = unknownOwner
		}
		for _, pid := range owners {
			r := rows[pid]
			if r == nil {
				r = &ProcessRow{PID: pid, Name: UnknownName}
				if p := s.Procs[pid]; p != nil && pid != 0 {
					r.Name, r.Cmdline, r.User = p.Name, p.Cmdline, p.User
				} else if pid != 0 {
					r.Name = "?"
				}
				rows[pid] = r
				order = append(order, pid)
			}
			r.States[sk.State]++
			r.Total++
			r.Sockets = append(r.Sockets, i)
		}
	}
	list := make([]ProcessRow, 0, len(order))
	for _, pid := range order {
		list = append(list, *rows[pid])
	}
	slices.SortStableFunc(list, func(x, y ProcessRow) int {
		if c := cmp.Compare(opt.Sort.value(&y.States, y.Total), opt.Sort.value(&x.States, x.Total)); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Total, x.Total); c != 0 {
			return c
		}
		return cmp.Compare(x.PID, y.PID)
	})
	snap.Processes = list
}

func buildRates(snap *Snapshot, prev *Snapshot) {
	if prev == nil {
		return
	}
	dt := snap.Time.Sub(prev.Time)
	if dt <= 0 {
		return
	}
	snap.Interval = dt
	sec := dt.Seconds()
	snap.Rates = make(map[string]Rate, len(snap.Counters))
	for k, v := range snap.Counters {
		if pv, ok := prev.Counters[k]; ok {
			snap.Rates[k] = Rate(float64(v-pv) / sec)
		}
	}
}
