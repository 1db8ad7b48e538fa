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
func (k *Kernel) ageCloseWait(socks []Socket) error {
	min := k.opts.CloseWaitInfo
	if min == 0 {
		min = DefaultCloseWaitInfo
	}
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
		carried := make(map[uint64]TCPInfo, n)
		since := now.Sub(k.cwAt).Milliseconds()
		for i := range socks {
			sk := &socks[i]
			if sk.State != CloseWait || sk.Info != nil {
				continue
			}
			ti, ok := k.cwInfo[sk.Cookie]
			if !ok {
				continue
			}
			carried[sk.Cookie] = ti
			ti.LastAckRecv = uint32(min64(int64(ti.LastAckRecv)+since, math.MaxUint32))
			sk.Info = &ti
		}
		k.cwInfo = carried // only those still in CLOSE_WAIT
		return nil
	}
	cw, err := k.dumper.Dump(MaskOf(CloseWait), ExtInfo, n+n/8+16)
	if err != nil {
		return err
	}
	info := make(map[uint64]*TCPInfo, len(cw))
	k.cwInfo, k.cwAt = make(map[uint64]TCPInfo, len(cw)), now
	for i := range cw {
		if cw[i].Info != nil {
			info[cw[i].Cookie] = cw[i].Info
			k.cwInfo[cw[i].Cookie] = *cw[i].Info
		}
	}
	for i := range socks {
		if socks[i].State == CloseWait && socks[i].Info == nil {
			socks[i].Info = info[socks[i].Cookie]
		}
	}
	return nil
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}
