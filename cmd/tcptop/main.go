// Command tcptop shows what TCP is doing on a Linux machine: socket states,
// ephemeral-port use, accept queues, and which peers and processes hold what.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"golang.org/x/term"

	"github.com/tcptop/tcptop/exporter"
	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/output"
	"github.com/tcptop/tcptop/pipeline"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/themes"
	"github.com/tcptop/tcptop/ui"
)

// version and commit are set at build time:
//
//	go build -ldflags "-X main.version=$(git describe --tags --always --dirty) -X main.commit=$(git rev-parse --short HEAD)" ./cmd/tcptop
//
// Without them --version falls back to the module version and the VCS
// stamp Go embeds (none with -buildvcs=false), then "dev (commit unknown)".
var version, commit = "", ""

// Exit statuses: a contract for scripts (README, "Exit status").
const (
	exitOK      = 0
	exitFailure = 1 // the kernel could not be read; or --check found a warning
	exitUsage   = 2 // bad flags, filter, sort key or namespace; --listen address unusable, bad --web-config
	// exitEnv: tcptop could not work here: out of file descriptors, no
	// terminal for the monitor, output that cannot be written.
	exitEnv = 3
	// A crash (a Go runtime abort) ends with SIGABRT (status 134 in a
	// shell), never 2; a signal that a stuck read kept from ending the
	// run within stopGrace exits 128+signal.
)

// stopGrace is how long a run has to end on its own after SIGINT, SIGTERM
// or SIGHUP before tcptop exits anyway (a read stuck in the kernel cannot
// be interrupted).
const stopGrace = 900 * time.Millisecond

// maxErrLine bounds the one error line (a 130 KB filter once made a 262 KB
// line).
const maxErrLine = 400

// errCheckFailed is --check's verdict: a finding at warning or worse. It
// exits with status 1 and no error line (the findings are the output).
var errCheckFailed = errors.New("findings at warning or worse")

// usageError marks errors that exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// envError marks errors of the environment, not of the kernel or the
// command line: they exit with status 3.
type envError struct{ err error }

func (e envError) Error() string { return e.err.Error() }
func (e envError) Unwrap() error { return e.err }

func main() {
	// A crash raises SIGABRT instead of exiting 2, the "bad usage" status.
	debug.SetTraceback("crash")
	// A closed pipe is an EPIPE write error the stream ends on quietly
	// (`tcptop | head -1` exits 0), not a SIGPIPE death (141).
	signal.Ignore(syscall.SIGPIPE)
	stop := hardStop(stopGrace)
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitStatus(err, os.Stderr))
}

// exitStatus prints err (one line) and returns the status it exits with.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if errors.Is(err, errCheckFailed) {
		return exitFailure
	}
	fmt.Fprintf(stderr, "tcptop: %s\n", oneLine(err))
	var ue usageError
	var ee envError
	switch {
	case errors.As(err, &ee), outOfFDs(err):
		return exitEnv
	case errors.As(err, &ue):
		return exitUsage
	}
	return exitFailure
}

// outOfFDs reports a lack of file descriptors, whatever it failed: never
// "bad usage", never "the kernel could not be read".
func outOfFDs(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// hardStop makes sure tcptop ends within grace of SIGINT, SIGTERM or
// SIGHUP: every mode ends on its own when it can, but a read stuck in the
// kernel (a FIFO, a hung mount, a slow /proc) cannot be cancelled, so
// after grace tcptop exits 128+signal. The returned func disarms it.
func hardStop(grace time.Duration) func() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-c:
			select {
			case <-time.After(grace):
				os.Exit(128 + int(sig.(syscall.Signal)))
			case <-done:
			}
		case <-done:
		}
	}()
	return func() {
		signal.Stop(c)
		close(done)
	}
}

// oneLine keeps error output to a single bounded line, harmless to a
// terminal (an error may echo user input or names from the system).
func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > maxErrLine {
		cut := maxErrLine
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + fmt.Sprintf("… (%d bytes cut)", len(s)-cut)
	}
	return format.Sanitize(s)
}

type config struct {
	once, json, noProcs, version bool
	interval                     time.Duration
	count                        int
	top                          int
	filter, sort, netns          string
	ebpf, btf                    string
	procRoot                     string
	theme                        string
	generate                     string
	ascii                        bool
	check                        bool
	thresholds                   model.Thresholds

	// --all-netns (allnetns.go)
	allNetns          bool
	labels            source.LabelRoots
	listen, webConfig string
	listenSet         bool
	// --sockets, --info, --kill, --read-only (actions.go)
	act actionFlags
	// --threshold was given (a replay then overrides the recording's)
	thresholdsSet bool
	// --record, --replay and the flight recorder (record.go)
	rec recordFlags
	// --full-every: the dump schedule of the monitor and streams (schedule.go)
	fullEvery time.Duration
	// --full-quiet: how old the full dump may get while the ESTABLISHED
	// sockets provably did not change (schedule.go)
	fullQuiet time.Duration
}

const usageText = `Usage: tcptop [flags]

Shows what TCP is doing on this machine: states, ephemeral ports, accept
queues, and the peers and processes behind them.

With a terminal on stdout it opens a full-screen live monitor (press ? in
it for the keys); with stdout piped, or with TERM=dumb, it streams text
snapshots every --interval.

Flags:
%s

Exit status: 0 ok (findings are not errors), 1 the kernel could not be
read or --check found a warning, 2 bad usage (with --listen: the address
cannot be listened on, or the web config is bad), 3 tcptop could not work
here (out of file descriptors, no terminal, output not writable).

Thresholds (--threshold NAME=VALUE; shares as 0.6 or 60%%):
%s`

func parseFlags(args []string, stdout io.Writer) (config, error) {
	c := config{interval: time.Second, top: 10, procRoot: "/proc", theme: "auto", thresholds: model.DefaultThresholds(), fullEvery: defaultFullEvery, fullQuiet: defaultFullQuiet}
	fs := newFlagSet(&c)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if _, werr := io.WriteString(stdout, usage()); werr != nil {
				return c, writeError(werr)
			}
			return c, flag.ErrHelp
		}
		return c, usageError{fmt.Errorf("%v (see tcptop --help)", err)}
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Errorf("unexpected argument %s (see tcptop --help)", quoteCut(fs.Arg(0)))}
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
	if c.listenSet {
		addr, err := exporter.ListenAddress(c.listen)
		if err != nil {
			return c, usageError{err}
		}
		c.listen = addr
		for _, x := range []struct {
			on   bool
			name string
		}{{c.once, "--once"}, {c.json, "--json"}, {c.check, "--check"}, {c.count != 0, "--count"}} {
			if x.on {
				return c, usageError{fmt.Errorf("--listen runs until stopped and prints nothing: drop %s", x.name)}
			}
		}
	} else if c.webConfig != "" {
		return c, usageError{errors.New("--web-config goes with --listen")}
	}
	if err := c.rec.check(c); err != nil {
		return c, usageError{err}
	}
	if c.theme != "auto" {
		if _, err := themes.ParseMode(c.theme); err != nil {
			return c, usageError{fmt.Errorf("--theme: %w", err)}
		}
	}
	return c, c.act.check(&c)
}

// newFlagSet registers every flag with a new FlagSet, storing into c.
func newFlagSet(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("tcptop", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range flagTable {
		if f.bind != nil {
			f.bind(fs, c)
		}
	}
	return fs
}

// usage is usageText with the flags (flagTable) and the thresholds
// filled in.
func usage() string {
	var b strings.Builder
	for _, t := range model.ThresholdNames() {
		b.WriteString("  " + t + "\n")
	}
	return fmt.Sprintf(usageText, strings.TrimSuffix(flagHelp(), "\n"), b.String())
}

// maxInterval bounds --interval: beyond a day a "monitor" is a cron job.
const maxInterval = 24 * time.Hour

// parseInterval takes a Go duration or a bare number of seconds.
func parseInterval(s string) (time.Duration, error) {
	q := quoteCut(s)
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil && !errors.Is(ferr, strconv.ErrRange) || math.IsNaN(f) {
			return 0, fmt.Errorf("%s is not a duration (e.g. 500ms, 2s)", q)
		}
		if f > maxInterval.Seconds() {
			return 0, fmt.Errorf("%s is too long (maximum 24h)", q)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 100*time.Millisecond {
		return 0, fmt.Errorf("%s is too short (minimum 100ms)", q)
	}
	if d > maxInterval {
		return 0, fmt.Errorf("%s is too long (maximum 24h)", q)
	}
	return d, nil
}

// quoteCut quotes user input for an error message, at most 64 bytes of it.
func quoteCut(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// versionString is "VERSION (commit COMMIT)": from -ldflags, else from
// the build info Go embeds, else "dev (commit unknown)".
func versionString() string {
	v, c := version, commit
	bi, ok := debug.ReadBuildInfo()
	if v == "" && ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if c == "" && ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				c = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	return v + " (commit " + c + ")"
}

func run(args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	if c.version {
		if _, err := fmt.Fprintf(stdout, "tcptop %s\n", versionString()); err != nil {
			return writeError(err)
		}
		return nil
	}
	if c.generate != "" {
		return generate(stdout, c.generate)
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
	if c.rec.replay != "" {
		return replay(c, opt, stdout, stderr)
	}
	if c.act.killSet {
		return runKill(c, stdout, stderr)
	}
	if c.listenSet {
		// Before touching the kernel: a bad file is a usage error.
		if err := exporter.ValidateWebConfig(c.webConfig); err != nil {
			return usageError{err}
		}
	}

	// --all-netns: every namespace at once (allnetns.go).
	if c.allNetns {
		return runAllNetns(c, opt, stdout, stderr)
	}

	tracer, closeTracer, err := openTracer(c.ebpf, c.btf, c.onePoll())
	if err != nil {
		return err
	}
	defer closeTracer()
	count := c.count
	if c.once {
		count = 1
	}
	k, err := source.Open(source.Options{ProcRoot: c.procRoot, Netns: c.netns, Attribute: !c.noProcs, CloseWaitInfo: c.thresholds.CloseWait, Tracer: tracer, Ext: c.act.ext(),
		OneRead: c.onePoll(), Scheduled: c.scheduleFor(count) > 0})
	if err != nil {
		if c.netns != "" && !errors.Is(err, source.ErrNoInetDiag) {
			return usageError{err}
		}
		return err
	}
	defer k.Close()

	tee, err := c.rec.tee(k, c, count)
	if err != nil {
		return err
	}
	defer tee.close(stderr)
	poller := pipeline.New(pipeline.Config{Reader: scheduled(k, tee), Thresholds: c.thresholds, Options: opt, FullEvery: c.scheduleFor(count), FullQuiet: c.fullQuiet})
	if count != 1 {
		// A monitor lives for hours: trade a little GC work for memory.
		// At 100k sockets the default 100 peaked near 157 MiB, 50 at
		// ~122 MiB for the same CPU (docs/PERFORMANCE.md).
		debug.SetGCPercent(50)
	}
	if c.check {
		return check(poller, c, stdout)
	}
	if c.listenSet {
		return serve(exporter.Config{Poller: poller}, c, stderr)
	}
	if !c.json && !c.once && count == 0 && isTerminal(stdout) {
		if os.Getenv("TERM") != "dumb" {
			// Before any signal.Notify here: the monitor handles its own.
			return runTUI(poller, opt, c, k, tee.flightFunc(c))
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
	defer tee.onSIGUSR1(c, stderr)()
	textOpt := output.TextOptions{Top: c.top}
	if f, ok := stdout.(*os.File); ok && isTerminal(stdout) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			textOpt.Width = w
		}
	}
	so := c.act.socketsOpt
	write := func(s *model.Snapshot) error {
		if err := output.WriteText(stdout, s, textOpt); err != nil || !so.Sockets {
			return err
		}
		return output.WriteSocketsText(stdout, s, so)
	}
	switch {
	case c.json && c.once:
		write = func(s *model.Snapshot) error { return output.WriteJSONSockets(stdout, s, true, so) }
	case c.json:
		write = func(s *model.Snapshot) error { return output.WriteJSONSockets(stdout, s, false, so) }
	}
	return poller.Stream(ctx, c.interval, count, func(s *model.Snapshot) error {
		return writeError(write(s))
	})
}

// writeError marks a failed write to stdout as such (nil stays nil): the
// environment's failure (status 3). A broken pipe stays recognisable: the
// stream ends quietly on it.
func writeError(err error) error {
	if err == nil {
		return nil
	}
	return envError{fmt.Errorf("write output: %w", err)}
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

// serve runs the exporter over cfg's Poller or AllPoller: it listens on
// c.listen (a failure there is a usage error: the address is in use or
// cannot be bound), polls every c.interval and serves /metrics until
// SIGINT, SIGTERM or SIGHUP. Logs go to stderr; a poll error is logged and
// served as tcptop_poll_errors_total, never ends the process.
func serve(cfg exporter.Config, c config, stderr io.Writer) error {
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return usageError{fmt.Errorf("--listen: %w", err)}
	}
	defer ln.Close()
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Top, cfg.Version, cfg.Logger = c.top, versionString(), logger
	e := exporter.New(cfg)
	h, err := e.Handler()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	polled := make(chan error, 1)
	go func() { polled <- e.Run(ctx, c.interval) }()
	scheme := "http"
	if c.webConfig != "" {
		scheme = "http(s)"
	}
	logger.Info("serving metrics", "url", scheme+"://"+ln.Addr().String()+"/metrics", "interval", c.interval)
	err = exporter.Serve(ctx, ln, h, c.webConfig, logger)
	cancel()
	<-polled
	return err
}

// runTUI runs the full-screen monitor until q, Ctrl-C or a signal.
//
// Signals: bubbletea turns SIGINT and SIGTERM into a clean quit itself; we
// add SIGHUP (the terminal went away) by asking the program to quit. We
// must not also act on SIGINT/SIGTERM or cancel the program's context from
// a signal: bubbletea v2.0.9's signal goroutine then blocks sending its
// QuitMsg to an event loop that already ended, and shutdown waits for it
// forever (seen in TestTUISignalsRestoreTerminal).
func runTUI(poller ui.Poller, opt model.Options, c config, k *source.Kernel, flight func() (string, error)) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := ui.New(ui.Config{
		Poller:   poller,
		Options:  opt,
		Interval: c.interval,
		Theme:    c.theme,
		NoColor:  os.Getenv("NO_COLOR") != "",
		ASCII:    c.ascii || !utf8Locale(os.Getenv),
		Location: time.Local,
		Context:  ctx,
		Actions:  c.act.uiActions(k, c.procRoot),
		// Every action is off under --read-only.
		AllowActions: !c.act.readOnly,
		Flight:       flight,
		// What the flight recorder keeps, for the help overlay.
		FlightWindow: "last " + windowString(c.rec.flightWindow),
	})
	// A monitor must be cheap: it redraws at most 15 times a second.
	p := tea.NewProgram(m, tea.WithFPS(15), tea.WithFilter(ui.BoundScreen))
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
	if flight != nil {
		// SIGUSR1 writes the flight recorder, as the w key does.
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
		go func() {
			for {
				select {
				case <-usr1:
					path, err := flight()
					if err != nil {
						p.Send(ui.Notice(oneLine(err)))
					} else {
						p.Send(ui.Notice("flight recorder written to " + path))
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	final, err := p.Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, tea.ErrInterrupted) {
		// No controlling terminal (setsid, a cron job with a tty on
		// stdout): the environment's failure, not the kernel's.
		return envError{fmt.Errorf("terminal: %w", err)}
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
