package source

// Kernel variations that this machine cannot produce for real, tested
// through a seam: a Dumper whose netlink socket is one end of an AF_UNIX
// SOCK_SEQPACKET pair, with a fake kernel on the other end. SEQPACKET keeps
// datagram boundaries like netlink and ignores the netlink destination
// address Dump passes to sendto, so the real request, receive and parse
// code runs unchanged; only the kernel's answers are scripted.
//
// What this cannot cover, and why:
//   - A real kernel without IPv6 (ipv6.disable=1, CONFIG_IPV6=n, or an
//     inet6_diag that refuses AF_INET6 dumps): the test box has IPv6 and
//     booting another kernel is out of reach. The errnos scripted here
//     (ENOENT: no sock_diag handler for the family, see __sock_diag_cmd in
//     net/core/sock_diag.c; EAFNOSUPPORT, EPROTONOSUPPORT, EINVAL) are the
//     ones isNoDiag accepts, taken from reading the kernel, not observed.
//     IPv6 disabled by sysctl in a namespace IS tested for real, end to
//     end (cmd/tcptop TestIPv6Disabled); there the kernel still answers
//     AF_INET6 dumps, with no sockets.
//   - A kernel without tcp_diag/inet_diag: the modules are built in or
//     loaded here and cannot be unloaded under a running system. The fake
//     kernel answers ENOENT as sock_diag does with no handler; the binary's
//     message and exit status are tested end to end in cmd/tcptop
//     TestNoInetDiag, with a seccomp filter failing sendto with ENOENT.

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeReply is what the fake kernel answers to a dump of one family:
// sockets then NLMSG_DONE, or an NLMSG_ERROR carrying errno.
type fakeReply struct {
	socks []Socket
	errno unix.Errno
}

// fakeKernel answers sock_diag dump requests on a socketpair.
type fakeKernel struct {
	mu      sync.Mutex
	replies map[uint8]fakeReply // by address family
	asked   map[uint8]int       // dump requests seen, by family
}

// newFakeDumper returns a Dumper talking to a fake kernel that answers
// each family with replies[family]; the compat one-walk request is
// answered with replies[AF_UNSPEC], or refused with EOPNOTSUPP when there
// is none.
func newFakeDumper(t *testing.T, replies map[uint8]fakeReply) (*Dumper, *fakeKernel) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("socketpair: %v", err)
	}
	k := &fakeKernel{replies: replies, asked: map[uint8]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer unix.Close(fds[1])
		k.serve(t, fds[1])
	}()
	d := &Dumper{fd: fds[0], buf: make([]byte, recvBufSize)}
	t.Cleanup(func() {
		d.Close() // the fake kernel reads EOF and stops
		<-done
	})
	return d, k
}

func (k *fakeKernel) count(family uint8) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.asked[family]
}

func (k *fakeKernel) serve(t *testing.T, fd int) {
	req := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(fd, req, 0)
		if err != nil || n == 0 {
			return // the Dumper closed its end
		}
		ne := binary.NativeEndian
		compat := n == sizeofNlMsghdr+sizeofDiagReqV1 && ne.Uint16(req[4:]) == tcpDiagGetSock &&
			ne.Uint16(req[6:]) == unix.NLM_F_REQUEST|unix.NLM_F_DUMP
		if !compat && (n != sizeofNlMsghdr+sizeofDiagReqV2 || ne.Uint16(req[4:]) != sockDiagByFamily ||
			ne.Uint16(req[6:]) != unix.NLM_F_REQUEST|unix.NLM_F_DUMP || req[17] != unix.IPPROTO_TCP) {
			t.Errorf("fake kernel: unexpected request % x", req[:n])
			return
		}
		seq, family := ne.Uint32(req[8:]), req[16]
		if compat {
			family = unix.AF_UNSPEC // the kernel ignores the compat request's family
		}
		k.mu.Lock()
		k.asked[family]++
		r, ok := k.replies[family]
		k.mu.Unlock()
		if compat && !ok {
			// A kernel without the compat handler (sock_diag_rcv_msg).
			r = fakeReply{errno: unix.EOPNOTSUPP}
		}
		typ := uint16(sockDiagByFamily)
		if compat {
			typ = tcpDiagGetSock // the kernel answers with the request's type
		}
		// One datagram per socket, then the end, as the kernel may split them.
		var out [][]byte
		if r.errno != 0 {
			// struct nlmsgerr: the negative errno, then the request's header.
			body := ne.AppendUint32(nil, uint32(-int32(r.errno)))
			body = append(body, req[:sizeofNlMsghdr]...)
			out = append(out, nlMsg(unix.NLMSG_ERROR, seq, body))
		} else {
			for _, s := range r.socks {
				out = append(out, nlMsg(typ, seq, diagMsg(s)))
			}
			out = append(out, nlMsg(unix.NLMSG_DONE, seq, make([]byte, 4)))
		}
		for _, dg := range out {
			if _, err := unix.Write(fd, dg); err != nil {
				return
			}
		}
	}
}

// nlMsg builds one netlink message.
func nlMsg(typ uint16, seq uint32, body []byte) []byte {
	ne := binary.NativeEndian
	b := make([]byte, sizeofNlMsghdr, sizeofNlMsghdr+len(body))
	ne.PutUint32(b[0:], uint32(sizeofNlMsghdr+len(body)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint32(b[8:], seq)
	return append(b, body...)
}

// diagMsg encodes s as a struct inet_diag_msg (the inverse of parseDiagMsg).
func diagMsg(s Socket) []byte {
	ne := binary.NativeEndian
	b := make([]byte, sizeofDiagMsg)
	b[0], b[1] = s.Family, uint8(s.State)
	binary.BigEndian.PutUint16(b[4:], s.Local.Port())
	binary.BigEndian.PutUint16(b[6:], s.Remote.Port())
	if s.Family == unix.AF_INET {
		l, r := s.Local.Addr().As4(), s.Remote.Addr().As4()
		copy(b[8:], l[:])
		copy(b[24:], r[:])
	} else {
		l, r := s.Local.Addr().As16(), s.Remote.Addr().As16()
		copy(b[8:], l[:])
		copy(b[24:], r[:])
	}
	ne.PutUint32(b[44:], uint32(s.Cookie))
	ne.PutUint32(b[48:], uint32(s.Cookie>>32))
	ne.PutUint32(b[56:], s.RecvQ)
	ne.PutUint32(b[60:], s.SendQ)
	ne.PutUint32(b[68:], s.Inode)
	return b
}

// v4Sockets is what the fake kernel reports for AF_INET: a listener and an
// established connection to it.
var v4Sockets = []Socket{
	{Family: unix.AF_INET, State: Listen, Local: netip.MustParseAddrPort("127.0.0.1:8080"),
		Remote: netip.MustParseAddrPort("0.0.0.0:0"), SendQ: 128, Inode: 1001, Cookie: 1},
	{Family: unix.AF_INET, State: Established, Local: netip.MustParseAddrPort("127.0.0.1:41000"),
		Remote: netip.MustParseAddrPort("127.0.0.1:8080"), Inode: 1002, Cookie: 2},
}

var v6Socket = Socket{Family: unix.AF_INET6, State: Listen, Local: netip.MustParseAddrPort("[::1]:8443"),
	Remote: netip.MustParseAddrPort("[::]:0"), SendQ: 128, Inode: 1003, Cookie: 3}

func cookies(socks []Socket) []uint64 {
	var c []uint64
	for _, s := range socks {
		c = append(c, s.Cookie)
	}
	return c
}

// TestDumpWithoutIPv6: a kernel that refuses AF_INET6 dumps (no IPv6, or no
// inet6_diag) still gets its IPv4 sockets listed, without an error, and is
// not asked for IPv6 again.
func TestDumpWithoutIPv6(t *testing.T) {
	for _, errno := range []unix.Errno{unix.ENOENT, unix.EAFNOSUPPORT, unix.EPROTONOSUPPORT, unix.EINVAL} {
		t.Run(errno.Error(), func(t *testing.T) {
			d, k := newFakeDumper(t, map[uint8]fakeReply{
				unix.AF_INET:  {socks: v4Sockets},
				unix.AF_INET6: {errno: errno},
			})
			for poll := 1; poll <= 3; poll++ {
				socks, err := d.Dump(AllStatesMask, 0, 0)
				if err != nil {
					t.Fatalf("poll %d: %v", poll, err)
				}
				if got := cookies(socks); len(got) != 2 || got[0] != 1 || got[1] != 2 {
					t.Errorf("poll %d: sockets %v, want the two IPv4 ones", poll, got)
				}
			}
			if !d.NoIPv6 {
				t.Error("NoIPv6 not set after the kernel refused AF_INET6")
			}
			if v4, v6 := k.count(unix.AF_INET), k.count(unix.AF_INET6); v4 != 3 || v6 != 1 {
				t.Errorf("kernel asked %d times for IPv4 and %d for IPv6, want 3 and 1", v4, v6)
			}
		})
	}
}

// TestDumpIPv6OtherError: an AF_INET6 failure that does not mean "no IPv6"
// (here ENOBUFS) is an error, and IPv6 is asked for again next time.
func TestDumpIPv6OtherError(t *testing.T) {
	d, k := newFakeDumper(t, map[uint8]fakeReply{
		unix.AF_INET:  {socks: v4Sockets},
		unix.AF_INET6: {errno: unix.ENOBUFS},
	})
	if _, err := d.Dump(AllStatesMask, 0, 0); !errors.Is(err, unix.ENOBUFS) || errors.Is(err, ErrNoInetDiag) {
		t.Errorf("Dump error %v, want ENOBUFS", err)
	}
	if d.NoIPv6 {
		t.Error("a transient IPv6 error turned IPv6 off for good")
	}
	d.Dump(AllStatesMask, 0, 0)
	if n := k.count(unix.AF_INET6); n != 2 {
		t.Errorf("IPv6 asked %d times, want 2", n)
	}
}

// TestDumpWithIPv6: the same fake kernel answering both families lists
// both, so the tests above do fail when IPv6 is silently dropped.
func TestDumpWithIPv6(t *testing.T) {
	d, _ := newFakeDumper(t, map[uint8]fakeReply{
		unix.AF_INET:  {socks: v4Sockets},
		unix.AF_INET6: {socks: []Socket{v6Socket}},
	})
	socks, err := d.Dump(AllStatesMask, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := cookies(socks); len(got) != 3 || d.NoIPv6 {
		t.Fatalf("sockets %v, NoIPv6 %v; want 3 sockets", got, d.NoIPv6)
	}
	if socks[2].Local != v6Socket.Local || socks[2].State != Listen || socks[2].SendQ != 128 {
		t.Errorf("IPv6 socket parsed as %+v", socks[2])
	}
}

// TestDumpCompat: a kernel with the compat request answers both families
// in one walk: one request per dump, none per family.
func TestDumpCompat(t *testing.T) {
	d, k := newFakeDumper(t, map[uint8]fakeReply{
		unix.AF_UNSPEC: {socks: append(append([]Socket{}, v4Sockets...), v6Socket)},
		unix.AF_INET:   {socks: v4Sockets},
		unix.AF_INET6:  {socks: []Socket{v6Socket}},
	})
	for poll := 1; poll <= 2; poll++ {
		socks, err := d.Dump(AllStatesMask, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := cookies(socks); len(got) != 3 || d.NoCompat {
			t.Fatalf("poll %d: sockets %v, NoCompat %v; want 3 sockets", poll, got, d.NoCompat)
		}
	}
	if c, v4, v6 := k.count(unix.AF_UNSPEC), k.count(unix.AF_INET), k.count(unix.AF_INET6); c != 2 || v4 != 0 || v6 != 0 {
		t.Errorf("asked compat %d, IPv4 %d, IPv6 %d times; want 2, 0, 0", c, v4, v6)
	}
}

// TestDumpCompatRefused: a kernel without the compat handler is asked
// once, then per family for good; a transient compat failure falls back
// for that dump only.
func TestDumpCompatRefused(t *testing.T) {
	d, k := newFakeDumper(t, map[uint8]fakeReply{
		unix.AF_INET:  {socks: v4Sockets},
		unix.AF_INET6: {socks: []Socket{v6Socket}},
	})
	for poll := 1; poll <= 3; poll++ {
		if socks, err := d.Dump(AllStatesMask, 0, 0); err != nil || len(socks) != 3 {
			t.Fatalf("poll %d: %d sockets, %v", poll, len(socks), err)
		}
	}
	if c, v4 := k.count(unix.AF_UNSPEC), k.count(unix.AF_INET); c != 1 || v4 != 3 || !d.NoCompat {
		t.Errorf("asked compat %d and IPv4 %d times, NoCompat %v; want 1, 3, true", c, v4, d.NoCompat)
	}

	d, k = newFakeDumper(t, map[uint8]fakeReply{
		unix.AF_UNSPEC: {errno: unix.ENOBUFS},
		unix.AF_INET:   {socks: v4Sockets},
		unix.AF_INET6:  {socks: []Socket{v6Socket}},
	})
	for poll := 1; poll <= 2; poll++ {
		if socks, err := d.Dump(AllStatesMask, 0, 0); err != nil || len(socks) != 3 {
			t.Fatalf("transient, poll %d: %d sockets, %v", poll, len(socks), err)
		}
	}
	if c := k.count(unix.AF_UNSPEC); c != 2 || d.NoCompat {
		t.Errorf("transient: asked compat %d times, NoCompat %v; want 2, false", c, d.NoCompat)
	}
}

// TestNoInetDiagError: a kernel without tcp_diag answers the AF_INET dump
// with ENOENT (no handler). Dump and Kernel.Read return ErrNoInetDiag
// itself, unwrapped, so tcptop prints exactly its text, which names the
// modules and the modprobe to run.
func TestNoInetDiagError(t *testing.T) {
	msg := ErrNoInetDiag.Error()
	for _, want := range []string{"tcp_diag", "inet_diag", "modprobe tcp_diag"} {
		if !strings.Contains(msg, want) {
			t.Errorf("ErrNoInetDiag %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("ErrNoInetDiag %q is not one line", msg)
	}
	for _, errno := range []unix.Errno{unix.ENOENT, unix.EAFNOSUPPORT, unix.EPROTONOSUPPORT, unix.EINVAL} {
		t.Run(errno.Error(), func(t *testing.T) {
			d, k := newFakeDumper(t, map[uint8]fakeReply{
				unix.AF_INET:  {errno: errno},
				unix.AF_INET6: {socks: []Socket{v6Socket}},
			})
			kern := &Kernel{m: NewMachine("../testdata/proc", false), opts: ReadOptions{States: AllStatesMask}, ns: &Namespace{handle: -1, orig: -1}, dumper: d}
			s, err := kern.Read(t.Context())
			if err != ErrNoInetDiag || s != nil {
				t.Errorf("Read = %v, %q; want exactly ErrNoInetDiag", s, err)
			}
			if n := k.count(unix.AF_INET6); n != 0 {
				t.Errorf("asked for IPv6 %d times after IPv4 failed", n)
			}
		})
	}
}

// TestReadWithoutIPv6: through Kernel.Read, a kernel without IPv6 gives a
// Sample with the IPv4 sockets and no warning, poll after poll.
func TestReadWithoutIPv6(t *testing.T) {
	d, _ := newFakeDumper(t, map[uint8]fakeReply{
		unix.AF_INET:  {socks: v4Sockets},
		unix.AF_INET6: {errno: unix.EAFNOSUPPORT},
	})
	// The complete procfs fixture, so that any warning is about IPv6.
	kern := &Kernel{m: NewMachine("../testdata/proc", false), opts: ReadOptions{States: AllStatesMask}, ns: &Namespace{handle: -1, orig: -1}, dumper: d}
	for poll := 1; poll <= 3; poll++ {
		s, err := kern.Read(t.Context())
		if err != nil {
			t.Fatalf("poll %d: %v", poll, err)
		}
		if s.NumSockets() != 2 || len(s.Warnings) != 0 {
			t.Errorf("poll %d: %d sockets, warnings %q; want 2 and none", poll, s.NumSockets(), s.Warnings)
		}
	}
}
