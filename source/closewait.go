package source

import (
	"math"
	"runtime"
	"time"
)

// DefaultCloseWaitInfo is ReadOptions.CloseWaitInfo's default: the
// smallest CLOSE_WAIT count worth a second dump (tcptop's default leak
// threshold).
const DefaultCloseWaitInfo = 10

// ageCloseWait gives CLOSE_WAIT sockets their tcp_info when a dump holds
// enough of them (ReadOptions.CloseWaitInfo). Its LastAckRecv is how long
// ago the peer's last segment came: once the peer's FIN has come it sends
// nothing more, so this is at least how long the socket has been in
// CLOSE_WAIT, known at the first look instead of after several polls.
// Asking tcp_info of every socket would cost the whole dump: it is asked
// for the CLOSE_WAIT sockets alone, each by an exact request (a hash
// lookup; up to exactLimit of them, 8,192 per 100k sockets in the table,
// over two sockets at once for many), or for more by a second dump
// masked to CLOSE_WAIT (a walk of the whole, machine-wide, socket table).
//
// It asks only when at least CloseWaitInfo of the CLOSE_WAIT sockets are
// new since the last answers. The others carry the tcp_info of those
// answers with LastAckRecv advanced by the time since: a socket still in
// CLOSE_WAIT (same cookie) has been there all along, so the old lower
// bound plus the time elapsed is a lower bound still.
func (k *Kernel) ageCloseWait(socks []Socket) error {
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
	if n <= exactLimit(len(socks)) {
		ids := make([]SocketID, 0, n)
		for i := range socks {
			if socks[i].State == CloseWait && socks[i].Info == nil {
				ids = append(ids, socks[i].ID())
			}
		}
		if m, err := k.infos(ids); err == nil {
			infos, now = m, time.Now()
		}
	}
	if infos == nil {
		// Too many, or the kernel refused the exact requests.
		cw, err := k.dumper.Dump(MaskOf(CloseWait), ExtInfo, n+n/8+16)
		if err != nil {
			return err
		}
		infos, now = infosOf(cw), time.Now()
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
// asked for by exact requests (Dumper.Infos) rather than by a masked dump
// in a table of up to 100k sockets: at ~2-4 µs each, over two sockets,
// 8,192 cost about one walk of a 100k-socket table. A variable so that
// tests can take either path.
var closeWaitExactMax = 8192

// exactLimit is the most CLOSE_WAIT sockets asked for by exact requests
// when a dump found total sockets: the masked dump's walk grows with the
// table (the machine's, at least this namespace's), the requests with
// their number, so a bigger table moves the limit up in proportion
// (at 200k sockets with 10k CLOSE_WAIT, a first read took the walk:
// ~60 ms more than the requests).
func exactLimit(total int) int {
	return max(closeWaitExactMax, int(int64(total)*int64(closeWaitExactMax)/100000))
}

// infoSplitMin is the fewest exact requests infos shares with a second
// socket on another core: below it the goroutine, namespace switch and
// socket cost more than they save.
var infoSplitMin = 512

// infos is Dumper.Infos for ids on the reader's socket, and for many on a
// second socket of the namespace at once, each asking for half.
func (k *Kernel) infos(ids []SocketID) (map[uint64]TCPInfo, error) {
	if len(ids) < infoSplitMin || runtime.NumCPU() < 2 {
		return k.dumper.Infos(ids)
	}
	half := len(ids) / 2
	type answer struct {
		m   map[uint64]TCPInfo
		err error
	}
	done := make(chan answer, 1)
	go func() {
		var a answer
		a.err = k.ns.Do(func() error {
			d, err := NewDumper()
			if err != nil {
				return err
			}
			defer d.Close()
			a.m, err = d.Infos(ids[half:])
			return err
		})
		done <- a
	}()
	m, err := k.dumper.Infos(ids[:half])
	b := <-done
	if err != nil {
		return nil, err
	}
	if b.err != nil {
		// No second socket (or it failed): ask for its half here.
		if b.m, b.err = k.dumper.Infos(ids[half:]); b.err != nil {
			return nil, b.err
		}
	}
	for c, ti := range b.m {
		m[c] = ti
	}
	return m, nil
}

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

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}
