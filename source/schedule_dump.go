package source

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"
)

// The dump schedule's reads (issue 18). A full dump builds one netlink
// message per socket, and at 100k sockets nine in ten are ESTABLISHED.
// A dump masked to every other state still walks the table but builds
// messages for the tenth that changes fast and matters most (listeners
// and their queues, CLOSE_WAIT, TIME_WAIT, SYN_SENT...). The number of
// ESTABLISHED sockets needs no dump at all: the kernel keeps it, per
// namespace, in Tcp CurrEstab (/proc/net/snmp).
//
// What CurrEstab counts depends on the kernel (net/ipv4/tcp.c,
// tcp_set_state): since "tcp: count CLOSE-WAIT sockets for
// TCP_MIB_CURRESTAB" (Linux 6.10, backported to the stable 6.9.y, 6.6.y,
// 6.1.y, 5.15.y, 5.10.y and 5.4.y series in mid 2024) ESTABLISHED plus
// CLOSE_WAIT, as RFC 1213's tcpCurrEstab says; before it, ESTABLISHED only
// (moving to CLOSE_WAIT decremented it). Which one a running kernel does
// is learnt from its own full dumps (EstabCounting), so that backports
// need no version table; before any tells, the version decides.

// EstabCounting is what Tcp CurrEstab counts on this kernel.
type EstabCounting uint8

const (
	// EstabUnknown: no full dump has told yet.
	EstabUnknown EstabCounting = iota
	// EstabWithCloseWait: ESTABLISHED + CLOSE_WAIT (Linux 6.10 and the
	// stable series that took the fix).
	EstabWithCloseWait
	// EstabOnly: ESTABLISHED alone (older kernels).
	EstabOnly
)

// Partial describes a Sample whose ESTABLISHED sockets were not dumped
// in this poll (ReadPartial).
type Partial struct {
	// FullTime is when the ESTABLISHED sockets in Sample.Sockets were
	// dumped: the last full Read. Their queues, peers and owners are that
	// old.
	FullTime time.Time
	// Established is the number of ESTABLISHED sockets now, from the
	// kernel's CurrEstab (less this dump's CLOSE_WAIT where it counts
	// them); Carried is how many the sample holds from the full dump.
	Established, Carried int
	// Counting is how CurrEstab was read.
	Counting EstabCounting
	// Unchanged: the kernel's own counts prove that no socket became
	// ESTABLISHED or left it since the full dump, so the carried sockets
	// are exactly the ESTABLISHED ones now (their queues, timers and
	// owners are as old as FullTime). See Kernel.unchanged. (Left out
	// when false: recordings that do not have it read the same.)
	Unchanged bool `json:",omitempty"`
}

// NoEstablished is every state but ESTABLISHED: the mask of a partial
// read's dump.
const NoEstablished = AllStatesMask &^ (1 << Established)

// carry is what a Kernel keeps of its last full read for partial ones.
type carry struct {
	time     time.Time
	socks    []Socket // that dump's sockets (the sample's own slice, read-only)
	estab    int      // how many of them are ESTABLISHED
	procs    map[int32]*Process
	counting EstabCounting
	// est are the ESTABLISHED ones of socks, made at the first partial
	// read after the full one (a one-shot read never pays for them) and
	// read-only since: the Carried of every partial sample until the
	// next full read. Made once per full dump, not per poll.
	est []Socket
	// estProcs are the processes owning them, from procs, made with
	// est: a partial sample adds these, not a lookup per carried owner.
	estProcs map[int32]*Process
	// fresh is the size of the last partial read's dump, its next
	// one's size hint (the full dump's would allocate for every
	// ESTABLISHED socket too, at each poll).
	fresh int
	// For Partial.Unchanged: the full read's Tcp ActiveOpens plus
	// PassiveOpens (opensOK: both were read), and the cookies of its
	// sockets that were opening (SYN_SENT, SYN_RECV: the ones that can
	// become ESTABLISHED without another open being counted).
	opens   int64
	opensOK bool
	opening map[uint64]State
	// afterPartial: the last read was partial, so a full read now is a
	// monitor's periodic full dump, whose ESTABLISHED sockets keepFull
	// puts apart in place for the partial reads after it (as it does a
	// Scheduled reader's first full read). A one-shot read, and the full
	// reads of every poll while the monitor shows a drill-down, never pay
	// for that.
	afterPartial bool
	// spare is the buffer keepFull moves the other sockets through.
	spare []Socket
}

// FullTime is when the reader's last full dump ran (zero: never).
func (k *Kernel) FullTime() time.Time { return k.carry.time }

// Counting is what the reader has learnt CurrEstab counts.
func (k *Kernel) Counting() EstabCounting { return k.carry.counting }

// keepFull records a full read's ESTABLISHED sockets and what its
// CurrEstab counted, for the partial reads after it. On the dump
// schedule (right after a partial read, or a Scheduled reader's first
// read) it also puts the sample's ESTABLISHED sockets first and apart, in
// Carried (see apart), before anyone else sees the sample.
func (k *Kernel) keepFull(s *Sample) {
	defer func() { k.carry.afterPartial = false }()
	partialNext := k.carry.afterPartial || k.carry.time.IsZero() && k.opts.Scheduled
	est, cw := 0, 0
	var opening map[uint64]State
	for i := range s.Sockets {
		switch sk := &s.Sockets[i]; sk.State {
		case Established:
			est++
		case CloseWait:
			cw++
		case SynSent, SynRecv:
			if opening == nil {
				opening = map[uint64]State{}
			}
			// Cookie 0 cannot be followed: it counts as a change.
			opening[sk.Cookie] = sk.State
		}
	}
	k.carry.opens, k.carry.opensOK = openCount(s.Counters)
	k.carry.opening = opening
	// Kept by reference: a one-shot read never pays for a copy; the
	// first partial read after it copies the ESTABLISHED ones out, unless
	// they were put apart here.
	k.carry.time, k.carry.socks, k.carry.estab, k.carry.procs = s.Time, s.Sockets, est, s.Procs
	k.carry.est, k.carry.estProcs, k.carry.fresh = nil, nil, len(s.Sockets)-est
	if partialNext && est > 0 && len(s.Carried) == 0 {
		k.carry.spare = apart(s, est, k.carry.spare)
		k.carry.est, k.carry.socks = s.Carried, nil
	}
	if ce, ok := s.Counters["CurrEstab"]; ok && cw > 0 {
		// The counter was read just after the dump: under churn it is a
		// few sockets off, so take the nearer reading. With no
		// CLOSE_WAIT both readings agree and nothing is learnt.
		with, without := absInt(int(ce)-est-cw), absInt(int(ce)-est)
		switch {
		case with < without:
			k.carry.counting = EstabWithCloseWait
		case without < with:
			k.carry.counting = EstabOnly
		}
	}
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// ReadPartial takes a Sample in which every state but ESTABLISHED is
// dumped now (exact, with its owners), the ESTABLISHED sockets are those
// of the last full Read (Sample.Partial.FullTime; their owners as then),
// and Partial.Established is the exact number of ESTABLISHED sockets now
// from the kernel's counter. Before any full Read, it is a full Read.
func (k *Kernel) ReadPartial(ctx context.Context) (*Sample, error) {
	if k.carry.time.IsZero() {
		return k.Read(ctx)
	}
	states, last := k.opts.States, k.last
	k.opts.States = states & NoEstablished
	// The size hint is the last partial dump's (k.last 0 would ask
	// sockstat for every socket).
	k.last = max(1, k.carry.fresh)
	s, err := k.read(ctx)
	k.opts.States, k.last = states, last // the full dump's hint stays for the next full one
	if err != nil {
		return nil, err
	}
	k.carry.fresh = len(s.Sockets)
	k.carry.afterPartial = true
	cw := 0
	for i := range s.Sockets {
		if s.Sockets[i].State == CloseWait {
			cw++
		}
	}
	p := &Partial{FullTime: k.carry.time, Carried: k.carry.estab, Counting: k.carry.counting}
	if p.Counting == EstabUnknown {
		p.Counting = countingByVersion(k.m.procRoot)
	}
	ce, ok := s.Counters["CurrEstab"]
	switch {
	case !ok:
		// No counter (snmp unreadable): the carried count is all there is.
		p.Established = p.Carried
	case p.Counting == EstabWithCloseWait:
		p.Established = max(0, int(ce)-cw)
	default:
		p.Established = int(ce)
	}
	p.Unchanged = ok && k.unchanged(s, p)
	if states&(1<<Established) != 0 {
		s.Carried = k.carried()
		if len(k.carry.procs) > 0 {
			if s.Procs == nil {
				s.Procs = make(map[int32]*Process, len(k.carry.estProcs))
			}
			for pid, pr := range k.carry.estProcs {
				if _, ok := s.Procs[pid]; !ok {
					s.Procs[pid] = pr
				}
			}
		}
		s.Partial = p
	}
	return s, nil
}

// carried returns the carried ESTABLISHED sockets, the Sample.Carried of
// every partial sample until the next full read: shared by them, never
// copied or written (an older sample may still be read: the previous
// snapshot, a paused monitor, the exporter). The first call after a full
// read picks them out of that read's sockets into a slice of their own
// (cap = len, so no append can write past it), unless keepFull put them
// apart already (then they are the full sample's own Carried), and finds
// their processes.
func (k *Kernel) carried() []Socket {
	c := &k.carry
	if c.estab == 0 || c.estProcs != nil {
		return c.est
	}
	if c.est == nil {
		est := make([]Socket, 0, c.estab)
		for i := range c.socks {
			if c.socks[i].State == Established {
				est = append(est, c.socks[i])
			}
		}
		c.est = est[:len(est):len(est)]
		c.socks = nil // the full sample's slice is not needed here any more
	}
	c.estProcs = map[int32]*Process{}
	if len(c.procs) > 0 {
		for i := range c.est {
			for _, pid := range c.est[i].Owners {
				if _, ok := c.estProcs[pid]; !ok {
					if pr := c.procs[pid]; pr != nil {
						c.estProcs[pid] = pr
					}
				}
			}
		}
	}
	return c.est
}

// apart reorders a full sample's sockets in place so that its est
// ESTABLISHED ones come first, in Carried (cap = len), and the others
// after them, in Sockets, each kind in the order it had: the partial
// samples after it then share Carried as it is, without the copy of
// every ESTABLISHED socket the first of them would make, and the flight
// recorder finds the same slice in both. Only the others (a tenth at
// 100k sockets) pass through spare, which it returns for the next time.
func apart(s *Sample, est int, spare []Socket) []Socket {
	socks := s.Sockets
	others := spare[:0]
	w := 0
	for i := range socks {
		if socks[i].State == Established {
			if w != i {
				socks[w] = socks[i]
			}
			w++
			continue
		}
		others = append(others, socks[i])
	}
	copy(socks[w:], others)
	s.Carried, s.Sockets = socks[:w:w], socks[w:]
	clear(others) // no pointers kept alive from the spare buffer
	return others[:0]
}

// unchanged reports whether the kernel's counts prove that the
// ESTABLISHED sockets now are exactly those of the last full dump.
//
// A socket becomes ESTABLISHED only from SYN_SENT (after connect(), which
// counts Tcp ActiveOpens) or from SYN_RECV (a child socket, created
// counting PassiveOpens: a request socket's handshake completing, or a
// Fast Open child). So with neither counter moved since the full dump,
// the only sockets that can have joined are those that were opening at
// it: each still opening now (the same cookie in SYN_SENT or SYN_RECV in
// this dump) has not. With no socket joined, the ESTABLISHED count tells
// whether any left (a close, a reset, CLOSE_WAIT): it must equal the
// carried count, read off the kernel's CurrEstab at this poll (p).
//
// Every doubt answers false, which only means the full dump runs when
// due: counters missing, a cookie 0, a count the dump and the counter
// disagreed on at the full read already.
func (k *Kernel) unchanged(s *Sample, p *Partial) bool {
	c := &k.carry
	opens, ok := openCount(s.Counters)
	if !ok || !c.opensOK || opens != c.opens || p.Established != p.Carried {
		return false
	}
	if len(c.opening) == 0 {
		return true
	}
	if _, zero := c.opening[0]; zero {
		return false
	}
	still := make(map[uint64]bool, len(c.opening)) // a socket dumped twice counts once
	for i := range s.Sockets {
		sk := &s.Sockets[i]
		if sk.State != SynSent && sk.State != SynRecv {
			continue
		}
		if st, ok := c.opening[sk.Cookie]; ok && st == sk.State {
			still[sk.Cookie] = true
		}
	}
	return len(still) == len(c.opening)
}

// openCount is Tcp ActiveOpens plus PassiveOpens, and whether both were
// read.
func openCount(counters map[string]int64) (int64, bool) {
	a, okA := counters["ActiveOpens"]
	p, okP := counters["PassiveOpens"]
	return a + p, okA && okP
}

// countingByVersion guesses what CurrEstab counts from the kernel's
// release: with CLOSE_WAIT from 6.10 on (and in the stable series that
// took the fix, which the full dumps then tell).
func countingByVersion(procRoot string) EstabCounting {
	b, err := os.ReadFile(procRoot + "/sys/kernel/osrelease")
	if err != nil {
		return EstabWithCloseWait
	}
	return countingOfRelease(strings.TrimSpace(string(b)))
}

// countingOfRelease is countingByVersion's rule for a release string.
func countingOfRelease(rel string) EstabCounting {
	f := strings.FieldsFunc(rel, func(r rune) bool { return r == '.' || r == '-' || r == '+' })
	if len(f) < 2 {
		return EstabWithCloseWait
	}
	major, err1 := strconv.Atoi(f[0])
	minor, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return EstabWithCloseWait
	}
	if major > 6 || major == 6 && minor >= 10 {
		return EstabWithCloseWait
	}
	return EstabOnly
}
