// Command tcptop shows what TCP is doing on a Linux machine: socket states,
// ephemeral-port use, accept queues, and which peers and processes hold what.
package main

import (
	"context"
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

	tea "charm.land/bubbletea/v2"
	"golang.org/x/term"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/output"
	"github.com/tcptop/tcptop/pipeline"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/themes"
	"github.com/tcptop/tcptop/ui"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// Exit statuses: a contract for scripts.
const (
	exitOK      = 0
	exitFailure = 1 // the kernel could not be read; or --check found a warning
	exitUsage   = 2 // bad flags, filter, sort key or namespace
)

// errCheckFailed is --check's verdict: a finding at warning or worse. It
// exits with status 1 and no error line (the findings are the output).
var errCheckFailed = errors.New("findings at warning or worse")

// usageError marks errors that exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		os.Exit(exitOK)
	}
	if errors.Is(err, errCheckFailed) {
		os.Exit(exitFailure)
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
	theme                        string
	ascii                        bool
	check                        bool
	thresholds                   model.Thresholds

	// --all-netns (allnetns.go)
	allNetns bool
	labels   source.LabelRoots

	// --full-every: the dump schedule of the monitor and streams (schedule.go)
	fullEvery time.Duration
}

const usageText = `Usage: tcptop [flags]

Shows what TCP is doing on this machine: states, ephemeral ports, accept
queues, and the peers and processes behind them.

With a terminal on stdout it opens a full-screen live monitor (press ? in
it for the keys); with stdout piped, or with TERM=dumb, it streams text
snapshots every --interval.

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
  --theme NAME      monitor colours: auto (from the terminal background),
                    dark, light or mono (default auto; NO_COLOR means mono)
  --ascii           draw bars and arrows with ASCII only (the default when
                    the locale is not UTF-8)
  --check           watch for a few seconds (every --interval, at least 3
                    polls and close-wait-age), print the last snapshot's
                    findings and exit 1 if any is a warning or worse (for
                    scripts and cron); with --json, print it as JSON
  --threshold N=V   tune a findings threshold, e.g. "close-wait=50" or
                    "ports-warn=0.5,syn-sent=20" (repeatable; names below)
  -A, --all-netns   every network namespace (containers, pods) at once: an
                    overview with one row per namespace (Enter opens one);
                    with --json one document per poll with a "namespaces"
                    array; works with --once and --check
  --docker-root DIR, --runtime-root DIR[,DIR], --pods-log-root DIR
                    where --all-netns reads container and pod names
                    (default /var/lib/docker; containerd's and CRI-O's
                    bundle dirs under /run; /var/log/pods)
  --full-every DUR  the monitor and streams dump every state but
                    ESTABLISHED each poll (ESTABLISHED counted by the
                    kernel, exact) and all sockets every DUR (default
                    10s; 0: every poll); a filter or a drill-down dumps
                    all every poll; what is older is marked with its age
  --version         print the version
  --help            this help

Exit status: 0 ok (findings are not errors), 1 the kernel could not be
read or --check found a warning, 2 bad usage.

Thresholds (--threshold NAME=VALUE; shares as 0.6 or 60%%):
%s`

func parseFlags(args []string, stdout io.Writer) (config, error) {
	c := config{interval: time.Second, top: 10, procRoot: "/proc", theme: "auto", thresholds: model.DefaultThresholds()}
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
	fs.StringVar(&c.theme, "theme", "auto", "")
	fs.BoolVar(&c.ascii, "ascii", false, "")
	fs.BoolVar(&c.check, "check", false, "")
	fs.Func("threshold", "", c.thresholds.Set)
	allNetnsFlags(fs, &c) // --all-netns, -A and the label roots (allnetns.go)
	scheduleFlags(fs, &c) // --full-every (schedule.go)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(stdout, usage())
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
	if c.check && c.once {
		return c, usageError{errors.New("--check and --once exclude each other: --check watches for a few seconds")}
	}
	if c.check && c.count != 0 {
		return c, usageError{errors.New("--check decides how many snapshots it takes: drop --count")}
	}
	if c.theme != "auto" {
		if _, err := themes.ParseMode(c.theme); err != nil {
			return c, usageError{fmt.Errorf("--theme: %w", err)}
		}
	}
	return c, nil
}

// usage is usageText with the thresholds filled in.
func usage() string {
	var b strings.Builder
	for _, t := range model.ThresholdNames() {
		b.WriteString("  " + t + "\n")
	}
	return fmt.Sprintf(usageText, b.String())
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

	// --all-netns: every namespace at once (allnetns.go).
	if c.allNetns {
		return runAllNetns(c, opt, stdout, stderr)
	}

	k, err := source.Open(source.Options{ProcRoot: c.procRoot, Netns: c.netns, Attribute: !c.noProcs, CloseWaitInfo: c.thresholds.CloseWait})
	if err != nil {
		if c.netns != "" && !errors.Is(err, source.ErrNoInetDiag) {
			return usageError{err}
		}
		return err
	}
	defer k.Close()

	count := c.count
	if c.once {
		count = 1
	}
	poller := pipeline.New(pipeline.Config{Reader: k, Thresholds: c.thresholds, Options: opt, FullEvery: c.scheduleFor(count)})
	if count != 1 {
		// A monitor lives for hours: trade a little GC work for memory.
		// At 100k sockets the default 100 peaked near 157 MiB, 50 at
		// ~122 MiB for the same CPU (docs/PERFORMANCE.md).
		debug.SetGCPercent(50)
	}
	if c.check {
		return check(poller, c, stdout)
	}
	if !c.json && !c.once && count == 0 && isTerminal(stdout) {
		if os.Getenv("TERM") != "dumb" {
			// Before any signal.Notify here: the monitor handles its own.
			return runTUI(poller, c)
		}
		// A dumb terminal cannot draw the monitor: stream text instead.
		fmt.Fprintln(stderr, "tcptop: TERM=dumb: printing text snapshots instead of the full-screen monitor")
	}
	if count == 1 {
		// One snapshot lives for a few dozen milliseconds: collecting its
		// garbage is wasted work (GC was ~15% of a 40k-socket --once run).
		// The memory limit keeps a huge table from running away.
		debug.SetGCPercent(-1)
		debug.SetMemoryLimit(1 << 30)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	textOpt := output.TextOptions{Top: c.top}
	if f, ok := stdout.(*os.File); ok && isTerminal(stdout) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			textOpt.Width = w
		}
	}
	write := func(s *model.Snapshot) error { return output.WriteText(stdout, s, textOpt) }
	switch {
	case c.json && c.once:
		write = func(s *model.Snapshot) error { return output.WriteJSON(stdout, s, true) }
	case c.json:
		write = func(s *model.Snapshot) error { return output.WriteNDJSON(stdout, s) }
	}
	return poller.Stream(ctx, c.interval, count, func(s *model.Snapshot) error {
		return writeError(write(s))
	})
}

// writeError marks a failed write to stdout as such (nil stays nil). A
// broken pipe stays recognisable: the stream ends quietly on it.
func writeError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("write output: %w", err)
}

// check polls every interval for as long as the rules need to judge
// (Thresholds.CheckPolls: counters get rates, CLOSE_WAIT sockets an age, a
// full queue a duration), prints the last snapshot's findings (or, with
// --json, the whole snapshot) and fails if any is a warning or worse.
func check(p *pipeline.Poller, c config, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	var last *model.Snapshot
	err := p.Stream(ctx, c.interval, c.thresholds.CheckPolls(c.interval), func(s *model.Snapshot) error {
		last = s
		return nil
	})
	if err != nil {
		return err
	}
	if last == nil || last.Watching == 0 { // interrupted
		return errors.New("interrupted before the second snapshot")
	}
	failed := output.CheckFailed(last)
	if c.json {
		err = output.WriteJSON(stdout, last, true)
	} else {
		failed, err = output.WriteCheck(stdout, last)
	}
	if err != nil && !errors.Is(err, syscall.EPIPE) {
		return writeError(err)
	}
	if failed {
		return errCheckFailed
	}
	return nil
}

// runTUI runs the full-screen monitor until q, Ctrl-C or a signal.
//
// Signals: bubbletea turns SIGINT and SIGTERM into a clean quit itself; we
// add SIGHUP (the terminal went away) by asking the program to quit. We
// must not also act on SIGINT/SIGTERM or cancel the program's context from
// a signal: bubbletea v2.0.9's signal goroutine then blocks sending its
// QuitMsg to an event loop that already ended, and shutdown waits for it
// forever (seen in TestTUISignalsRestoreTerminal).
func runTUI(poller *pipeline.Poller, c config) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := ui.New(ui.Config{
		Poller:   poller,
		Options:  poller.Options(),
		Interval: c.interval,
		Theme:    c.theme,
		NoColor:  os.Getenv("NO_COLOR") != "",
		ASCII:    c.ascii || !utf8Locale(os.Getenv),
		Location: time.Local,
		Context:  ctx,
	})
	// A monitor must be cheap: it redraws at most 15 times a second.
	p := tea.NewProgram(m, tea.WithFPS(15))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		select {
		case <-hup:
			p.Quit() // safe after the loop ends: Send gives up then
		case <-ctx.Done():
		}
	}()
	final, err := p.Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, tea.ErrInterrupted) {
		return fmt.Errorf("terminal: %w", err)
	}
	if fm, ok := final.(ui.Model); ok && fm.Snapshot() == nil {
		if err := fm.Err(); err != nil {
			return err
		}
	}
	return nil
}

// utf8Locale reports whether the locale (LC_ALL, then LC_CTYPE, then LANG,
// the first one set) asks for UTF-8.
func utf8Locale(getenv func(string) string) bool {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := getenv(k); v != "" {
			v = strings.ToLower(v)
			return strings.Contains(v, "utf-8") || strings.Contains(v, "utf8")
		}
	}
	return false
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
