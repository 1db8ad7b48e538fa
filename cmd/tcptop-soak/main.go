// Command tcptop-soak runs the live monitor for a long time against a
// namespace full of churning connections and records, at a fixed period,
// what it costs the process: resident memory, heap, goroutines. Growth in
// any of them over a long run is a leak.
//
// It creates a private network namespace tcptop-soak-<random> (lo up) and
// in it:
//
//   - a standing population from sockpop (-estab pairs, -closewait and
//     -timewait sockets), run under `ip netns exec`;
//   - a churn of -rate connections per second (internal/churn), made by
//     this process from threads that entered the namespace, closing on
//     the -close side, and, with -procs, short-lived `sleep` children that
//     hold one of those connections for 50 ms;
//
// then runs the monitor exactly as tcptop does, in this process: ui.New
// over a source.Kernel reading the namespace with process attribution,
// driven by a bubbletea Program with no input, a 120x40 window and the
// output counted and discarded (the renderer still renders every frame).
// Every -every it records a row: elapsed time, VmRSS, heap in use, heap
// objects, goroutines, the sockets of the snapshot on screen, the polls and
// their cost, the churn achieved. At the end (or on SIGINT/SIGTERM) it
// prints the rows as a markdown table, writes it to -o if given, stops
// everything and deletes the namespace. It exits 1 with a one-line error if
// anything failed: setup, a poll, the program, or the churn. With
// -heapprofile it also writes a pprof heap profile at the end.
//
// Usage (as root, from inside the tcptop module unless -sockpop is given):
//
//	go run ./cmd/tcptop-soak -duration 31m -every 1m -rate 1000 -o soak.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/tcptop/tcptop/internal/churn"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "tcptop-soak: %s\n", oneLine(err.Error()))
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	duration, every, interval time.Duration
	rate, listeners           int
	close                     churn.Close
	procs                     bool
	estab, closewait          int
	timewait                  int
	out                       string
	sockpop                   string
	heapProfile               string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("tcptop-soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var closeSide string
	fs.DurationVar(&c.duration, "duration", 30*time.Minute, "how long to run the monitor")
	fs.DurationVar(&c.every, "every", time.Minute, "record a row this often")
	fs.DurationVar(&c.interval, "interval", time.Second, "the monitor's refresh interval")
	fs.IntVar(&c.rate, "rate", 1000, "churn: connections opened and closed per `second`")
	fs.IntVar(&c.listeners, "listeners", 4, "churn: listening sockets sharing the connections")
	fs.StringVar(&closeSide, "close", "mixed", "churn: side that closes first (client, server, mixed)")
	fs.BoolVar(&c.procs, "procs", true, "churn: also spawn short-lived children holding a connection")
	fs.IntVar(&c.estab, "estab", 1000, "standing population: `N` ESTABLISHED pairs")
	fs.IntVar(&c.closewait, "closewait", 200, "standing population: `N` CLOSE_WAIT sockets")
	fs.IntVar(&c.timewait, "timewait", 2000, "standing population: `N` TIME_WAIT sockets (expire after 60s)")
	fs.StringVar(&c.out, "o", "", "also write the table to `file`")
	fs.StringVar(&c.sockpop, "sockpop", "", "sockpop binary `path` (default: go build ./cmd/sockpop)")
	fs.StringVar(&c.heapProfile, "heapprofile", "", "write a heap profile (pprof) to `file` at the end, before stopping the monitor")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.close, err = churn.ParseClose(closeSide); err != nil {
		return nil, fmt.Errorf("-close: %v", err)
	}
	switch {
	case c.duration <= 0:
		return nil, fmt.Errorf("-duration %v: must be positive", c.duration)
	case c.every <= 0 || c.every > c.duration:
		return nil, fmt.Errorf("-every %v: must be positive and at most -duration", c.every)
	case c.interval <= 0:
		return nil, fmt.Errorf("-interval %v: must be positive", c.interval)
	case c.rate < 0 || c.rate > churn.MaxRate:
		return nil, fmt.Errorf("-rate %d: want 0..%d", c.rate, churn.MaxRate)
	case c.estab < 0 || c.closewait < 0 || c.timewait < 0:
		return nil, errors.New("-estab, -closewait and -timewait must not be negative")
	}
	return &c, nil
}

// run is the whole soak; every resource it creates is released before it
// returns, whatever happened.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }

	ns, err := newNamespace(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, ns.delete()) }()
	logf("namespace %s", ns.name)

	if c.estab+c.closewait+c.timewait > 0 {
		pop, err := startPopulation(ctx, ns.name, c)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, pop.stop()) }()
		logf("sockpop %d holds %v", pop.report.PID, pop.report.Sockets)
	}

	var ch *churn.Churner
	if c.rate > 0 {
		err := ns.ns.Do(func() error {
			var err error
			ch, err = churn.Start(ctx, churn.Config{Rate: c.rate, Listeners: c.listeners, CloseFirst: c.close, Processes: c.procs})
			return err
		})
		if err != nil {
			return err
		}
		defer ch.Stop()
		logf("churn %d conn/s, close %v, processes %v", c.rate, c.close, c.procs)
	}

	mon, err := startMonitor(ns.name, c.interval)
	if err != nil {
		return err
	}
	rows, soakErr := record(ctx, c, mon, ch, logf)
	if c.heapProfile != "" {
		soakErr = errors.Join(soakErr, writeHeapProfile(c.heapProfile))
	}
	if err := mon.stop(); err != nil {
		soakErr = errors.Join(soakErr, err)
	}
	if ch != nil {
		ch.Stop()
	}

	table := renderTable(c, rows, mon, ch)
	fmt.Fprint(stdout, table)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(table), 0o644); err != nil {
			soakErr = errors.Join(soakErr, err)
		}
	}
	if soakErr != nil {
		return soakErr
	}
	return verdict(mon, ch)
}

// record samples the process every c.every until c.duration has passed,
// the context ends or the monitor stops by itself.
func record(ctx context.Context, c *config, mon *monitor, ch *churn.Churner, logf func(string, ...any)) ([]row, error) {
	t0 := time.Now()
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	end := time.NewTimer(c.duration)
	defer end.Stop()
	var rows []row
	var prev *row
	take := func() {
		r := sample(time.Since(t0), mon, ch, prev)
		rows = append(rows, r)
		prev = &rows[len(rows)-1]
		logf("%s", r.line())
	}
	for {
		select {
		case <-tick.C:
			take()
		case <-end.C:
			if len(rows) == 0 || time.Since(t0)-rows[len(rows)-1].elapsed > c.every/10 {
				take()
			}
			return rows, nil
		case <-ctx.Done():
			take()
			return rows, fmt.Errorf("interrupted after %v", time.Since(t0).Round(time.Second))
		case <-mon.done:
			return rows, fmt.Errorf("the monitor stopped by itself after %v (%v)", time.Since(t0).Round(time.Second), mon.runErr)
		}
	}
}

// verdict fails a soak that ran but saw a failed poll or a churn in
// trouble.
func verdict(mon *monitor, ch *churn.Churner) error {
	rs := mon.reader.stats()
	if rs.errors > 0 {
		return fmt.Errorf("%d of %d polls failed, last: %v", rs.errors, rs.reads, rs.lastErr)
	}
	if mon.probe.snapshots() == 0 {
		return errors.New("the monitor never showed a snapshot")
	}
	if ch != nil {
		st := ch.Stats()
		// A few connects may time out under load; more than 0.1% is a
		// churn problem worth a look.
		if st.Errors > st.Opened/1000+1 {
			return fmt.Errorf("churn: %d errors for %d connections, last: %s", st.Errors, st.Opened, st.LastError)
		}
	}
	return nil
}

// writeHeapProfile writes the live heap, after a collection, to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	return errors.Join(pprof.WriteHeapProfile(f), f.Close())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
