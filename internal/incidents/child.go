package incidents

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The processes that make a population (a service, its clients, a leaky
// application) are this same executable started again inside the
// namespace with `ip netns exec`, with childEnv holding their role as JSON.
// A program that builds populations must call RunChild first thing in
// main (tests: in TestMain).
const childEnv = "TCPTOP_INCIDENT_CHILD"

// childArg is argv[1] of a child, so ps shows what it is.
const childArg = "incident-child"

// Server modes: what a server does with the connections it accepts.
const (
	// modeClose reads until the client closes, then closes (the client
	// closed first, so TIME_WAIT lands on the client).
	modeClose = "close"
	// modeEcho answers each line with the same line until the client
	// closes: a keep-alive service.
	modeEcho = "echo"
	// modeLeak never reads and never closes (bounded by MaxConns, beyond
	// which new connections are closed at once): CLOSE_WAIT piles up.
	modeLeak = "leak"
	// modeNoAccept listens and never calls accept(): the queue fills.
	modeNoAccept = "noaccept"
	// modeLag reads until the client closes, then waits Lag before it
	// closes too: each socket sits in CLOSE_WAIT for Lag, and no longer.
	modeLag = "lag"
	// modeRespond reads one request line, answers it and closes first (the
	// service closes: TIME_WAIT lands on the service's side).
	modeRespond = "respond"
	// modePulse accepts in pulses: when a connection waits it lets the
	// queue fill for Pause, then accepts all that waits (answering as
	// modeRespond): the queue fills and drains.
	modePulse = "pulse"
	// modeSlowAccept accepts at most AcceptRate connections per second
	// (answering as modeRespond): a service that cannot keep up.
	modeSlowAccept = "slowaccept"
	// modeStream writes to each connection as fast as the peer reads.
	modeStream = "stream"
	// modePool is the master of a pre-forked pool: it listens, then starts
	// Workers copies of this executable sharing the listening socket, each
	// accepting MaxConns connections and never closing them (a leak spread
	// over the pool), and never accepts itself.
	modePool = "pool"
)

// roleWorker is a pool worker started by a modePool master: its listening
// socket is inherited as fd 3.
const roleWorker = "worker"

// Client kinds.
const (
	// kindDial opens paced connections, each closed by the client first
	// (after Hold), each attempt bounded by Timeout.
	kindDial = "dial"
	// kindKeepAlive opens Conns long-lived connections and sends a line on
	// each every Interval, reading the answer (or nothing when Idle).
	kindKeepAlive = "keepalive"
	// kindSlowRead opens Conns connections with a small receive buffer and
	// reads ReadBPS bytes per second from each: slow downloads.
	kindSlowRead = "slowread"
)

// childSpec is what a child does; it travels as JSON in childEnv.
type childSpec struct {
	Role string `json:"role"` // "server" or "client"
	// Comm is the process name to take (/proc/PID/comm), what tcptop shows.
	Comm string `json:"comm"`
	// MaxLifeMS bounds the child's life whatever happens to its parent.
	MaxLifeMS int64 `json:"max_life_ms"`

	// Server.
	Listen   []string `json:"listen,omitempty"` // ip:port, IPv4
	Backlog  int      `json:"backlog,omitempty"`
	Mode     string   `json:"mode,omitempty"`
	MaxConns int      `json:"max_conns,omitempty"`
	// LagMS: modeLag's delay between the peer's FIN and close().
	LagMS int64 `json:"lag_ms,omitempty"`
	// PauseMS: modePulse's pause between two drains of the queue.
	PauseMS int64 `json:"pause_ms,omitempty"`
	// AcceptRate: modeSlowAccept's accepts per second, AcceptBatch at a
	// time (1 when 0).
	AcceptRate  float64 `json:"accept_rate,omitempty"`
	AcceptBatch int     `json:"accept_batch,omitempty"`
	// Workers: modePool's worker processes.
	Workers int `json:"workers,omitempty"`

	// Client.
	Kind        string   `json:"kind,omitempty"`
	Targets     []string `json:"targets,omitempty"`
	Weights     []int    `json:"weights,omitempty"` // per target; 1 each when empty
	Rate        float64  `json:"rate,omitempty"`    // attempts per second
	TimeoutMS   int64    `json:"timeout_ms,omitempty"`
	HoldMS      int64    `json:"hold_ms,omitempty"`
	MaxInflight int      `json:"max_inflight,omitempty"`
	Conns       int      `json:"conns,omitempty"`
	IntervalMS  int64    `json:"interval_ms,omitempty"`
	// BindIP: bind(BindIP:0) before connect(), so the kernel picks the
	// port at bind() without knowing the destination (EADDRINUSE once no
	// port is free, whatever the destination).
	BindIP string `json:"bind_ip,omitempty"`
	// Request: send a request line and read the answer until the server
	// closes, then close; HalfClose also shuts down the write side after
	// the request (the client's FIN goes first, HTTP/1.0 style).
	Request   bool `json:"request,omitempty"`
	HalfClose bool `json:"half_close,omitempty"`
	// ReadTimeoutMS bounds the wait for the answer (10 s when 0).
	ReadTimeoutMS int64 `json:"read_timeout_ms,omitempty"`
	// Total stops a dial client after this many attempts (0: no limit).
	Total int `json:"total,omitempty"`
	// HoldHalfClosed: a dial client sends its FIN (shutdown of the write
	// side) and keeps the descriptor until it ends, as a gateway waiting
	// for an answer does: its FIN_WAIT2 is never orphaned, so it never
	// times out, and the peer's CLOSE_WAIT lasts as long as the peer
	// leaks it (an orphaned FIN_WAIT2 vanishes after tcp_fin_timeout and
	// the peer's keepalive probe then meets a reset).
	HoldHalfClosed bool `json:"hold_half_closed,omitempty"`
	// Burst and BurstEveryMS make a dial client fire Burst attempts at
	// once every BurstEveryMS (within MaxInflight) instead of Rate.
	Burst        int   `json:"burst,omitempty"`
	BurstEveryMS int64 `json:"burst_every_ms,omitempty"`
	// Idle: a keepalive client holds its connections without traffic.
	Idle bool `json:"idle,omitempty"`
	// RcvBuf (SO_RCVBUF) and ReadBPS (bytes per second per connection):
	// kindSlowRead.
	RcvBuf  int `json:"rcvbuf,omitempty"`
	ReadBPS int `json:"read_bps,omitempty"`
	// READY comes once at least ReadyOK connects succeeded, ReadyFailed
	// failed, and ReadyPending attempts have been pending for more than
	// ReadyPendingMS (each condition only when non-zero).
	ReadyOK        int   `json:"ready_ok,omitempty"`
	ReadyFailed    int   `json:"ready_failed,omitempty"`
	ReadyPending   int   `json:"ready_pending,omitempty"`
	ReadyPendingMS int64 `json:"ready_pending_ms,omitempty"`
}

// childReport is the JSON after READY.
type childReport struct {
	PID     int   `json:"pid"`
	OK      int64 `json:"ok"`
	Failed  int64 `json:"failed"`
	Skipped int64 `json:"skipped"`
	// Workers are a pool master's worker pids.
	Workers []int `json:"workers,omitempty"`
}

// RunChild runs this process as a population child and exits, when it was
// started as one; otherwise it returns at once. Call it first in main.
func RunChild() {
	raw, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	os.Unsetenv(childEnv)
	var c childSpec
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		fmt.Fprintf(os.Stderr, "incident child: bad %s: %v\n", childEnv, err)
		os.Exit(2)
	}
	if err := runChild(c, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "incident child %s (%s): %v\n", c.Role, c.Comm, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runChild(c childSpec, stdin io.Reader, stdout io.Writer) error {
	if c.Comm != "" {
		// Writing /proc/self/comm renames the thread-group leader, which
		// is what /proc/PID/comm (and so tcptop) shows.
		_ = os.WriteFile("/proc/self/comm", []byte(c.Comm), 0)
	}
	life := time.Duration(c.MaxLifeMS) * time.Millisecond
	if life <= 0 {
		life = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), life)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The parent holds our stdin: EOF means it is done with us (or died).
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	r := &readier{w: stdout}
	switch c.Role {
	case "server":
		switch c.Mode {
		case modePool:
			return pool(ctx, c, r)
		case modePulse, modeSlowAccept:
			return serveRaw(ctx, c, r)
		}
		return serve(ctx, c, r)
	case roleWorker:
		return worker(ctx, c, r)
	case "client":
		switch c.Kind {
		case kindKeepAlive:
			return keepAlive(ctx, c, r)
		case kindSlowRead:
			return slowRead(ctx, c, r)
		}
		return dial(ctx, c, r)
	}
	return fmt.Errorf("unknown role %q", c.Role)
}

// readier prints the READY line once.
type readier struct {
	once sync.Once
	w    io.Writer
	err  error
}

func (r *readier) ready(rep childReport) error {
	r.once.Do(func() {
		rep.PID = os.Getpid()
		b, _ := json.Marshal(rep)
		_, r.err = fmt.Fprintf(r.w, "READY %s\n", b)
	})
	return r.err
}

// listenFD opens a listening IPv4 socket with exactly this backlog (the
// kernel caps it at net.core.somaxconn), which package net cannot do.
func listenFD(addr string, backlog int) (int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return -1, fmt.Errorf("listen address %q: want IPv4 ip:port", addr)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen %s: %w", addr, err)
	}
	return fd, nil
}

func serve(ctx context.Context, c childSpec, r *readier) error {
	backlog := c.Backlog
	if backlog <= 0 {
		backlog = 1024
	}
	var fds []int
	var lns []net.Listener
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn // modeLeak: never closed until the end
	defer func() {
		mu.Lock()
		for _, cn := range held {
			cn.Close()
		}
		mu.Unlock()
	}()
	for _, a := range c.Listen {
		fd, err := listenFD(a, backlog)
		if err != nil {
			return err
		}
		if c.Mode == modeNoAccept {
			fds = append(fds, fd)
			continue
		}
		f := os.NewFile(uintptr(fd), "listener "+a)
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("listener %s: %w", a, err)
		}
		lns = append(lns, ln)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				cn, err := ln.Accept()
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
						return
					}
					time.Sleep(10 * time.Millisecond) // EMFILE and the like: back off
					continue
				}
				switch c.Mode {
				case modeLeak:
					mu.Lock()
					if len(held) < c.MaxConns {
						held = append(held, cn)
						cn = nil
					}
					mu.Unlock()
					if cn != nil {
						cn.Close()
					}
				case modeEcho:
					wg.Add(1)
					go func() {
						defer wg.Done()
						echo(ctx, cn)
					}()
				case modeLag:
					wg.Add(1)
					go func() {
						defer wg.Done()
						lag(ctx, cn, time.Duration(c.LagMS)*time.Millisecond)
					}()
				case modeRespond:
					wg.Add(1)
					go func() {
						defer wg.Done()
						respond(ctx, cn)
					}()
				case modeStream:
					wg.Add(1)
					go func() {
						defer wg.Done()
						stream(ctx, cn)
					}()
				default: // modeClose
					wg.Add(1)
					go func() {
						defer wg.Done()
						_ = cn.SetDeadline(time.Now().Add(10 * time.Second))
						_, _ = io.Copy(io.Discard, cn)
						cn.Close()
					}()
				}
			}
		}()
	}
	if err := r.ready(childReport{}); err != nil {
		return err
	}
	<-ctx.Done()
	for _, ln := range lns {
		ln.Close()
	}
	lns = nil
	wg.Wait()
	return nil
}

// echo answers lines until the peer closes or ctx ends.
func echo(ctx context.Context, cn net.Conn) {
	defer cn.Close()
	stop := context.AfterFunc(ctx, func() { cn.Close() })
	defer stop()
	br := bufio.NewReader(cn)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return
		}
		if _, err := cn.Write(line); err != nil {
			return
		}
	}
}

// dial opens paced connections.
func dial(ctx context.Context, c childSpec, r *readier) error {
	if len(c.Targets) == 0 || (c.Rate <= 0 && c.Burst <= 0) {
		return errors.New("client: no targets or no rate")
	}
	// Expand the weights into a round-robin wheel of target indexes.
	var wheel []string
	for i, t := range c.Targets {
		w := 1
		if i < len(c.Weights) && c.Weights[i] > 0 {
			w = c.Weights[i]
		}
		for range w {
			wheel = append(wheel, t)
		}
	}
	timeout := time.Duration(c.TimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = time.Second
	}
	hold := time.Duration(c.HoldMS) * time.Millisecond
	inflight := c.MaxInflight
	if inflight <= 0 {
		inflight = 64
	}
	pendingAge := time.Duration(c.ReadyPendingMS) * time.Millisecond
	readTimeout := time.Duration(c.ReadTimeoutMS) * time.Millisecond
	if readTimeout <= 0 {
		readTimeout = 10 * time.Second
	}
	var bindIP net.IP
	if c.BindIP != "" {
		if bindIP = net.ParseIP(c.BindIP); bindIP == nil {
			return fmt.Errorf("client: bad bind address %q", c.BindIP)
		}
	}

	var ok, failed, skipped atomic.Int64
	sem := make(chan struct{}, inflight)
	var mu sync.Mutex
	pending := map[uint64]time.Time{} // attempt → start, while connect() runs
	var seq uint64
	var wg sync.WaitGroup
	defer wg.Wait()
	var held []net.Conn // HoldHalfClosed: closed when the client ends
	defer func() {
		mu.Lock()
		for _, cn := range held {
			cn.Close()
		}
		mu.Unlock()
	}()

	attempt := func(id uint64, target string) {
		defer wg.Done()
		defer func() { <-sem }()
		d := net.Dialer{Timeout: timeout, KeepAlive: -1}
		if bindIP != nil {
			d.LocalAddr = &net.TCPAddr{IP: bindIP}
		}
		cn, err := d.DialContext(ctx, "tcp4", target)
		mu.Lock()
		delete(pending, id)
		mu.Unlock()
		if err != nil {
			if ctx.Err() == nil {
				failed.Add(1)
			}
			return
		}
		ok.Add(1)
		if hold > 0 {
			t := time.NewTimer(hold)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if c.Request {
			exchange(ctx, cn, c.HalfClose, readTimeout)
		}
		if c.HoldHalfClosed {
			if tc, ok := cn.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			mu.Lock()
			held = append(held, cn)
			mu.Unlock()
			return
		}
		cn.Close() // the client closes first, unless the server answered and closed
	}

	ready := func(now time.Time) bool {
		if c.ReadyOK > 0 && ok.Load() < int64(c.ReadyOK) {
			return false
		}
		if c.ReadyFailed > 0 && failed.Load() < int64(c.ReadyFailed) {
			return false
		}
		if c.ReadyPending > 0 {
			n := 0
			mu.Lock()
			for _, st := range pending {
				if now.Sub(st) > pendingAge {
					n++
				}
			}
			mu.Unlock()
			if n < c.ReadyPending {
				return false
			}
		}
		return true
	}

	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	credit := 0.0
	next := 0
	isReady := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if c.Burst > 0 {
				if now.Sub(last) >= time.Duration(c.BurstEveryMS)*time.Millisecond || seq == 0 {
					credit, last = float64(c.Burst), now
				}
			} else {
				// Never catch up after a stall: at most two ticks of credit.
				credit = min(credit+c.Rate*now.Sub(last).Seconds(), c.Rate*2*tick.Seconds()+1)
				last = now
			}
			for ; credit >= 1; credit-- {
				if c.Total > 0 && seq >= uint64(c.Total) {
					credit = 0
					break
				}
				select {
				case sem <- struct{}{}:
				default:
					skipped.Add(1)
					continue
				}
				seq++
				mu.Lock()
				pending[seq] = now
				mu.Unlock()
				wg.Add(1)
				go attempt(seq, wheel[next])
				next = (next + 1) % len(wheel)
			}
			if !isReady && ready(now) {
				isReady = true
				if err := r.ready(childReport{OK: ok.Load(), Failed: failed.Load(), Skipped: skipped.Load()}); err != nil {
					return err
				}
			}
		}
	}
}

// keepAlive holds Conns connections and exchanges a line on each every
// Interval: a healthy pooled client.
func keepAlive(ctx context.Context, c childSpec, r *readier) error {
	if len(c.Targets) == 0 || c.Conns <= 0 {
		return errors.New("keepalive client: no targets or no connections")
	}
	interval := time.Duration(c.IntervalMS) * time.Millisecond
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	for i := range c.Conns {
		d := net.Dialer{Timeout: 2 * time.Second}
		cn, err := d.DialContext(ctx, "tcp4", c.Targets[i%len(c.Targets)])
		if err != nil {
			return fmt.Errorf("keepalive connect: %w", err)
		}
		conns = append(conns, cn)
	}
	if c.Idle {
		if err := r.ready(childReport{OK: int64(len(conns))}); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	first := make(chan struct{}, len(conns))
	for i, cn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stop := context.AfterFunc(ctx, func() { cn.Close() })
			defer stop()
			br := bufio.NewReader(cn)
			// Spread the requests over the interval.
			time.Sleep(interval * time.Duration(i) / time.Duration(len(conns)))
			t := time.NewTicker(interval)
			defer t.Stop()
			for n := 0; ; n++ {
				_ = cn.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := fmt.Fprintf(cn, "ping %d\n", n); err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					return
				}
				if _, err := br.ReadBytes('\n'); err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					return
				}
				if n == 0 {
					first <- struct{}{}
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	for range conns {
		select {
		case <-first:
		case <-ctx.Done():
			wg.Wait()
			return nil
		}
	}
	if err := r.ready(childReport{OK: int64(len(conns))}); err != nil {
		return err
	}
	<-ctx.Done()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d keep-alive connections failed", n)
	}
	return nil
}
