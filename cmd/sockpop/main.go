// Command sockpop builds a known population of real TCP sockets on one local
// address and holds it, for tcptop's tests, demos and benchmarks.
//
// It can stand up, in any mix:
//
//   - -estab N: N ESTABLISHED pairs (2N ESTABLISHED sockets) on one listener;
//   - -closewait N: N server-side CLOSE_WAIT sockets owned by this process
//     (their clients closed first and sit, orphaned, in FIN_WAIT2 until
//     tcp_fin_timeout);
//   - -timewait N over -timewait-ports K listeners: N client-side TIME_WAIT
//     sockets (the client closes first, the server then closes too);
//   - -full-backlog B with -full-clients C: a listener with backlog B that
//     never accepts, and C non-blocking clients: the accept queue fills to
//     B+1 (the kernel calls a queue full when its length exceeds the
//     backlog), B+1 clients are ESTABLISHED (with B+1 not yet accepted
//     ESTABLISHED server sockets in the queue) and the rest stay in SYN_SENT
//     because their SYNs are dropped.
//
// When everything stands it prints exactly one line on stdout,
//
//	READY {"pid":...,"addr":...,"estab_port":...,"sockets":{"ESTABLISHED":...}}
//
// where "sockets" counts, per kernel state name, the sockets this process
// expects the kernel to show (ss -tan) for its population. It then holds all
// sockets until stdin reaches EOF, SIGINT or SIGTERM arrives, or -hold
// expires; it closes everything and exits 0. On error it prints one line
// "sockpop: ..." on stderr and exits 1 (2 for flag errors).
//
// The soft RLIMIT_NOFILE is raised to the hard limit at start; a population
// that needs more file descriptors than that is refused at once: split it
// over several sockpop processes. TIME_WAIT sockets and closed clients hold
// no descriptor.
//
// Run it in a private network namespace to get exact counts:
//
//	ip netns add demo && ip -n demo link set lo up
//	ip netns exec demo sockpop -estab 1000 -timewait 5000 -timewait-ports 2
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxPerDestination is how many connections one (source IP, destination
// IP:port) can hold with the default ephemeral port range 32768-60999.
const maxPerDestination = 28000

// fdOverhead is the number of descriptors reserved for the runtime (stdio,
// epoll, its wakeup fd) and the odd /proc file.
const fdOverhead = 16

// maxBatch bounds how many short-lived connections (CLOSE_WAIT clients,
// TIME_WAIT pairs) are open at once while they are being built.
const maxBatch = 512

// config is the parsed command line.
type config struct {
	addr        netip.Addr
	estab       int
	closewait   int
	timewait    int
	twPorts     int
	fullBacklog int
	fullClients int
	full        bool // a full listener was asked for
	port        int
	hold        time.Duration
}

// listeners is the number of listening sockets the population needs.
func (c *config) listeners() int {
	n := 0
	if c.estab > 0 {
		n++
	}
	if c.closewait > 0 {
		n++
	}
	if c.timewait > 0 {
		n += c.twPorts
	}
	if c.full {
		n++
	}
	return n
}

// fdNeed is the number of descriptors held once the population stands
// (without the transient batches).
func (c *config) fdNeed() int {
	n := fdOverhead + c.listeners() + 2*c.estab + c.closewait
	if c.full {
		n += c.fullClients
	}
	return n
}

// Report is the JSON document printed after READY.
type Report struct {
	PID  int    `json:"pid"`
	Addr string `json:"addr"`
	// Ports of the listeners; 0 or absent when the feature was not asked for.
	EstabPort     int   `json:"estab_port,omitempty"`
	CloseWaitPort int   `json:"closewait_port,omitempty"`
	TimeWaitPorts []int `json:"timewait_ports,omitempty"`
	FullPort      int   `json:"full_port,omitempty"`
	// FullBacklog is the backlog the kernel applied to the full listener
	// (the requested one capped by net.core.somaxconn), FullQueue its
	// accept-queue length when READY was printed.
	// Both are present exactly when a full listener was asked for.
	FullBacklog *int `json:"full_backlog,omitempty"`
	FullQueue   *int `json:"full_queue,omitempty"`
	// Sockets counts, per kernel state name, the sockets this process
	// expects the kernel to show for its population.
	Sockets map[string]int `json:"sockets"`
}

// stateNames lists the states always present in Report.Sockets.
var stateNames = []string{"ESTABLISHED", "CLOSE_WAIT", "TIME_WAIT", "SYN_SENT", "SYN_RECV", "FIN_WAIT2", "LISTEN"}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process exit, returning the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, code, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sockpop: %v\n", err)
		return code
	}
	if code >= 0 {
		return code
	}
	if err := checkLimits(cfg); err != nil {
		fmt.Fprintf(stderr, "sockpop: %v\n", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Stdin is watched from the start: EOF before READY still lets the
	// population be built and announced, then ends the hold at once.
	stdinDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(stdinDone)
	}()

	p := newPopulation(cfg)
	defer p.close()
	if err := p.build(ctx); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted before READY")
		}
		fmt.Fprintf(stderr, "sockpop: %v\n", err)
		return 1
	}
	line, err := json.Marshal(p.report)
	if err != nil {
		fmt.Fprintf(stderr, "sockpop: %v\n", err)
		return 1
	}
	if _, err := fmt.Fprintf(stdout, "READY %s\n", line); err != nil {
		fmt.Fprintf(stderr, "sockpop: writing READY: %v\n", err)
		return 1
	}

	var holdC <-chan time.Time
	if cfg.hold > 0 {
		t := time.NewTimer(cfg.hold)
		defer t.Stop()
		holdC = t.C
	}
	select {
	case <-ctx.Done():
	case <-stdinDone:
	case <-holdC:
	}
	return 0
}

// parseFlags parses and checks the command line. A code >= 0 with a nil
// error means "exit now with this code" (-h).
func parseFlags(args []string, stderr io.Writer) (*config, int, error) {
	fs := flag.NewFlagSet("sockpop", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		cfg  config
		addr string
	)
	fs.StringVar(&addr, "addr", "127.0.0.1", "local `IP` for listeners and clients (127.0.0.0/8 or ::1)")
	fs.IntVar(&cfg.estab, "estab", 0, "`N` ESTABLISHED pairs (2N sockets)")
	fs.IntVar(&cfg.closewait, "closewait", 0, "`N` server-side CLOSE_WAIT sockets (plus N orphaned client FIN_WAIT2)")
	fs.IntVar(&cfg.timewait, "timewait", 0, "`N` client-side TIME_WAIT sockets")
	fs.IntVar(&cfg.twPorts, "timewait-ports", 1, "spread -timewait over `K` listeners")
	fs.IntVar(&cfg.fullBacklog, "full-backlog", 0, "backlog `B` of a listener that never accepts")
	fs.IntVar(&cfg.fullClients, "full-clients", 0, "`C` clients connecting to the never-accepting listener")
	fs.IntVar(&cfg.port, "port", 0, "base `port` for the listeners (0: kernel-chosen)")
	fs.DurationVar(&cfg.hold, "hold", 0, "exit by itself after this `duration` (0: until stdin EOF or a signal)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintf(stderr, "usage: sockpop [flags]\n\nBuilds a TCP socket population, prints READY <json>, holds it until stdin EOF or SIGTERM.\n\n")
			fs.PrintDefaults()
			return nil, 0, nil
		}
		return nil, 2, fmt.Errorf("%v (see -h)", firstLine(err.Error()))
	}
	if fs.NArg() > 0 {
		return nil, 2, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, 2, fmt.Errorf("-addr: %v", err)
	}
	if a.Zone() != "" {
		return nil, 2, fmt.Errorf("-addr %s: zones are not supported", addr)
	}
	cfg.addr = a.Unmap()
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "full-backlog" || f.Name == "full-clients" {
			cfg.full = true
		}
	})
	for _, v := range []struct {
		name string
		val  int
	}{{"estab", cfg.estab}, {"closewait", cfg.closewait}, {"timewait", cfg.timewait}, {"full-backlog", cfg.fullBacklog}, {"full-clients", cfg.fullClients}} {
		if v.val < 0 {
			return nil, 2, fmt.Errorf("-%s %d: must not be negative", v.name, v.val)
		}
	}
	if cfg.twPorts < 1 {
		return nil, 2, fmt.Errorf("-timewait-ports %d: must be at least 1", cfg.twPorts)
	}
	if cfg.hold < 0 {
		return nil, 2, fmt.Errorf("-hold %v: must not be negative", cfg.hold)
	}
	if cfg.port < 0 || cfg.port > 65535 {
		return nil, 2, fmt.Errorf("-port %d: out of range", cfg.port)
	}
	if cfg.port > 0 && cfg.port+cfg.listeners()-1 > 65535 {
		return nil, 2, fmt.Errorf("-port %d: %d listeners do not fit below 65536", cfg.port, cfg.listeners())
	}
	return &cfg, -1, nil
}

// checkLimits refuses populations the kernel or the fd limit cannot hold,
// before any socket is opened.
func checkLimits(cfg *config) error {
	if cfg.timewait > 0 {
		per := (cfg.timewait + cfg.twPorts - 1) / cfg.twPorts
		if per > maxPerDestination {
			return fmt.Errorf("-timewait %d over %d port(s) puts %d connections on one destination; one (source IP, destination IP:port) holds at most ~%d (ephemeral port range): raise -timewait-ports to at least %d",
				cfg.timewait, cfg.twPorts, per, maxPerDestination, (cfg.timewait+maxPerDestination-1)/maxPerDestination)
		}
	}
	if tw := cfg.timewait + cfg.closewait; tw > 0 {
		if max, err := readProcInt("/proc/sys/net/ipv4/tcp_max_tw_buckets"); err == nil && tw > max {
			return fmt.Errorf("%d TIME_WAIT/FIN_WAIT2 sockets exceed net.ipv4.tcp_max_tw_buckets=%d: the kernel would skip TIME_WAIT for the rest", tw, max)
		}
	}
	limit, err := raiseNoFile()
	if err != nil {
		return err
	}
	need := cfg.fdNeed()
	if cfg.closewait > 0 || cfg.timewait > 0 {
		need += 2 // at least one transient pair
	}
	if need > limit {
		return fmt.Errorf("this population needs about %d file descriptors but RLIMIT_NOFILE allows %d per process: split it over several sockpop processes (each ESTABLISHED pair takes 2, each CLOSE_WAIT 1, each full-listener client 1)", need, limit)
	}
	return nil
}

// raiseNoFile raises the soft RLIMIT_NOFILE to the hard limit and returns
// the new soft limit.
func raiseNoFile() (int, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %v", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return 0, fmt.Errorf("raising RLIMIT_NOFILE to %d: %v", rl.Max, err)
		}
	}
	const maxInt = int(^uint(0) >> 1)
	if rl.Cur > uint64(maxInt) {
		return maxInt, nil
	}
	return int(rl.Cur), nil
}

// readProcInt reads the first integer of a /proc file.
func readProcInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var v int
	if _, err := fmt.Sscan(string(b), &v); err != nil {
		return 0, fmt.Errorf("%s: %v", path, err)
	}
	return v, nil
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
