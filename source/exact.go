package source

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Exact requests name one socket by its inet_diag_sockid: both ends, the
// interface and the cookie. The kernel looks the 4-tuple up in the
// namespace of the netlink socket that asks and refuses a socket whose
// cookie differs (ESTALE: the tuple was reused by another socket), so an
// exact request never touches a socket other than the one that was seen.

const (
	sockDestroy = 21 // SOCK_DESTROY

	inetDiagMemInfo   = 1  // INET_DIAG_MEMINFO
	inetDiagVegasInfo = 3  // INET_DIAG_VEGASINFO
	inetDiagCong      = 4  // INET_DIAG_CONG
	inetDiagSkMemInfo = 7  // INET_DIAG_SKMEMINFO
	inetDiagDCTCPInfo = 9  // INET_DIAG_DCTCPINFO
	inetDiagBBRInfo   = 16 // INET_DIAG_BBRINFO
)

// Extension bits beyond ExtMemInfo and ExtInfo.
const (
	// ExtCCInfo asks for the congestion control's own info: the kernel
	// answers with BBR's, Vegas's or DCTCP's attribute (the BBR bit itself
	// does not fit the request's byte, so BBR answers to the Vegas bit).
	ExtCCInfo Extensions = 1 << (inetDiagVegasInfo - 1)
	// ExtCong asks for the congestion control algorithm's name.
	ExtCong Extensions = 1 << (inetDiagCong - 1)
	// ExtSkMemInfo asks for the socket's memory (SK_MEMINFO_*).
	ExtSkMemInfo Extensions = 1 << (inetDiagSkMemInfo - 1)
	// ExtDetail is every extension an exact lookup asks for.
	ExtDetail = ExtMemInfo | ExtInfo | ExtCCInfo | ExtCong | ExtSkMemInfo
)

// SocketID names one socket exactly, as an exact sock_diag request needs
// it: family, both ends, bound interface and cookie.
type SocketID struct {
	Family uint8
	Local  netip.AddrPort
	Remote netip.AddrPort
	Iface  uint32
	Cookie uint64
}

// ID returns the socket's exact identity.
func (s *Socket) ID() SocketID {
	return SocketID{Family: s.Family, Local: s.Local, Remote: s.Remote, Iface: s.Iface, Cookie: s.Cookie}
}

// String spells the ID for logs: "10.0.0.1:80 10.0.0.9:51000 cookie 0x2a".
func (id SocketID) String() string {
	return id.Local.String() + " " + id.Remote.String() + " cookie 0x" + strconv.FormatUint(id.Cookie, 16)
}

// MemInfo is INET_DIAG_MEMINFO: bytes.
type MemInfo struct {
	RMem, WMem, FMem, TMem uint32
}

// SkMemInfo is INET_DIAG_SKMEMINFO (what `ss -m` shows as skmem): bytes,
// except Drops (packets dropped before the socket saw them).
type SkMemInfo struct {
	RmemAlloc, RcvBuf, WmemAlloc, SndBuf, FwdAlloc, WmemQueued, OptMem, Backlog, Drops uint32
	// HasDrops: the kernel sent the drops counter (3.x and later).
	HasDrops bool
}

// BBRInfo is INET_DIAG_BBRINFO.
type BBRInfo struct {
	// BW is BBR's bandwidth estimate, bytes per second.
	BW uint64
	// MinRTT is BBR's min_rtt, µs.
	MinRTT uint32
	// PacingGain and CwndGain are fixed point, 256 = 1.0.
	PacingGain, CwndGain uint32
}

// Detail is one socket as an exact lookup returns it: the socket with its
// tcp_info, and the attributes only the lookup asks for. Attributes the
// kernel did not send are nil or "".
type Detail struct {
	Socket Socket
	// Cong is the congestion control algorithm ("cubic", "bbr").
	Cong  string
	Mem   *MemInfo
	SkMem *SkMemInfo
	BBR   *BBRInfo
	// Time is when the answer came.
	Time time.Time
}

// Errors of exact requests, as errors.Is sees them.
var (
	// ErrGone: the socket no longer exists (ENOENT), or its 4-tuple now
	// names another socket (ESTALE: the cookie differs).
	ErrGone = errors.New("socket already gone")
	// ErrNotSupported: this kernel cannot destroy the socket
	// (CONFIG_INET_DIAG_DESTROY is off, or a TIME_WAIT or request socket
	// on a kernel that cannot abort those).
	ErrNotSupported = errors.New("not supported by this kernel")
	// ErrPermission: destroying needs CAP_NET_ADMIN in the socket's
	// network namespace.
	ErrPermission = errors.New("permission denied (needs CAP_NET_ADMIN in the socket's network namespace)")
)

// classify maps a kernel errno of an exact request to the errors above.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESTALE):
		return fmt.Errorf("%w (%w)", ErrGone, err)
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w (%w)", ErrNotSupported, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (%w)", ErrPermission, err)
	}
	return err
}

// Exact makes exact requests (lookups and SOCK_DESTROY) over its own
// sock_diag socket, created inside one namespace: the kernel answers for
// that namespace. It is safe for concurrent use (requests take turns) and
// independent of the namespace's Kernel, so a lookup never waits for a
// poll's dump.
type Exact struct {
	mu sync.Mutex
	d  *Dumper
	ns string
}

// OpenExact opens an Exact for a namespace (nil: the caller's own).
func OpenExact(ns *Namespace) (*Exact, error) {
	var d *Dumper
	err := ns.Do(func() error {
		var err error
		d, err = NewDumper()
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Exact{d: d, ns: ns.Label()}, nil
}

// Exact opens an Exact in the reader's namespace.
func (k *Kernel) Exact() (*Exact, error) { return OpenExact(k.ns) }

// Namespace is the label of the namespace the Exact answers for.
func (e *Exact) Namespace() string { return e.ns }

// Close releases the netlink socket.
func (e *Exact) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.d.Close()
}

// Dump is Dumper.Dump over the Exact's socket: a re-dump of the same
// namespace, for checking what a destroy left.
func (e *Exact) Dump(states StateMask, ext Extensions) ([]Socket, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.d.Dump(states, ext, 64)
}

// exactRequest builds an inet_diag_req_v2 naming id.
func exactRequest(typ uint16, flags uint16, seq uint32, id SocketID, ext Extensions) []byte {
	var req [sizeofNlMsghdr + sizeofDiagReqV2]byte
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], typ)
	ne.PutUint16(req[6:], flags)
	ne.PutUint32(req[8:], seq)
	b := req[sizeofNlMsghdr:]
	b[0] = id.Family
	b[1] = unix.IPPROTO_TCP
	b[2] = uint8(ext)
	ne.PutUint32(b[4:], uint32(AllStatesMask))
	// inet_diag_sockid at offset 8: sport, dport (big endian), src[4],
	// dst[4], if, cookie[2].
	s := b[8:]
	binary.BigEndian.PutUint16(s[0:], id.Local.Port())
	binary.BigEndian.PutUint16(s[2:], id.Remote.Port())
	putAddr := func(dst []byte, a netip.Addr) {
		if id.Family == unix.AF_INET {
			a4 := a.Unmap().As4()
			copy(dst, a4[:])
			return
		}
		a16 := a.As16()
		copy(dst, a16[:])
	}
	putAddr(s[4:20], id.Local.Addr())
	putAddr(s[20:36], id.Remote.Addr())
	ne.PutUint32(s[36:], id.Iface)
	ne.PutUint32(s[40:], uint32(id.Cookie))
	ne.PutUint32(s[44:], uint32(id.Cookie>>32))
	return req[:]
}

// Lookup asks the kernel for one socket by its exact ID, with tcp_info,
// the congestion control's name and info, and memory. A socket that is
// gone (or whose tuple now names another socket) is ErrGone.
func (e *Exact) Lookup(id SocketID) (*Detail, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.d
	if d.fd < 0 {
		return nil, errors.New("sock_diag: lookup on a closed socket")
	}
	d.seq++
	req := exactRequest(sockDiagByFamily, unix.NLM_F_REQUEST, d.seq, id, ExtDetail)
	if err := unix.Sendto(d.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag lookup: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return nil, fmt.Errorf("sock_diag lookup: %w", err)
		}
		det, done, err := parseLookupReply(d.buf[:n], d.seq)
		if err != nil {
			return nil, classify(err)
		}
		if done {
			det.Time = time.Now()
			return det, nil
		}
	}
}

// parseLookupReply reads the answer to an exact lookup: one inet_diag_msg
// (done), a netlink error, or a stale datagram to skip (not done).
func parseLookupReply(b []byte, seq uint32) (*Detail, bool, error) {
	ne := binary.NativeEndian
	for len(b) >= sizeofNlMsghdr {
		l := int(ne.Uint32(b[0:]))
		typ := ne.Uint16(b[4:])
		if l < sizeofNlMsghdr || l > len(b) {
			return nil, false, fmt.Errorf("sock_diag: malformed netlink message (length %d of %d)", l, len(b))
		}
		if ne.Uint32(b[8:]) != seq {
			b = b[min(nlmAlign(l), len(b)):]
			continue
		}
		body := b[sizeofNlMsghdr:l]
		switch typ {
		case unix.NLMSG_ERROR:
			if len(body) < 4 {
				return nil, false, errors.New("sock_diag: truncated netlink error")
			}
			if errno := -int32(ne.Uint32(body)); errno != 0 {
				return nil, false, fmt.Errorf("sock_diag: %w", unix.Errno(errno))
			}
			return nil, false, errors.New("sock_diag: lookup acknowledged without an answer")
		case sockDiagByFamily:
			det, ok := parseDetail(body)
			if !ok {
				return nil, false, fmt.Errorf("sock_diag: short inet_diag_msg (%d bytes)", len(body))
			}
			return det, true, nil
		}
		b = b[min(nlmAlign(l), len(b)):]
	}
	return nil, false, nil
}

// parseDetail decodes an inet_diag_msg with the attributes of an exact
// lookup.
func parseDetail(b []byte) (*Detail, bool) {
	s, ok := parseDiagMsg(b)
	if !ok {
		return nil, false
	}
	det := &Detail{Socket: s}
	ne := binary.NativeEndian
	attrs := b[sizeofDiagMsg:]
	for len(attrs) >= 4 {
		al := int(ne.Uint16(attrs[0:]))
		at := ne.Uint16(attrs[2:])
		if al < 4 || al > len(attrs) {
			break
		}
		v := attrs[4:al]
		switch at {
		case inetDiagCong:
			n := 0
			for n < len(v) && v[n] != 0 {
				n++
			}
			det.Cong = string(v[:n])
		case inetDiagMemInfo:
			if len(v) >= 16 {
				det.Mem = &MemInfo{ne.Uint32(v[0:]), ne.Uint32(v[4:]), ne.Uint32(v[8:]), ne.Uint32(v[12:])}
			}
		case inetDiagSkMemInfo:
			if len(v) >= 32 {
				m := &SkMemInfo{
					RmemAlloc: ne.Uint32(v[0:]), RcvBuf: ne.Uint32(v[4:]),
					WmemAlloc: ne.Uint32(v[8:]), SndBuf: ne.Uint32(v[12:]),
					FwdAlloc: ne.Uint32(v[16:]), WmemQueued: ne.Uint32(v[20:]),
					OptMem: ne.Uint32(v[24:]), Backlog: ne.Uint32(v[28:]),
				}
				if len(v) >= 36 {
					m.Drops, m.HasDrops = ne.Uint32(v[32:]), true
				}
				det.SkMem = m
			}
		case inetDiagBBRInfo:
			if len(v) >= 20 {
				det.BBR = &BBRInfo{
					BW:         uint64(ne.Uint32(v[0:])) | uint64(ne.Uint32(v[4:]))<<32,
					MinRTT:     ne.Uint32(v[8:]),
					PacingGain: ne.Uint32(v[12:]),
					CwndGain:   ne.Uint32(v[16:]),
				}
			}
		}
		attrs = attrs[min(nlmAlign(al), len(attrs)):]
	}
	return det, true
}

// Destroy asks the kernel to abort one socket (SOCK_DESTROY, as `ss -K`
// does, but exact: the cookie must match). The socket's owner sees
// ECONNABORTED; a peer of an established connection gets a RST. Errors:
// ErrGone, ErrNotSupported, ErrPermission, or another failure.
func (e *Exact) Destroy(id SocketID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.d
	if d.fd < 0 {
		return errors.New("sock_diag: destroy on a closed socket")
	}
	d.seq++
	req := exactRequest(sockDestroy, unix.NLM_F_REQUEST|unix.NLM_F_ACK, d.seq, id, 0)
	if err := unix.Sendto(d.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return classify(fmt.Errorf("sock_diag destroy: %w", err))
	}
	for {
		n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return fmt.Errorf("sock_diag destroy: %w", err)
		}
		_, done, err := parseDiagDatagram(d.buf[:n], d.seq, nil)
		if err != nil {
			return classify(err)
		}
		if done {
			return nil
		}
	}
}
