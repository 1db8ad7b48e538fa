package churn

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// Connections are made with raw blocking syscalls on a thread locked in the
// namespace rather than with package net: a pair costs four syscalls and no
// allocation or netpoller round trip, the close order is exact, and
// SO_SNDTIMEO/SO_RCVTIMEO bound every wait.

// worker makes paced connections on its own listeners.
type worker struct {
	c       *Churner
	rate    float64
	maxHeld int // connections, not fds
	lfds    []int
	targets []unix.Sockaddr
	next    int    // listener for the next connection, round robin
	n       uint64 // connections made, for CloseMixed
	held    []heldPair
}

// heldPair is a connection waiting out Config.Hold, oldest first.
type heldPair struct {
	cfd, sfd    int
	clientFirst bool
	until       time.Time
}

func (w *worker) run(ctx context.Context, ready chan<- error) {
	defer w.c.wg.Done()
	if err := w.c.enterNamespace(); err != nil {
		ready <- err
		return
	}
	ready <- nil
	defer w.closeHeld(time.Time{})
	p := pacer{rate: w.rate, last: time.Now()}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w.closeHeld(now)
			for n := p.take(now); n > 0 && ctx.Err() == nil; n-- {
				w.one(now)
			}
		}
	}
}

// one opens a connection and closes it now, or queues it for Hold.
func (w *worker) one(now time.Time) {
	hold := w.c.cfg.Hold
	if hold > 0 && len(w.held) >= w.maxHeld {
		w.c.skipped.Add(1)
		return
	}
	lfd, sa := w.lfds[w.next], w.targets[w.next]
	w.next = (w.next + 1) % len(w.lfds)
	cfd, sfd, err := pair(lfd, sa)
	if err != nil {
		w.c.fail(err)
		return
	}
	w.c.opened.Add(1)
	clientFirst := w.c.cfg.CloseFirst == CloseClient || (w.c.cfg.CloseFirst == CloseMixed && w.n%2 == 0)
	w.n++
	if hold == 0 {
		closePair(cfd, sfd, clientFirst)
		w.c.closed.Add(1)
		return
	}
	w.held = append(w.held, heldPair{cfd, sfd, clientFirst, now.Add(hold)})
}

// closeHeld closes the held connections due by now (all of them when now
// is zero).
func (w *worker) closeHeld(now time.Time) {
	k := 0
	for ; k < len(w.held); k++ {
		h := w.held[k]
		if !now.IsZero() && h.until.After(now) {
			break
		}
		closePair(h.cfd, h.sfd, h.clientFirst)
		w.c.closed.Add(1)
	}
	if k > 0 {
		w.held = append(w.held[:0], w.held[k:]...)
	}
}

func closePair(cfd, sfd int, clientFirst bool) {
	if clientFirst {
		unix.Close(cfd)
		unix.Close(sfd)
	} else {
		unix.Close(sfd)
		unix.Close(cfd)
	}
}

// maxEINTR bounds the retries of a syscall interrupted by a signal (the Go
// runtime preempts goroutines with SIGURG).
const maxEINTR = 100

// pair connects a new client to the listener lfd (bound to sa) and accepts
// it, returning both descriptors.
func pair(lfd int, sa unix.Sockaddr) (cfd, sfd int, err error) {
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	cfd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("socket: %w", err)
	}
	if err := setTimeout(cfd, unix.SO_SNDTIMEO); err != nil {
		unix.Close(cfd)
		return -1, -1, err
	}
	// A connect interrupted by a signal goes on in the background; calling
	// it again waits for it (EALREADY case of inet_stream_connect) and
	// returns 0 once it is established. A timeout shows as EINPROGRESS.
	for i := 0; ; i++ {
		err = unix.Connect(cfd, sa)
		if err != unix.EINTR || i == maxEINTR {
			break
		}
	}
	if err != nil {
		unix.Close(cfd)
		return -1, -1, fmt.Errorf("connect: %w", err)
	}
	for i := 0; ; i++ {
		sfd, _, err = unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if err != unix.EINTR || i == maxEINTR {
			break
		}
	}
	if err != nil {
		unix.Close(cfd)
		return -1, -1, fmt.Errorf("accept: %w", err)
	}
	return cfd, sfd, nil
}

// listen opens a listener on addr with a kernel-chosen port, with a receive
// timeout that bounds accept.
func listen(addr netip.Addr) (int, unix.Sockaddr, error) {
	var sa unix.Sockaddr
	family := unix.AF_INET
	if addr.Is4() {
		sa = &unix.SockaddrInet4{Addr: addr.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Addr: addr.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, fmt.Errorf("listener socket: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if err := setTimeout(fd, unix.SO_RCVTIMEO); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("getsockname: %w", err)
	}
	return fd, bound, nil
}

func setTimeout(fd, opt int) error {
	tv := unix.NsecToTimeval(ioTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv); err != nil {
		return fmt.Errorf("set socket timeout: %w", err)
	}
	return nil
}

func sockaddrPort(sa unix.Sockaddr) int {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return sa.Port
	case *unix.SockaddrInet6:
		return sa.Port
	}
	return 0
}
