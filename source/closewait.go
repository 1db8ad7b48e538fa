package source

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
func (k *Kernel) ageCloseWait(socks []Socket) error {
	min := k.opts.CloseWaitInfo
	if min == 0 {
		min = DefaultCloseWaitInfo
	}
	if min < 0 {
		return nil
	}
	n := 0
	for i := range socks {
		if socks[i].State == CloseWait && socks[i].Info == nil {
			n++
		}
	}
	if n < min {
		return nil
	}
	cw, err := k.dumper.Dump(MaskOf(CloseWait), ExtInfo, n+n/8+16)
	if err != nil {
		return err
	}
	info := make(map[uint64]*TCPInfo, len(cw))
	for i := range cw {
		if cw[i].Info != nil {
			info[cw[i].Cookie] = cw[i].Info
		}
	}
	for i := range socks {
		if socks[i].State == CloseWait && socks[i].Info == nil {
			socks[i].Info = info[socks[i].Cookie]
		}
	}
	return nil
}
