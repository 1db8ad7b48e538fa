// Command tcptop shows what TCP is doing on a Linux machine: socket states,
// ephemeral-port use, accept queues, and which peers and processes hold what.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/ui"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// Exit statuses: a contract for scripts.
const (
	exitOK      = 0
	exitFailure = 1 // the kernel could not be read
	exitUsage   = 2 // bad flags, filter, sort key or namespace
)

// usageError marks errors that exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		os.Exit(exitOK)
	}
	fmt.Fprintf(os.Stderr, "tcptop: %s\n", oneLine(err))
	var ue usageError
	if errors.As(err, &ue) {
		os.Exit(exitUsage)
	}
	os.Exit(exitFailure)
}

// oneLine keeps error output to a single line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

type config struct {
	once, json, noProcs, version bool
	interval                     time.Duration
	count                        int
	top                          int
	filter, sort, netns          string
	procRoot                     string
}

const usageText = `Usage: tcptop [flags]

Shows what TCP is doing on this machine: states, ephemeral ports, accept
queues, and the peers and processes behind them.

With a terminal on stdout it shows a snapshot (the full-screen monitor is
coming); with stdout piped it streams text snapshots every --interval.

Flags:
  --once            print one snapshot and exit
  --json            print JSON: one document with --once, else one per
                    interval (NDJSON) until --count or interrupted
  --interval DUR    time between snapshots (default 1s; "500ms", "2s", or "2")
  --count N         stop after N snapshots (0: until interrupted)
  --filter EXPR     peers and processes matching EXPR, e.g.
                    "port:443 proc:php state:CLOSE_WAIT 10.0.0.0/8"
                    terms: port: sport: dport: proc: pid: addr: state:
                    (AND; commas within a term mean OR)
  --sort KEY        order peers and processes by a state (TIME_WAIT,
                    CLOSE_WAIT, ...) or total (default total)
  --top N           rows per list in text output (default 10)
  --no-procs        skip process attribution (cheaper)
  --netns NAME      read another network namespace (ip netns name or path)
  --proc-root DIR   where procfs is mounted (default /proc)
  --version         print the version
  --help            this help

Exit status: 0 ok, 1 the kernel could not be read, 2 bad usage.
`

func parseFlags(args []string, stdout io.Writer) (config, error) {
	c := config{interval: time.Second, top: 10, procRoot: "/proc"}
	fs := flag.NewFlagSet("tcptop", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&c.once, "once", false, "")
	fs.BoolVar(&c.json, "json", false, "")
	fs.BoolVar(&c.noProcs, "no-procs", false, "")
	fs.BoolVar(&c.version, "version", false, "")
	fs.Func("interval", "", func(s string) error {
		d, err := parseInterval(s)
		c.interval = d
		return err
	})
	fs.IntVar(&c.count, "count", 0, "")
	fs.IntVar(&c.top, "top", 10, "")
	fs.StringVar(&c.filter, "filter", "", "")
	fs.StringVar(&c.sort, "sort", "total", "")
	fs.StringVar(&c.netns, "netns", "", "")
	fs.StringVar(&c.procRoot, "proc-root", "/proc", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(stdout, usageText)
			return c, flag.ErrHelp
		}
		return c, usageError{fmt.Errorf("%v (see tcptop --help)", err)}
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Errorf("unexpected argument %q (see tcptop --help)", fs.Arg(0))}
	}
	if c.count < 0 {
		return c, usageError{fmt.Errorf("--count must be 0 or more, not %d", c.count)}
	}
	if c.top <= 0 {
		return c, usageError{fmt.Errorf("--top must be 1 or more, not %d", c.top)}
	}
	return c, nil
}

// parseInterval takes a Go duration or a bare number of seconds.
func parseInterval(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, fmt.Errorf("%q is not a duration (e.g. 500ms, 2s)", s)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 100*time.Millisecond {
		return 0, fmt.Errorf("%q is too short (minimum 100ms)", s)
	}
	return d, nil
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func run(args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	if c.version {
		fmt.Fprintf(stdout, "tcptop %s\n", versionString())
		return nil
	}
	filter, err := model.ParseFilter(c.filter)
	if err != nil {
		return usageError{fmt.Errorf("--filter: %w", err)}
	}
	sortKey, err := model.ParseSortKey(c.sort)
	if err != nil {
		return usageError{fmt.Errorf("--sort: %w", err)}
	}
	opt := model.Options{Filter: filter, Sort: sortKey}

	k, err := source.Open(source.Options{ProcRoot: c.procRoot, Netns: c.netns, Attribute: !c.noProcs})
	if err != nil {
		if c.netns != "" && !errors.Is(err, source.ErrNoInetDiag) {
			return usageError{err}
		}
		return err
	}
	defer k.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	count := c.count
	if c.once {
		count = 1
	}
	// A terminal gets one text snapshot until the full-screen TUI lands.
	if !c.json && !c.once && isTerminal(stdout) && count == 0 {
		count = 1
	}
	if count == 1 {
		// One snapshot lives for a few dozen milliseconds: collecting its
		// garbage is wasted work (GC was ~15% of a 40k-socket --once run).
		// The memory limit keeps a huge table from running away.
		debug.SetGCPercent(-1)
		debug.SetMemoryLimit(1 << 30)
	}
	textOpt := ui.TextOptions{Top: c.top}
	if f, ok := stdout.(*os.File); ok && isTerminal(stdout) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			textOpt.Width = w
		}
	}
	emit := func(s *model.Snapshot) error {
		return ui.WriteText(stdout, s, textOpt)
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		if c.once {
			enc.SetIndent("", "  ")
		}
		emit = func(s *model.Snapshot) error { return enc.Encode(s) }
	}
	return stream(ctx, k, opt, c.interval, count, emit)
}

// stream polls every interval and emits each snapshot until count is
// reached (0: no limit) or ctx ends. Ticks that fall behind are skipped, so
// polls never overlap.
func stream(ctx context.Context, r source.Reader, opt model.Options, interval time.Duration, count int, emit func(*model.Snapshot) error) error {
	var prev *model.Snapshot
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for n := 0; count == 0 || n < count; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
			}
		}
		sample, err := r.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		snap := model.Build(sample, prev, opt)
		if err := emit(snap); err != nil {
			if errors.Is(err, syscall.EPIPE) {
				return nil
			}
			return fmt.Errorf("write output: %w", err)
		}
		prev = snap
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
