package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Kernel TCP states (include/net/tcp_states.h) as TCP_INFO reports them.
const (
	stateEstablished = 1
	stateSynSent     = 2
	stateFinWait2    = 5
	stateClose       = 7
)

// dialWorkers bounds the number of concurrent connect()s.
const dialWorkers = 64

// population owns every socket sockpop opened.
type population struct {
	cfg     *config
	network string // "tcp4" or "tcp6"
	report  Report
	nextPrt int // next listener port when -port is set

	mu        sync.Mutex
	listeners []*net.TCPListener
	conns     []*net.TCPConn
	rawFDs    []int
}

// newPopulation prepares an empty population for cfg.
func newPopulation(cfg *config) *population {
	p := &population{cfg: cfg, network: "tcp6", nextPrt: cfg.port}
	if cfg.addr.Is4() {
		p.network = "tcp4"
	}
	p.report = Report{PID: os.Getpid(), Addr: cfg.addr.String(), Sockets: map[string]int{}}
	for _, s := range stateNames {
		p.report.Sockets[s] = 0
	}
	return p
}

// build stands up the whole population. TIME_WAIT sockets come last so
// they are as fresh as possible when READY is printed.
func (p *population) build(ctx context.Context) error {
	if p.cfg.estab > 0 {
		if err := p.buildEstab(ctx); err != nil {
			return fmt.Errorf("-estab %d: %w", p.cfg.estab, err)
		}
	}
	if p.cfg.closewait > 0 {
		if err := p.buildCloseWait(ctx); err != nil {
			return fmt.Errorf("-closewait %d: %w", p.cfg.closewait, err)
		}
	}
	if p.cfg.full {
		if err := p.buildFull(ctx); err != nil {
			return fmt.Errorf("full listener (backlog %d, %d clients): %w", p.cfg.fullBacklog, p.cfg.fullClients, err)
		}
	}
	if p.cfg.timewait > 0 {
		if err := p.buildTimeWait(ctx); err != nil {
			return fmt.Errorf("-timewait %d: %w", p.cfg.timewait, err)
		}
	}
	return nil
}

// close closes every socket: listeners first so nothing new arrives.
func (p *population) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.listeners {
		l.Close()
	}
	for _, fd := range p.rawFDs {
		unix.Close(fd)
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.listeners, p.rawFDs, p.conns = nil, nil, nil
}

// keep registers sockets to be closed by close.
func (p *population) keep(conns ...*net.TCPConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		if c != nil {
			p.conns = append(p.conns, c)
		}
	}
}

// keepFD registers a raw descriptor to be closed by close.
func (p *population) keepFD(fd int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rawFDs = append(p.rawFDs, fd)
}

// batchSize is how many transient connections may be open at once, within
// the fd limit left after the held population.
func (p *population) batchSize() int {
	limit, err := raiseNoFile()
	if err != nil {
		return 1
	}
	b := (limit - p.cfg.fdNeed()) / 2
	return max(1, min(maxBatch, b))
}

// listener is a listening socket whose accepted connections flow into ch.
type listener struct {
	ln   *net.TCPListener
	port int
	ch   chan *net.TCPConn
	errc chan error
}

// listen opens a listener on the next port and starts its accept loop;
// expect is how many connections it will get (the channel's capacity).
func (p *population) listen(ctx context.Context, ch chan *net.TCPConn, errc chan error) (*listener, error) {
	port := 0
	if p.cfg.port > 0 {
		port = p.nextPrt
		p.nextPrt++
	}
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, p.network, netip.AddrPortFrom(p.cfg.addr, uint16(port)).String())
	if err != nil {
		return nil, err
	}
	tl := ln.(*net.TCPListener)
	p.mu.Lock()
	p.listeners = append(p.listeners, tl)
	p.mu.Unlock()
	p.report.Sockets["LISTEN"]++
	l := &listener{ln: tl, port: tl.Addr().(*net.TCPAddr).Port, ch: ch, errc: errc}
	go l.acceptLoop()
	return l, nil
}

// acceptLoop accepts until the listener is closed. Connections nobody is
// waiting for (the channel is full) are closed at once.
func (l *listener) acceptLoop() {
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				select {
				case l.errc <- fmt.Errorf("accept on port %d: %w", l.port, err):
				default:
				}
			}
			return
		}
		select {
		case l.ch <- c:
		default:
			c.Close()
		}
	}
}

// dialer returns a dialer whose sockets are bound to the population's
// address without a port (IP_BIND_ADDRESS_NO_PORT), so connect() picks the
// ephemeral port per destination and ports can be shared across
// destinations, as for an unbound client.
func (p *population) dialer() *net.Dialer {
	return &net.Dialer{
		LocalAddr: &net.TCPAddr{IP: p.cfg.addr.AsSlice()},
		KeepAlive: -1,
		Timeout:   10 * time.Second,
		Control: func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			})
			if err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("setsockopt(IP_BIND_ADDRESS_NO_PORT): %w", serr)
			}
			return nil
		},
	}
}

// parallel runs fn(i) for i in [0,n) on at most workers goroutines and
// returns the first error; after an error no new index is started.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for w := 0; w < min(workers, n); w++ {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// connectPairs dials n connections, connection i going to target(i), and
// collects the n server sides from ch. Whatever was opened is returned even
// on error, for the caller to close or keep.
func (p *population) connectPairs(ctx context.Context, n int, target func(i int) string, ch <-chan *net.TCPConn, errc <-chan error) (clients, servers []*net.TCPConn, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	clients = make([]*net.TCPConn, n)
	d := p.dialer()
	dialDone := make(chan error, 1)
	go func() {
		err := parallel(ctx, n, dialWorkers, func(ctx context.Context, i int) error {
			c, err := d.DialContext(ctx, p.network, target(i))
			if err != nil {
				return err
			}
			clients[i] = c.(*net.TCPConn)
			return nil
		})
		if err != nil {
			cancel()
		}
		dialDone <- err
	}()

	// Bounded wait: generous for 10k connections on a slow machine.
	timeout := time.NewTimer(30*time.Second + time.Duration(n)*time.Millisecond)
	defer timeout.Stop()
	servers = make([]*net.TCPConn, 0, n)
	for len(servers) < n && err == nil {
		select {
		case c := <-ch:
			servers = append(servers, c)
		case e := <-errc:
			err = e
		case <-ctx.Done():
			err = ctx.Err()
		case <-timeout.C:
			err = fmt.Errorf("timed out: %d of %d connections accepted", len(servers), n)
		}
	}
	if err != nil {
		cancel() // stop dialing; on success the dials finish by themselves
	}
	if derr := <-dialDone; derr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = derr
	}
	if err != nil && len(servers) < n {
		// Late arrivals still sitting in the channel.
		for drained := false; !drained; {
			select {
			case c := <-ch:
				servers = append(servers, c)
			default:
				drained = true
			}
		}
	}
	return compact(clients), servers, err
}

// compact drops nil entries.
func compact(cs []*net.TCPConn) []*net.TCPConn {
	out := cs[:0]
	for _, c := range cs {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// closeAll closes every connection in cs.
func closeAll(cs []*net.TCPConn) {
	for _, c := range cs {
		c.Close()
	}
}

// buildEstab builds -estab pairs on one listener; all sockets are held.
func (p *population) buildEstab(ctx context.Context) error {
	n := p.cfg.estab
	ch := make(chan *net.TCPConn, n)
	l, err := p.listen(ctx, ch, make(chan error, 1))
	if err != nil {
		return err
	}
	p.report.EstabPort = l.port
	target := l.ln.Addr().String()
	clients, servers, err := p.connectPairs(ctx, n, func(int) string { return target }, ch, l.errc)
	p.keep(clients...)
	p.keep(servers...)
	if err != nil {
		return err
	}
	p.report.Sockets["ESTABLISHED"] += 2 * n
	return nil
}

// buildCloseWait builds -closewait server-side CLOSE_WAIT sockets, in
// batches: the clients connect, shut down their sending side, the server
// side reads EOF (now in CLOSE_WAIT, held open), the clients wait for the
// ACK of their FIN (FIN_WAIT2) and close, becoming orphaned FIN_WAIT2
// sockets that the kernel keeps for tcp_fin_timeout.
func (p *population) buildCloseWait(ctx context.Context) error {
	n := p.cfg.closewait
	ch := make(chan *net.TCPConn, n)
	l, err := p.listen(ctx, ch, make(chan error, 1))
	if err != nil {
		return err
	}
	p.report.CloseWaitPort = l.port
	target := l.ln.Addr().String()
	batch := p.batchSize()
	for done := 0; done < n; {
		b := min(batch, n-done)
		clients, servers, err := p.connectPairs(ctx, b, func(int) string { return target }, ch, l.errc)
		p.keep(servers...)
		if err == nil {
			err = closeWaitBatch(ctx, clients, servers)
		}
		closeAll(clients)
		if err != nil {
			return err
		}
		done += b
	}
	p.report.Sockets["CLOSE_WAIT"] += n
	p.report.Sockets["FIN_WAIT2"] += n
	return nil
}

// closeWaitBatch half-closes clients and waits until every server side has
// read EOF and every client has reached FIN_WAIT2.
func closeWaitBatch(ctx context.Context, clients, servers []*net.TCPConn) error {
	for _, c := range clients {
		if err := c.CloseWrite(); err != nil {
			return fmt.Errorf("client shutdown: %w", err)
		}
	}
	for _, s := range servers {
		if err := expectEOF(s); err != nil {
			return err
		}
	}
	return waitState(ctx, clients, stateFinWait2, 5*time.Second)
}

// buildTimeWait builds -timewait client-side TIME_WAIT sockets over
// -timewait-ports listeners, in batches: the clients close first, each
// server side reads EOF, shuts down its sending side (LAST_ACK) and is
// closed once the client's final ACK has moved it to CLOSE, which also
// proves the client is in TIME_WAIT.
func (p *population) buildTimeWait(ctx context.Context) error {
	n, k := p.cfg.timewait, p.cfg.twPorts
	ch := make(chan *net.TCPConn, n)
	errc := make(chan error, 1)
	targets := make([]string, k)
	for i := range k {
		l, err := p.listen(ctx, ch, errc)
		if err != nil {
			return err
		}
		p.report.TimeWaitPorts = append(p.report.TimeWaitPorts, l.port)
		targets[i] = l.ln.Addr().String()
	}
	batch := p.batchSize()
	for done := 0; done < n; {
		b := min(batch, n-done)
		base := done
		clients, servers, err := p.connectPairs(ctx, b, func(i int) string { return targets[(base+i)%k] }, ch, errc)
		closeAll(clients) // default SO_LINGER: a normal close with FIN
		if err == nil {
			err = timeWaitBatch(ctx, servers)
		}
		closeAll(servers)
		if err != nil {
			return err
		}
		done += b
	}
	p.report.Sockets["TIME_WAIT"] += n
	return nil
}

// timeWaitBatch closes the server sides of connections whose clients have
// closed, and waits until each has been fully acknowledged.
func timeWaitBatch(ctx context.Context, servers []*net.TCPConn) error {
	for _, s := range servers {
		if err := expectEOF(s); err != nil {
			return err
		}
		if err := s.CloseWrite(); err != nil {
			return fmt.Errorf("server shutdown: %w", err)
		}
	}
	return waitState(ctx, servers, stateClose, 5*time.Second)
}

// expectEOF reads from c, expecting the peer's FIN and no data.
func expectEOF(c *net.TCPConn) error {
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	var buf [1]byte
	n, err := c.Read(buf[:])
	if n > 0 {
		return fmt.Errorf("unexpected data from %v", c.RemoteAddr())
	}
	if !errors.Is(err, io.EOF) {
		return fmt.Errorf("waiting for EOF from %v: %v", c.RemoteAddr(), err)
	}
	return c.SetReadDeadline(time.Time{})
}

// tcpState returns the kernel TCP state of c (TCP_INFO).
func tcpState(c *net.TCPConn) (uint8, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		info *unix.TCPInfo
		ierr error
	)
	if err := rc.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return 0, err
	}
	if ierr != nil {
		return 0, fmt.Errorf("getsockopt(TCP_INFO): %w", ierr)
	}
	return info.State, nil
}

// waitState polls until every connection in cs is in state want.
func waitState(ctx context.Context, cs []*net.TCPConn, want uint8, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	pending := append([]*net.TCPConn(nil), cs...)
	for {
		rest := pending[:0]
		var last uint8
		for _, c := range pending {
			st, err := tcpState(c)
			if err != nil {
				return err
			}
			if st != want {
				rest = append(rest, c)
				last = st
			}
		}
		pending = rest
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d socket(s) still in TCP state %d, not %d, after %v", len(pending), last, want, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// sockaddr returns the unix.Sockaddr for the population's address and port.
func (p *population) sockaddr(port int) unix.Sockaddr {
	if p.cfg.addr.Is4() {
		return &unix.SockaddrInet4{Port: port, Addr: p.cfg.addr.As4()}
	}
	return &unix.SockaddrInet6{Port: port, Addr: p.cfg.addr.As16()}
}

// family returns AF_INET or AF_INET6 for the population's address.
func (p *population) family() int {
	if p.cfg.addr.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// buildFull builds a listener with listen(fd, B) that never accepts and C
// clients connecting to it with non-blocking connect(), then waits (at most
// 3 s) until the accept queue is as full as it gets and every client is
// ESTABLISHED (queued) or SYN_SENT (SYN dropped). The counts reported are
// the observed ones.
func (p *population) buildFull(ctx context.Context) error {
	port := 0
	if p.cfg.port > 0 {
		port = p.nextPrt
		p.nextPrt++
	}
	lfd, err := unix.Socket(p.family(), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	p.keepFD(lfd)
	if err := unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("setsockopt(SO_REUSEADDR): %w", err)
	}
	if err := unix.Bind(lfd, p.sockaddr(port)); err != nil {
		return fmt.Errorf("bind %v: %w", netip.AddrPortFrom(p.cfg.addr, uint16(port)), err)
	}
	if err := unix.Listen(lfd, p.cfg.fullBacklog); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		return fmt.Errorf("getsockname: %w", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		port = sa.Port
	case *unix.SockaddrInet6:
		port = sa.Port
	}
	p.report.FullPort = port
	p.report.Sockets["LISTEN"]++
	// For a listener TCP_INFO reports the accept-queue length in
	// tcpi_unacked and the backlog in force in tcpi_sacked.
	linfo, err := unix.GetsockoptTCPInfo(lfd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return fmt.Errorf("getsockopt(TCP_INFO) on listener: %w", err)
	}
	backlog := int(linfo.Sacked)
	p.report.FullBacklog = &backlog

	c := p.cfg.fullClients
	fds := make([]int, 0, c)
	for range c {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fd, err := unix.Socket(p.family(), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err != nil {
			return fmt.Errorf("client socket: %w", err)
		}
		p.keepFD(fd)
		fds = append(fds, fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			return fmt.Errorf("setsockopt(IP_BIND_ADDRESS_NO_PORT): %w", err)
		}
		if err := unix.Bind(fd, p.sockaddr(0)); err != nil {
			return fmt.Errorf("client bind: %w", err)
		}
		if err := unix.Connect(fd, p.sockaddr(port)); err != nil && !errors.Is(err, unix.EINPROGRESS) {
			return fmt.Errorf("client connect: %w", err)
		}
	}

	// The queue can hold backlog+1; the clients beyond that stay in SYN_SENT.
	wantQueue := min(c, backlog+1)
	deadline := time.Now().Add(3 * time.Second)
	var queue, estab, synSent int
	for {
		info, err := unix.GetsockoptTCPInfo(lfd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return fmt.Errorf("getsockopt(TCP_INFO) on listener: %w", err)
		}
		queue = int(info.Unacked)
		estab, synSent = 0, 0
		for _, fd := range fds {
			ci, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
			if err != nil {
				return fmt.Errorf("getsockopt(TCP_INFO) on client: %w", err)
			}
			switch ci.State {
			case stateEstablished:
				estab++
			case stateSynSent:
				synSent++
			default:
				return fmt.Errorf("a client is in unexpected TCP state %d", ci.State)
			}
		}
		if queue == wantQueue && estab == wantQueue && synSent == c-wantQueue {
			break
		}
		if time.Now().After(deadline) {
			// Report what stands rather than what was hoped for.
			fmt.Fprintf(os.Stderr, "sockpop: warning: full listener: accept queue %d (want %d), clients %d ESTABLISHED and %d SYN_SENT after 3s\n", queue, wantQueue, estab, synSent)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	p.report.FullQueue = &queue
	// Clients whose handshake completed, plus the not-yet-accepted server
	// sockets in the queue; a completed client without a queued server side
	// means the final ACK was dropped and a request sock sits in SYN_RECV.
	p.report.Sockets["ESTABLISHED"] += estab + queue
	p.report.Sockets["SYN_SENT"] += synSent
	if estab > queue {
		p.report.Sockets["SYN_RECV"] += estab - queue
	}
	return nil
}
