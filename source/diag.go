package source

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// Netlink sock_diag plumbing, hand-written on purpose: vishvananda/netlink's
// SocketDiagTCP* always dump every state with INFO+VEGAS extensions and cost
// 3-9 allocations per socket (85-118 ms for 42k sockets against ~38 ms for
// this in-place parse, FACTS.md), and its nl.NetlinkSocket.Receive allocates
// a message slice per datagram. The namespace handling uses
// github.com/vishvananda/netns (see netns.go).

const (
	sizeofNlMsghdr    = 16
	sizeofDiagReqV2   = 56
	sizeofDiagReqV1   = 60 // struct inet_diag_req, the compat request
	sizeofDiagMsg     = 72
	sockDiagByFamily  = 20 // SOCK_DIAG_BY_FAMILY
	tcpDiagGetSock    = 18 // TCPDIAG_GETSOCK, the compat request type
	inetDiagInfo      = 2  // INET_DIAG_INFO attribute type
	inetDiagSKMemInfo = 7  // INET_DIAG_SKMEMINFO: u32 mem[SK_MEMINFO_VARS]
	skMemInfoDrops    = 8  // SK_MEMINFO_DROPS, the index of sk_drops
	minTCPInfoLen     = 104
	recvBufSize       = 64 << 10
	socketRcvBufBytes = 1 << 20
)

// ErrNoInetDiag means the kernel has no inet_diag/tcp_diag support loaded.
var ErrNoInetDiag = errors.New("the kernel's sock_diag has no TCP support (load the tcp_diag and inet_diag modules: modprobe tcp_diag)")

// Dumper asks the kernel for TCP sockets over one NETLINK_SOCK_DIAG socket.
// It is not safe for concurrent use.
type Dumper struct {
	fd   int
	seq  uint32
	buf  []byte
	seen idxTable // scratch for dedupeByCookie
	// NoIPv6 is set after the kernel refused an AF_INET6 dump (IPv6 disabled
	// or inet6_diag absent); later dumps skip IPv6.
	NoIPv6 bool
	// NoCompat is set after the kernel refused the one-walk compat request
	// (TCPDIAG_GETSOCK); later dumps ask per family.
	NoCompat bool
	// bc, when set, is an inet_diag bytecode filter sent with each
	// request (DumpSplit's halves).
	bc []byte
	// tap, when set (tests), sees every raw datagram received.
	tap func([]byte)
}

// NewDumper opens a sock_diag socket in the calling thread's network
// namespace. Callers that want another namespace create it from inside
// that namespace (see Kernel).
func NewDumper() (*Dumper, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("open netlink sock_diag socket: %w", err)
	}
	// A bigger receive buffer lets the kernel run ahead of us during dumps.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketRcvBufBytes)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind netlink sock_diag socket: %w", err)
	}
	return &Dumper{fd: fd, buf: make([]byte, recvBufSize)}, nil
}

// Close releases the netlink socket.
func (d *Dumper) Close() error {
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// Dump returns the TCP sockets of both address families in the given states,
// with the requested extensions, deduplicated by cookie. sizeHint sets the
// initial capacity of the result.
func (d *Dumper) Dump(states StateMask, ext Extensions, sizeHint int) ([]Socket, error) {
	out, err := d.collect(states, ext, make([]Socket, 0, sizeHint))
	if err != nil {
		return nil, err
	}
	return d.finish(states, out), nil
}

// kernelMask is the state mask to send for states: orphaned FIN_WAIT2
// sockets live as timewait sockets with a FIN_WAIT2 substate, so the
// kernel filters them as TIME_WAIT but reports FIN_WAIT2.
func kernelMask(states StateMask) StateMask {
	if states&(1<<FinWait2) != 0 {
		return states | 1<<TimeWait
	}
	return states
}

// finish drops what the kernel mask let in beyond states, and the sockets
// a dump saw twice.
func (d *Dumper) finish(states StateMask, out []Socket) []Socket {
	if kernelMask(states) != states {
		out = filterStates(out, states)
	}
	return dedupeByCookie(out, &d.seen)
}

// collect appends the dump's sockets to out, as the kernel sent them.
func (d *Dumper) collect(states StateMask, ext Extensions, out []Socket) ([]Socket, error) {
	km := kernelMask(states)
	var err error
	if !d.NoCompat {
		// One request for both families: the kernel walks its socket hash
		// once (AF_UNSPEC) instead of twice, the AF_INET6 walk skipping
		// every IPv4 socket one cache miss at a time (~13% of the dump at
		// 80k IPv4 sockets).
		n := len(out)
		out, err = d.dumpCompat(km, ext, out)
		if err == nil {
			return out, nil
		}
		// Refused (a kernel without the compat handler: EOPNOTSUPP, or no
		// tcp_diag at all): ask per family from now on. Any other failure:
		// ask per family this time; that path reports its own errors.
		if isNoDiag(err) || errors.Is(err, unix.EOPNOTSUPP) {
			d.NoCompat = true
		}
		out = out[:n]
	}
	out, err = d.dumpFamily(unix.AF_INET, km, ext, out)
	if err != nil {
		if isNoDiag(err) {
			return nil, ErrNoInetDiag
		}
		return nil, err
	}
	if !d.NoIPv6 {
		n := len(out)
		out, err = d.dumpFamily(unix.AF_INET6, km, ext, out)
		if err != nil {
			if !isNoDiag(err) {
				return nil, err
			}
			d.NoIPv6 = true
			out = out[:n]
		}
	}
	return out, nil
}

// DumpSplit is Dump over two sockets at once: d asks for one half of the
// sockets and other (a second Dumper of the same namespace) for the other
// half, each on its own goroutine, so that a machine with a second core
// builds and parses both halves' messages at the same time. It is for a
// one-shot read, where the wall time is what the user waits for: each
// half still walks the whole socket table, so the two cost more CPU in
// all than one dump (about one walk more).
//
// The halves are told apart by a filter (inet_diag bytecode) on the
// ports: a socket is in the first half when exactly one of its local and
// remote ports is at least mid. A server's sockets share a local port and
// differ in their clients' (ephemeral) ports, a client's the other way
// round, so with mid in the middle of the ephemeral range either kind
// splits about evenly; a socket's ports never change, so every socket is
// in exactly one half.
func (d *Dumper) DumpSplit(other *Dumper, mid uint16, states StateMask, ext Extensions, sizeHint int) ([]Socket, error) {
	if mid == 0 {
		mid = 1
	}
	other.NoCompat, other.NoIPv6 = d.NoCompat, d.NoIPv6
	// One array for both halves: the first fills it from the start, the
	// second from gap on, and the second moves down after the first's end
	// at the end. Each half in its own array, appended to the first, paid
	// for a second copy of half the sockets in fresh memory: its page
	// faults and memmove were ~4 ms of the one-shot's wall time at 100k
	// sockets, after both cores were done. A half that outgrows its room
	// reallocates (append) and is copied as before.
	gap := sizeHint/2 + sizeHint/16
	all := make([]Socket, gap+sizeHint/2+sizeHint/16)
	type half struct {
		socks []Socket
		err   error
	}
	done := make(chan half, 1)
	go func() {
		other.bc = splitBytecode(mid, false)
		socks, err := other.collect(states, ext, all[gap:gap:len(all)])
		other.bc = nil
		if err == nil {
			// A socket's ports never change, so it is in one half only:
			// each half drops its own duplicates, on its own core.
			socks = other.finish(states, socks)
		}
		done <- half{socks, err}
	}()
	d.bc = splitBytecode(mid, true)
	out, err := d.collect(states, ext, all[0:0:gap])
	d.bc = nil
	if err == nil {
		out = d.finish(states, out)
	}
	b := <-done
	if err != nil {
		return nil, err
	}
	if b.err != nil {
		return nil, b.err
	}
	if len(out) > 0 && (gap == 0 || &out[0] != &all[0]) || len(all)-len(out) < len(b.socks) {
		return append(out, b.socks...), nil // the first half outgrew its room
	}
	n := len(out) + copy(all[len(out):], b.socks) // overlapping: a memmove
	return all[:n], nil
}

// inet_diag bytecode (linux/inet_diag.h): struct inet_diag_bc_op {u8 code;
// u8 yes; u16 no}, a port comparison followed by a second op whose no is
// the port. The kernel runs it from the start, moving yes or no bytes on
// as each test holds or fails; a socket matches when it lands exactly on
// the end (a jump past the end by 4 rejects it). Its audit requires that
// following every yes from the start reaches the end exactly.
const (
	bcJump = 1 // INET_DIAG_BC_JMP: always takes no
	bcSGE  = 2 // INET_DIAG_BC_S_GE: local port >= port
	bcDGE  = 4 // INET_DIAG_BC_D_GE: remote port >= port
	bcDLE  = 5 // INET_DIAG_BC_D_LE: remote port <= port
	// inetDiagReqBytecode is the request attribute that carries it.
	inetDiagReqBytecode = 1
)

// splitBytecode is the filter of one half of DumpSplit: with xor, the
// sockets whose local and remote ports are on different sides of mid;
// without, those on the same side.
//
//	 0  S_GE mid     yes → 8, no → 20
//	 8  D_LE mid-1   yes → 16, no → reject   (xor; else D_GE mid)
//	16  JMP          → accept (the end)
//	20  D_GE mid     yes → accept, no → reject (xor; else D_LE mid-1)
//	28  (end)
func splitBytecode(mid uint16, xor bool) []byte {
	first, second := byte(bcDLE), byte(bcDGE)
	firstPort, secondPort := mid-1, mid
	if !xor {
		first, second = bcDGE, bcDLE
		firstPort, secondPort = mid, mid-1
	}
	b := make([]byte, 28)
	ne := binary.NativeEndian
	op := func(at int, code, yes byte, no uint16) {
		b[at], b[at+1] = code, yes
		ne.PutUint16(b[at+2:], no)
	}
	op(0, bcSGE, 8, 20)
	ne.PutUint16(b[6:], mid)
	op(8, first, 8, 20+4) // from 8, the end is 20 on: 24 rejects
	ne.PutUint16(b[14:], firstPort)
	op(16, bcJump, 4, 12) // from 16, 12 on is the end: accept
	op(20, second, 8, 8+4)
	ne.PutUint16(b[26:], secondPort)
	return b
}

// appendBytecode appends the filter bc as an INET_DIAG_REQ_BYTECODE
// attribute to the request req (fixing its length), when there is one.
func appendBytecode(req, bc []byte) []byte {
	if bc == nil {
		return req
	}
	ne := binary.NativeEndian
	var hdr [4]byte
	ne.PutUint16(hdr[0:], uint16(4+len(bc)))
	ne.PutUint16(hdr[2:], inetDiagReqBytecode)
	req = append(append(req, hdr[:]...), bc...)
	for len(req)%4 != 0 {
		req = append(req, 0)
	}
	ne.PutUint32(req[0:], uint32(len(req)))
	return req
}

// dedupeByCookie drops sockets seen twice in one dump (a dump is not
// atomic: a socket can move while the kernel walks its tables), keeping the
// first. One pass over a small open-addressing set reused between dumps
// (sorting the cookies cost more at 100k sockets) leaves socks untouched
// when, as usual, nothing repeats.
func dedupeByCookie(socks []Socket, seen *idxTable) []Socket {
	seen.reset(len(socks))
	var dups []int
	for i := range socks {
		c := socks[i].Cookie
		for j := hashCookie(c) & seen.mask; ; j = (j + 1) & seen.mask {
			v := seen.slots[j]
			if v == 0 {
				seen.slots[j] = uint32(i + 1)
				break
			}
			if socks[v-1].Cookie == c {
				dups = append(dups, i)
				break
			}
		}
	}
	if dups == nil {
		return socks
	}
	kept := socks[:0]
	for i := range socks {
		if len(dups) > 0 && dups[0] == i {
			dups = dups[1:]
			continue
		}
		kept = append(kept, socks[i])
	}
	return kept
}

func isNoDiag(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EAFNOSUPPORT) ||
		errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EINVAL)
}

func filterStates(socks []Socket, states StateMask) []Socket {
	kept := socks[:0]
	for _, s := range socks {
		if states&(1<<s.State) != 0 {
			kept = append(kept, s)
		}
	}
	return kept
}

func (d *Dumper) dumpFamily(family uint8, states StateMask, ext Extensions, out []Socket) ([]Socket, error) {
	d.seq++
	var req [sizeofNlMsghdr + sizeofDiagReqV2]byte
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], sockDiagByFamily)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], d.seq)
	// inet_diag_req_v2
	req[16] = family
	req[17] = unix.IPPROTO_TCP
	req[18] = uint8(ext)
	ne.PutUint32(req[20:], uint32(states))
	return d.request(appendBytecode(req[:], d.bc), out)
}

// dumpCompat asks for TCP sockets of every family in one request: the
// compat TCPDIAG_GETSOCK with struct inet_diag_req, which the kernel turns
// into an AF_UNSPEC dump (inet_diag_dump_compat), answering with the same
// inet_diag_msg records.
func (d *Dumper) dumpCompat(states StateMask, ext Extensions, out []Socket) ([]Socket, error) {
	d.seq++
	var req [sizeofNlMsghdr + sizeofDiagReqV1]byte
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], tcpDiagGetSock)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], d.seq)
	// inet_diag_req: family (ignored), src_len, dst_len, ext, the 48-byte
	// inet_diag_sockid, states, dbs.
	req[19] = uint8(ext)
	ne.PutUint32(req[16+52:], uint32(states))
	return d.request(appendBytecode(req[:], d.bc), out)
}

// request sends one dump request and parses its answer into out. (Parsing
// on another goroutine while receiving the next datagram was tried: the
// same wall time at 100k sockets and a fifth more CPU, the datagrams
// crossing cores.)
func (d *Dumper) request(req []byte, out []Socket) ([]Socket, error) {
	if err := unix.Sendto(d.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return out, fmt.Errorf("sock_diag request: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return out, fmt.Errorf("sock_diag receive: %w", err)
		}
		if d.tap != nil {
			d.tap(d.buf[:n])
		}
		var done bool
		out, done, err = parseDiagDatagram(d.buf[:n], d.seq, out)
		if err != nil || done {
			return out, err
		}
	}
}

// parseDiagDatagram parses one netlink datagram of a sock_diag dump, appending
// sockets to out. It returns done at NLMSG_DONE. seq 0 accepts any sequence
// number.
func parseDiagDatagram(b []byte, seq uint32, out []Socket) ([]Socket, bool, error) {
	ne := binary.NativeEndian
	for len(b) >= sizeofNlMsghdr {
		l := int(ne.Uint32(b[0:]))
		typ := ne.Uint16(b[4:])
		mseq := ne.Uint32(b[8:])
		if l < sizeofNlMsghdr || l > len(b) {
			return out, false, fmt.Errorf("sock_diag: malformed netlink message (length %d of %d)", l, len(b))
		}
		if seq != 0 && mseq != seq {
			// A stale reply from an earlier, interrupted request.
			b = b[nlmAlign(l):]
			continue
		}
		body := b[sizeofNlMsghdr:l]
		switch typ {
		case unix.NLMSG_DONE:
			return out, true, nil
		case unix.NLMSG_ERROR:
			if len(body) < 4 {
				return out, false, errors.New("sock_diag: truncated netlink error")
			}
			errno := -int32(ne.Uint32(body))
			if errno == 0 {
				return out, true, nil
			}
			return out, false, fmt.Errorf("sock_diag: %w", unix.Errno(errno))
		case sockDiagByFamily, tcpDiagGetSock:
			s, ok := parseDiagMsg(body)
			if !ok {
				return out, false, fmt.Errorf("sock_diag: short inet_diag_msg (%d bytes)", len(body))
			}
			out = append(out, s)
		}
		b = b[min(nlmAlign(l), len(b)):]
	}
	return out, false, nil
}

func nlmAlign(n int) int { return (n + 3) &^ 3 }

// parseDiagMsg decodes one inet_diag_msg and its attributes.
func parseDiagMsg(b []byte) (Socket, bool) {
	if len(b) < sizeofDiagMsg {
		return Socket{}, false
	}
	ne := binary.NativeEndian
	s := Socket{
		Family:  b[0],
		State:   State(b[1]),
		Timer:   b[2],
		Retrans: b[3],
		Cookie:  uint64(ne.Uint32(b[44:])) | uint64(ne.Uint32(b[48:]))<<32,
		Expires: ne.Uint32(b[52:]),
		RecvQ:   ne.Uint32(b[56:]),
		SendQ:   ne.Uint32(b[60:]),
		UID:     ne.Uint32(b[64:]),
		Inode:   ne.Uint32(b[68:]),
		Iface:   ne.Uint32(b[40:]),
	}
	if s.State == NewSynRecv {
		s.State = SynRecv
	}
	sport := binary.BigEndian.Uint16(b[4:])
	dport := binary.BigEndian.Uint16(b[6:])
	if s.Family == unix.AF_INET {
		s.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[8:12])), sport)
		s.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[24:28])), dport)
	} else {
		s.Local = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), sport)
		s.Remote = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[24:40])), dport)
		// idiag_if: the interface a socket is bound to. A link-local
		// address means a different host on each link: keep its scope
		// (the index here; Kernel.Read names it), or fe80::1 on eth0 and
		// on eth1 would merge into one peer.
		if ifi := ne.Uint32(b[40:]); ifi != 0 {
			s.Local, s.Remote = withScope(s.Local, ifi), withScope(s.Remote, ifi)
		}
	}
	// Attributes (struct rtattr: u16 len, u16 type), 4-byte aligned.
	attrs := b[sizeofDiagMsg:]
	for len(attrs) >= 4 {
		al := int(ne.Uint16(attrs[0:]))
		at := ne.Uint16(attrs[2:])
		if al < 4 || al > len(attrs) {
			break
		}
		switch at {
		case inetDiagInfo:
			s.Info = parseTCPInfo(attrs[4:al])
		case inetDiagSKMemInfo:
			if v := attrs[4:al]; len(v) >= 4*(skMemInfoDrops+1) {
				s.Drops, s.DropsKnown = ne.Uint32(v[4*skMemInfoDrops:]), true
			}
		}
		attrs = attrs[min(nlmAlign(al), len(attrs)):]
	}
	return s, true
}

// parseTCPInfo decodes struct tcp_info, each field only when the
// attribute reaches past it (TCPInfo.Has); nil when even the base struct
// is cut short.
func parseTCPInfo(b []byte) *TCPInfo {
	if len(b) < minTCPInfoLen {
		return nil
	}
	ne := binary.NativeEndian
	u32 := func(off int) uint32 { return ne.Uint32(b[off:]) }
	t := &TCPInfo{
		Len:          len(b),
		State:        b[0],
		CAState:      b[1],
		Retransmits:  b[2],
		Probes:       b[3],
		Backoff:      b[4],
		Options:      b[5],
		SndWscale:    b[6] & 0xf,
		RcvWscale:    b[6] >> 4,
		RTO:          u32(8),
		ATO:          u32(12),
		SndMSS:       u32(16),
		RcvMSS:       u32(20),
		Unacked:      u32(24),
		Sacked:       u32(28),
		Lost:         u32(32),
		Retrans:      u32(36),
		LastDataSent: u32(44),
		LastAckSent:  u32(48),
		LastDataRecv: u32(52),
		LastAckRecv:  u32(56),
		PMTU:         u32(60),
		RcvSsthresh:  u32(64),
		RTT:          u32(68),
		RTTVar:       u32(72),
		SndSsthresh:  u32(76),
		SndCwnd:      u32(80),
		AdvMSS:       u32(84),
		Reordering:   u32(88),
		RcvRTT:       u32(92),
		RcvSpace:     u32(96),
		TotalRetrans: u32(100),
	}
	// Byte 7: delivery_rate_app_limited:1 (4.9; 0 before).
	t.DeliveryRateAppLimited = b[7]&1 != 0
	has := func(f InfoField) bool { return len(b) >= int(f) }
	u64 := func(off int) uint64 { return ne.Uint64(b[off:]) }
	if has(InfoPacingRate) {
		t.PacingRate, t.MaxPacingRate = u64(104), u64(112)
	}
	if has(InfoBytesAcked) {
		t.BytesAcked, t.BytesReceived = u64(120), u64(128)
	}
	if has(InfoSegs) {
		t.SegsOut, t.SegsIn = u32(136), u32(140)
	}
	if has(InfoNotsent) {
		t.NotsentBytes = u32(144)
	}
	if has(InfoMinRTT) {
		t.MinRTT = u32(148)
	}
	if has(InfoDataSegs) {
		t.DataSegsIn, t.DataSegsOut = u32(152), u32(156)
	}
	if has(InfoDeliveryRate) {
		t.DeliveryRate = u64(160)
	}
	if has(InfoLimited) {
		t.BusyTime, t.RwndLimited, t.SndbufLimited = u64(168), u64(176), u64(184)
	}
	if has(InfoDelivered) {
		t.Delivered, t.DeliveredCE = u32(192), u32(196)
	}
	if has(InfoBytesSent) {
		t.BytesSent, t.BytesRetrans = u64(200), u64(208)
	}
	if has(InfoDSACK) {
		t.DSACKDups = u32(216)
	}
	if has(InfoReordSeen) {
		t.ReordSeen = u32(220)
	}
	if has(InfoRcvOOO) {
		t.RcvOOOPack = u32(224)
	}
	if has(InfoSndWnd) {
		t.SndWnd = u32(228)
	}
	if has(InfoRcvWnd) {
		t.RcvWnd = u32(232)
	}
	if has(InfoRehash) {
		t.Rehash = u32(236)
	}
	if has(InfoTotalRTO) {
		t.TotalRTO, t.TotalRTORecoveries = ne.Uint16(b[240:]), ne.Uint16(b[242:])
		t.TotalRTOTime = u32(244)
	}
	return t
}

// withScope gives a link-local IPv6 address the zone of interface index
// ifi (as a number); other addresses are returned as they are.
func withScope(ap netip.AddrPort, ifi uint32) netip.AddrPort {
	a := ap.Addr()
	if !a.IsLinkLocalUnicast() && !a.IsLinkLocalMulticast() && !a.IsInterfaceLocalMulticast() {
		return ap
	}
	return netip.AddrPortFrom(a.WithZone(strconv.FormatUint(uint64(ifi), 10)), ap.Port())
}

// nameScopes replaces the numeric zones withScope set by interface names,
// as `ip` and `ss` print them (fe80::1%eth0). It must run in the sockets'
// namespace; an index it cannot name stays a number.
func nameScopes(socks []Socket) {
	var names map[string]string
	name := func(ap netip.AddrPort) netip.AddrPort {
		z := ap.Addr().Zone()
		if z == "" {
			return ap
		}
		if names == nil {
			names = map[string]string{}
		}
		n, ok := names[z]
		if !ok {
			n = z
			if idx, err := strconv.Atoi(z); err == nil {
				if ifc, err := net.InterfaceByIndex(idx); err == nil && ifc.Name != "" {
					n = ifc.Name
				}
			}
			names[z] = n
		}
		return netip.AddrPortFrom(ap.Addr().WithZone(n), ap.Port())
	}
	for i := range socks {
		s := &socks[i]
		if s.Family != unix.AF_INET6 {
			continue
		}
		s.Local, s.Remote = name(s.Local), name(s.Remote)
	}
}
