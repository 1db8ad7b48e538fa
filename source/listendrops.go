package source

// listenDrops gives the listeners of a dump their drop counter
// (Socket.Drops) by a second dump masked to LISTEN with
// INET_DIAG_SKMEMINFO. A LISTEN-only dump walks the listening hash alone,
// not the established one, so it costs next to nothing whatever else the
// namespace holds; asking SKMEMINFO of every socket would cost the whole
// dump.
//
// Why sk_drops: the kernel drops a SYN to a full accept queue in
// tcp_conn_request (ListenOverflows) and a handshake's last ACK to a full
// queue in tcp_v4/v6_syn_recv_sock (ListenOverflows too); both paths end
// in tcp_listendrop, which increments the listener's sk_drops with
// ListenDrops. So a listener's sk_drops is its own share of ListenDrops
// (a full SYN queue without syncookies and failed allocations count
// there too), exactly attributed, on every kernel and without eBPF.
// SK_MEMINFO_DROPS reads it.
func (k *Kernel) listenDrops(socks []Socket) error {
	if k.opts.States&MaskOf(Listen) == 0 {
		return nil
	}
	n := 0
	for i := range socks {
		if socks[i].State == Listen && !socks[i].DropsKnown {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	ls, err := k.dumper.Dump(MaskOf(Listen), ExtSKMemInfo, n+16)
	if err != nil {
		return err
	}
	drops := make(map[uint64]uint32, len(ls))
	for i := range ls {
		if ls[i].DropsKnown {
			drops[ls[i].Cookie] = ls[i].Drops
		}
	}
	for i := range socks {
		if socks[i].State != Listen || socks[i].DropsKnown {
			continue
		}
		if d, ok := drops[socks[i].Cookie]; ok {
			socks[i].Drops, socks[i].DropsKnown = d, true
		}
	}
	return nil
}
