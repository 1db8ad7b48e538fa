package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/tcptop/tcptop/source"
	"golang.org/x/sys/unix"
)

// Label of the in-process dump probe.
const labelProbe = "kernel dump alone (in-process probe)"

// dumpProbe measures what the kernel itself spends on tcptop's dump. In the
// namespace, on one locked thread, it sends the request tcptop sends (the
// compat TCPDIAG_GETSOCK for every state, no extensions: one walk of the
// socket tables for both families) and reads the answer into a reused
// buffer without parsing it. Its CPU time is the thread's CPU clock before
// and after: nearly all of it is system time, the kernel walking its
// tables and filling netlink messages inside recvmsg. (Per-thread rusage
// splits user and system time by tick sampling over the thread's whole
// life: useless for a few milliseconds.)
type dumpProbe struct {
	ns  *source.Namespace
	fd  int
	seq uint32
	buf []byte
}

// newDumpProbe opens a sock_diag socket in the namespace named ns.
func newDumpProbe(ns string) (*dumpProbe, error) {
	n, err := source.OpenNamespace(ns)
	if err != nil {
		return nil, err
	}
	p := &dumpProbe{ns: n, fd: -1, buf: make([]byte, 64<<10)}
	err = n.Do(func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
		if err != nil {
			return err
		}
		p.fd = fd
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
		return unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	})
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// close releases the socket and the namespace handle.
func (p *dumpProbe) close() {
	if p.fd >= 0 {
		unix.Close(p.fd)
	}
	p.ns.Close()
}

// threadCPU returns the calling thread's time on the CPU
// (CLOCK_THREAD_CPUTIME_ID, which brings the scheduler's count up to date,
// unlike /proc/thread-self/schedstat read by the thread itself).
func threadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
}

// run takes one measured dump; the sample's sys is its CPU time, wall its
// duration, and the count is checked to be non-zero.
func (p *dumpProbe) run() (sample, error) {
	var s sample
	err := p.ns.Do(func() error {
		c0, err := threadCPU()
		if err != nil {
			return err
		}
		t0 := time.Now()
		n, err := p.dump()
		s.wall = time.Since(t0)
		if err != nil {
			return err
		}
		c1, err := threadCPU()
		if err != nil {
			return err
		}
		s.sys = c1 - c0
		if n == 0 {
			return errors.New("the dump returned no sockets")
		}
		return nil
	})
	return s, err
}

// dump sends the request and counts the sockets of the answer.
func (p *dumpProbe) dump() (int, error) {
	const (
		tcpDiagGetSock = 18
		reqLen         = 16 + 60 // nlmsghdr + struct inet_diag_req
	)
	p.seq++
	var req [reqLen]byte
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], reqLen)
	ne.PutUint16(req[4:], tcpDiagGetSock)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], p.seq)
	ne.PutUint32(req[16+52:], uint32(source.AllStatesMask))
	if err := unix.Sendto(p.fd, req[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	count := 0
	for {
		n, _, err := unix.Recvfrom(p.fd, p.buf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return count, err
		}
		b := p.buf[:n]
		for len(b) >= 16 {
			l := int(ne.Uint32(b))
			if l < 16 || l > len(b) {
				return count, errors.New("malformed netlink message")
			}
			switch ne.Uint16(b[4:]) {
			case unix.NLMSG_DONE:
				return count, nil
			case unix.NLMSG_ERROR:
				return count, fmt.Errorf("netlink error %d", int32(ne.Uint32(b[16:])))
			}
			if ne.Uint32(b[8:]) == p.seq {
				count++
			}
			b = b[min((l+3)&^3, len(b)):]
		}
	}
}
