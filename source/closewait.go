package source

import (
	"math"
	"time"
)

// DefaultCloseWaitInfo is ReadOptions.CloseWaitInfo's default: the
// smallest CLOSE_WAIT count worth a second dump (tcptop's default leak
// threshold).
const DefaultCloseWaitInfo = 10

// ageCloseWait gives CLOSE_WAIT sockets their tcp_info when a dump holds
// enough of them (ReadOptions.CloseWaitInfo), by a second dump masked to
// CLOSE_WAIT with INET_DIAG_INFO. Its LastAckRecv is how long ago the
// peer's last segment came: once the peer's FIN has come it sends nothing
// more, so this is at least how long the socket has been in CLOSE_WAIT,
// known at the first look instead of after several polls. Asking tcp_info
// of every socket would cost the whole dump; the masked walk builds
// messages for the CLOSE_WAIT sockets only.
//
// The walk is still a walk of the whole (machine-wide) socket table, so
// it is made only when at least CloseWaitInfo of the CLOSE_WAIT sockets
// are new since the last one. The others carry the tcp_info of that
// dump with LastAckRecv advanced by the time since: a socket still in
// CLOSE_WAIT (same cookie) has been there all along, so the old lower
// bound plus the time elapsed is a lower bound still.
//
// ahead, when not nil, is that masked dump already under way alongside
// the main one (startCloseWait): it is waited for and used instead of a
// dump made now.
func (k *Kernel) ageCloseWait(socks []Socket, ahead *cwAhead) error {
	if ahead != nil {
		<-ahead.done
	}
	min := k.closeWaitMin()
	if min < 0 {
		return nil
	}
	n, fresh := 0, 0
	for i := range socks {
		if socks[i].State == CloseWait && socks[i].Info == nil {
			n++
			if _, ok := k.cwInfo[socks[i].Cookie]; !ok {
				fresh++
			}
		}
	}
	if n < min {
		k.cwInfo, k.cwAt = nil, time.Time{}
		return nil
	}
	now := time.Now()
	if fresh < min {
		// Every poll between masked dumps comes here: one slab for this
		// poll's infos (a leak holds thousands of sockets: an allocation
		// and a map entry each, every poll, were a few percent of the
		// monitor at 100k sockets), and the map kept as it is unless
		// some sockets left CLOSE_WAIT.
		since := now.Sub(k.cwAt).Milliseconds()
		slab := make([]TCPInfo, 0, n)
		for i := range socks {
			sk := &socks[i]
			if sk.State != CloseWait || sk.Info != nil {
				continue
			}
			ti, ok := k.cwInfo[sk.Cookie]
			if !ok {
				continue
			}
			ti.LastAckRecv = uint32(min64(int64(ti.LastAckRecv)+since, math.MaxUint32))
			slab = append(slab, ti) // at most n: never reallocates
			sk.Info = &slab[len(slab)-1]
		}
		if len(slab) < len(k.cwInfo) {
			// Keep only those still in CLOSE_WAIT.
			still := make(map[uint64]struct{}, len(slab))
			for i := range socks {
				if socks[i].State == CloseWait {
					still[socks[i].Cookie] = struct{}{}
				}
			}
			for c := range k.cwInfo {
				if _, ok := still[c]; !ok {
					delete(k.cwInfo, c)
				}
			}
		}
		return nil
	}
	var infos map[uint64]TCPInfo
	switch {
	case ahead != nil && ahead.err == nil:
		infos, now = infosOf(ahead.socks), ahead.at
	default:
		// None under way, or it failed (its own socket, say): ask on
		// the reader's. A few thousand sockets are asked for one by
		// one (a hash lookup each); more, or a kernel that refuses, by
		// a dump masked to CLOSE_WAIT (a walk of the whole table).
		if n <= closeWaitExactMax {
			ids := make([]SocketID, 0, n)
			for i := range socks {
				if socks[i].State == CloseWait && socks[i].Info == nil {
					ids = append(ids, socks[i].ID())
				}
			}
			if m, err := k.dumper.Infos(ids); err == nil {
				infos, now = m, time.Now()
			}
		}
		if infos == nil {
			cw, err := k.dumper.Dump(MaskOf(CloseWait), ExtInfo, n+n/8+16)
			if err != nil {
				return err
			}
			infos, now = infosOf(cw), time.Now()
		}
	}
	// cwAt is when the answers ended, not began: the kernel read each
	// LastAckRecv before then, so the time since cwAt added to it later
	// never exceeds the time that really passed (a lower bound stays one).
	k.cwInfo, k.cwAt = infos, now
	slab := make([]TCPInfo, 0, len(infos))
	for i := range socks {
		sk := &socks[i]
		if sk.State != CloseWait || sk.Info != nil {
			continue
		}
		if ti, ok := infos[sk.Cookie]; ok {
			slab = append(slab, ti) // at most len(infos): never reallocates
			sk.Info = &slab[len(slab)-1]
		}
	}
	return nil
}

// closeWaitExactMax is the most CLOSE_WAIT sockets whose tcp_info is
// asked for by exact requests (Dumper.Infos) rather than by a masked dump:
// at ~2-4 µs each, 4,096 cost about one walk of a 100k-socket table. A
// variable so that tests can take either path.
var closeWaitExactMax = 4096

// infosOf is the tcp_info of a dump's sockets, by cookie.
func infosOf(socks []Socket) map[uint64]TCPInfo {
	m := make(map[uint64]TCPInfo, len(socks))
	for i := range socks {
		if socks[i].Info != nil {
			m[socks[i].Cookie] = *socks[i].Info
		}
	}
	return m
}

// closeWaitMin is ReadOptions.CloseWaitInfo with its default: the fewest
// CLOSE_WAIT sockets worth the masked dump; negative never asks.
func (k *Kernel) closeWaitMin() int {
	if k.opts.CloseWaitInfo == 0 {
		return DefaultCloseWaitInfo
	}
	return k.opts.CloseWaitInfo
}

// closeWaitAheadMin is the fewest sockets (the namespace's sockstat count,
// before the first dump) for which the first read runs the CLOSE_WAIT
// dump alongside the main one. Below it both walks are short and the
// second goroutine, namespace switch and socket are not worth it. A
// variable so that tests can make small tables take the concurrent path.
var closeWaitAheadMin = 10000

// cwAhead is a CLOSE_WAIT dump (ageCloseWait's) running on its own
// netlink socket while the main dump runs; done closes when it ended.
type cwAhead struct {
	done  chan struct{}
	socks []Socket
	at    time.Time // when the dump returned
	err   error
}

// startCloseWait starts ageCloseWait's masked dump alongside the first
// read's main dump, so that the two walks of the socket table overlap
// (the masked one was 16 % of a --once at 100k sockets, made after the
// main dump). Only the first read does this: it has no earlier infos to
// carry, so the masked dump is made whenever the main one holds
// CloseWaitInfo CLOSE_WAIT sockets, a number known only after that dump;
// starting it anyway costs, when there turn out to be too few, one walk
// that finds little (about 11 ms at 80k sockets) on the other core. Later
// reads make it after the main dump only when enough CLOSE_WAIT are new.
// hint is the first dump's size hint (from sockstat); nil means none
// started.
func (k *Kernel) startCloseWait(hint int) *cwAhead {
	if k.dumped || k.closeWaitMin() < 0 || hint < closeWaitAheadMin ||
		k.opts.States&MaskOf(CloseWait) == 0 || k.opts.Ext&ExtInfo != 0 {
		return nil
	}
	// What the reader's socket learned about the kernel, copied before
	// its dump runs (and may change them).
	noCompat, noIPv6 := k.dumper.NoCompat, k.dumper.NoIPv6
	a := &cwAhead{done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.err = k.ns.Do(func() error {
			d, err := NewDumper()
			if err != nil {
				return err
			}
			defer d.Close()
			d.NoCompat, d.NoIPv6 = noCompat, noIPv6
			a.socks, err = d.Dump(MaskOf(CloseWait), ExtInfo, 64)
			a.at = time.Now()
			return err
		})
	}()
	return a
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}
