// Package churn opens and closes TCP connections on loopback at a steady,
// bounded rate, and optionally spawns short-lived processes that hold one of
// those connections for a moment, so that sockets and /proc entries appear
// and vanish while tcptop is reading them. It is test and soak tooling: run
// it only inside a private network namespace.
//
// Everything runs in the network namespace of the thread that calls Start
// (call it from source.Namespace.Do, or in a process started with
// `ip netns exec`): Start remembers that namespace and every worker thread
// enters it before it opens a socket.
package churn

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Limits that keep a churn cheap and well inside a 20000-fd process limit.
const (
	// MaxRate is the highest Rate Start accepts.
	MaxRate = 50000
	// MaxListeners is the highest Listeners Start accepts.
	MaxListeners = 64
	// MaxHeldFDs caps the socket descriptors held by connections waiting
	// out Hold (two per connection); a worker that reaches its share skips
	// openings (Stats.Skipped) instead of holding more.
	MaxHeldFDs = 4096
	// MaxChildren caps the child processes alive at once.
	MaxChildren = 8
	// tick is the pacing period; each tick spends the credit accrued since
	// the previous one.
	tick = 10 * time.Millisecond
	// ioTimeout bounds every connect and accept, so a worker never blocks
	// for long and Stop returns promptly.
	ioTimeout = time.Second
	// backlog of each listener (the kernel caps it at net.core.somaxconn).
	backlog = 1024
)

// Close selects which side of a connection closes first, and so which side
// is left in TIME_WAIT.
type Close int

const (
	// CloseClient: the client closes first and holds the TIME_WAIT.
	CloseClient Close = iota
	// CloseServer: the accepted socket closes first and holds the TIME_WAIT.
	CloseServer
	// CloseMixed alternates between the two, connection by connection.
	CloseMixed
)

// String returns the name ParseClose accepts.
func (c Close) String() string {
	switch c {
	case CloseClient:
		return "client"
	case CloseServer:
		return "server"
	case CloseMixed:
		return "mixed"
	}
	return fmt.Sprintf("Close(%d)", int(c))
}

// ParseClose parses "client", "server" or "mixed".
func ParseClose(s string) (Close, error) {
	for _, c := range []Close{CloseClient, CloseServer, CloseMixed} {
		if c.String() == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("close side %q: want client, server or mixed", s)
}

// Config describes a churn.
type Config struct {
	// Addr is the local IP that listeners bind and clients connect to
	// ("127.0.0.1" when empty; "::1" for IPv6).
	Addr string
	// Rate is how many connections are opened (and closed) per second. It
	// is a ceiling: the pacing never exceeds it, and a machine too busy to
	// keep up gets a lower rate (see Stats.Rate), never a burst to catch up.
	Rate int
	// Listeners is how many listening sockets share the connections (4 when
	// 0). Each (client IP, listener) pair can hold ~28000 client ports, so
	// more listeners leave room for more client-side TIME_WAIT.
	Listeners int
	// CloseFirst selects which side closes first (TIME_WAIT lands there).
	CloseFirst Close
	// Hold keeps each connection ESTABLISHED this long before it is closed
	// (0: closed as soon as it is accepted). Held descriptors are capped at
	// MaxHeldFDs.
	Hold time.Duration
	// Processes also spawns child processes (`sleep`) that inherit the
	// client side of a fresh connection, hold it for ProcHold and exit, so
	// socket owners appear and vanish in /proc during a scan.
	Processes bool
	// ProcRate is how many children are spawned per second (20 when 0),
	// at most MaxChildren alive at once.
	ProcRate int
	// ProcHold is how long each child lives (50ms when 0).
	ProcHold time.Duration
}

// Stats counts what a churn did since Start.
type Stats struct {
	// Opened and Closed count paced connections (a connection is opened
	// once accepted, closed once both its sides are).
	Opened, Closed uint64
	// Errors counts failed socket, connect, accept and spawn calls.
	Errors uint64
	// Skipped counts openings left out because MaxHeldFDs or MaxChildren
	// was reached.
	Skipped uint64
	// Spawned and Reaped count child processes (each also holding one
	// connection, not counted in Opened).
	Spawned, Reaped uint64
	// Elapsed is the time since Start (until Stop once stopped).
	Elapsed time.Duration
	// LastError describes the most recent error ("" when none).
	LastError string
}

// Rate is the achieved rate of opened connections per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Opened) / s.Elapsed.Seconds()
}

// Churner is a running churn. Its methods are safe for concurrent use.
type Churner struct {
	cfg     Config
	ns      netns.NsHandle
	cancel  context.CancelFunc
	wg      sync.WaitGroup // workers and the spawner
	kids    sync.WaitGroup // child waiters
	lfds    []int
	ports   []int
	start   time.Time
	stopped atomic.Int64 // Elapsed at Stop, in ns; 0 while running
	once    sync.Once

	opened, closed, errs, skipped, spawned, reaped atomic.Uint64
	lastErr                                        atomic.Pointer[string]
}

// Start validates cfg, opens the listeners in the calling thread's network
// namespace and starts the workers. It returns once the churn is running;
// stop it with Stop (cancelling ctx stops the workers too, but only Stop
// waits for them and releases everything).
func Start(ctx context.Context, cfg Config) (*Churner, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1"
	}
	if cfg.Listeners == 0 {
		cfg.Listeners = 4
	}
	if cfg.ProcRate == 0 {
		cfg.ProcRate = 20
	}
	if cfg.ProcHold == 0 {
		cfg.ProcHold = 50 * time.Millisecond
	}
	addr, err := netip.ParseAddr(cfg.Addr)
	switch {
	case err != nil:
		return nil, fmt.Errorf("churn: address: %w", err)
	case !addr.Unmap().IsLoopback():
		return nil, fmt.Errorf("churn: address %s is not loopback", addr)
	case cfg.Rate <= 0 || cfg.Rate > MaxRate:
		return nil, fmt.Errorf("churn: rate %d: want 1..%d connections/s", cfg.Rate, MaxRate)
	case cfg.Listeners < 1 || cfg.Listeners > MaxListeners:
		return nil, fmt.Errorf("churn: listeners %d: want 1..%d", cfg.Listeners, MaxListeners)
	case cfg.CloseFirst < CloseClient || cfg.CloseFirst > CloseMixed:
		return nil, fmt.Errorf("churn: %v: want client, server or mixed", cfg.CloseFirst)
	case cfg.Hold < 0 || cfg.ProcHold < 0 || cfg.ProcRate < 0 || cfg.ProcRate > 1000:
		return nil, errors.New("churn: Hold and ProcHold must not be negative, ProcRate must be 0..1000")
	}
	addr = addr.Unmap()
	sleepPath := ""
	if cfg.Processes {
		if sleepPath, err = exec.LookPath("sleep"); err != nil {
			return nil, fmt.Errorf("churn: processes need sleep(1): %w", err)
		}
	}

	// The thread must stay the same between reading its namespace and
	// opening the listeners.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("churn: read own network namespace: %w", err)
	}
	c := &Churner{cfg: cfg, ns: ns}
	nl := cfg.Listeners
	if cfg.Processes {
		nl++ // the children's connections get their own listener
	}
	var targets []unix.Sockaddr
	for range nl {
		fd, sa, err := listen(addr)
		if err != nil {
			c.closeListeners()
			ns.Close()
			return nil, fmt.Errorf("churn: %w", err)
		}
		c.lfds = append(c.lfds, fd)
		c.ports = append(c.ports, sockaddrPort(sa))
		targets = append(targets, sa)
	}

	ctx, c.cancel = context.WithCancel(ctx)
	c.start = time.Now()
	// One worker per core (at most 4), each with its own listeners so
	// that it accepts the very connection it made and closes the pair in
	// the chosen order.
	nw := min(cfg.Listeners, max(1, runtime.GOMAXPROCS(0)), 4)
	ready := make(chan error, nw+1)
	for i := range nw {
		w := &worker{c: c, rate: float64(cfg.Rate) / float64(nw), maxHeld: MaxHeldFDs / 2 / nw}
		for j := i; j < cfg.Listeners; j += nw {
			w.lfds = append(w.lfds, c.lfds[j])
			w.targets = append(w.targets, targets[j])
		}
		c.wg.Add(1)
		go w.run(ctx, ready)
	}
	started := nw
	if cfg.Processes {
		s := &spawner{c: c, lfd: c.lfds[nl-1], target: targets[nl-1], sleep: sleepPath,
			slots: make(chan struct{}, MaxChildren)}
		c.wg.Add(1)
		go s.run(ctx, ready)
		started++
	}
	var errs []error
	for range started {
		if err := <-ready; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		c.Stop()
		return nil, fmt.Errorf("churn: %w", errs[0])
	}
	return c, nil
}

// Stop ends the churn, waits for the workers and the children, and closes
// every socket it still holds. It is idempotent.
func (c *Churner) Stop() {
	c.once.Do(func() {
		c.cancel()
		c.wg.Wait()
		c.kids.Wait()
		c.closeListeners()
		c.ns.Close()
		c.stopped.Store(int64(max(time.Since(c.start), 1)))
	})
}

// Stats returns the counters so far.
func (c *Churner) Stats() Stats {
	s := Stats{
		Opened:  c.opened.Load(),
		Closed:  c.closed.Load(),
		Errors:  c.errs.Load(),
		Skipped: c.skipped.Load(),
		Spawned: c.spawned.Load(),
		Reaped:  c.reaped.Load(),
		Elapsed: time.Duration(c.stopped.Load()),
	}
	if s.Elapsed == 0 {
		s.Elapsed = time.Since(c.start)
	}
	if e := c.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	return s
}

// Ports returns the listeners' local ports (the paced ones first, then the
// children's when Processes is set), also after Stop.
func (c *Churner) Ports() []int { return slices.Clone(c.ports) }

func (c *Churner) fail(err error) {
	c.errs.Add(1)
	msg := err.Error()
	c.lastErr.Store(&msg)
}

func (c *Churner) closeListeners() {
	for _, fd := range c.lfds {
		unix.Close(fd)
	}
	c.lfds = nil
}

// enterNamespace locks the calling goroutine to its thread and moves the
// thread into the churn's namespace. The thread is never unlocked: when the
// goroutine ends, the runtime discards it rather than reuse a thread that
// may sit in another namespace.
func (c *Churner) enterNamespace() error {
	runtime.LockOSThread()
	cur, err := netns.Get()
	if err != nil {
		return fmt.Errorf("read thread's network namespace: %w", err)
	}
	defer cur.Close()
	if cur.Equal(c.ns) {
		return nil // already there: no privilege needed
	}
	if err := netns.Set(c.ns); err != nil {
		return fmt.Errorf("enter network namespace: %w", err)
	}
	return nil
}

// pacer hands out credit at a fixed rate per second, capped at two ticks'
// worth (at least one unit): time lost to a slow tick is not made up in a
// burst, so over any window of W seconds at most rate*W + max(2*rate*tick, 1)
// units are spent.
type pacer struct {
	rate   float64
	credit float64
	last   time.Time // when credit was last added; set it at the start
}

// take returns how many units may be spent now.
func (p *pacer) take(now time.Time) int {
	p.credit += p.rate * now.Sub(p.last).Seconds()
	p.last = now
	if ceil := max(2*p.rate*tick.Seconds(), 1); p.credit > ceil {
		p.credit = ceil
	}
	n := int(p.credit)
	p.credit -= float64(n)
	return n
}
