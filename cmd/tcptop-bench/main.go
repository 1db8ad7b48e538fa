// Command tcptop-bench measures tcptop against ss in the same run, on the
// same real socket population, inside a private network namespace.
//
// It creates the namespace tcptop-bench-<pid> (lo up), starts sockpop holder
// processes in it until about -sockets TCP sockets stand:
//
//   - ~75% ESTABLISHED (pairs, at most 8000 pairs per holder, each holder on
//     its own 127.0.1.x address);
//   - ~5% CLOSE_WAIT and, as their peers, ~5% FIN_WAIT2 (127.0.2.x);
//   - one listener whose accept queue is full, with its ESTABLISHED and
//     SYN_SENT clients (127.0.3.1);
//   - ~15% TIME_WAIT, created last, right before measuring, spread over
//     several holders (127.0.4.x) and ports so that no destination holds
//     more than 10000 of them;
//
// checks the population with ss -tan, then runs, alternating in rounds
// (after one unmeasured warm-up round), `ss -tan`, `ss -tanp`,
// `tcptop --once --json --no-procs`, `tcptop --once --json` and `true` (the
// cost of `ip netns exec` itself), each under `ip netns exec NS` with stdout
// to /dev/null, recording wall time and the child's user and system CPU
// time. It prints a markdown report (medians, ratios to ss, socket counts
// per state before and after measuring, since TIME_WAIT sockets expire
// after 60 s, kernel, date, command line) and tears everything down, also
// on error or Ctrl-C: holders get EOF on stdin, then SIGKILL after 10 s,
// and the namespace is deleted.
//
// With -tui DURATION it first measures tcptop left running, before the
// rounds: the full-screen monitor (`tcptop --netns NS --interval 1s`) in a
// detached 120x40 tmux session on its own socket, the JSON stream
// (`tcptop --json --interval 1s --netns NS > /dev/null`) and `ss -tan` run
// once a second, side by side for DURATION with their polls a third of a
// second apart, sampling each tcptop's utime+stime (/proc/PID/stat) and
// VmRSS (/proc/PID/status) every second; then it quits the monitor with
// `q` and the stream with SIGINT, checks both exited with status 0, and
// reports CPU as a share of one core and peak RSS, next to ss's rusage and
// the tmux server's CPU. Orphaned FIN_WAIT2 sockets expire after 60 s like
// TIME_WAIT ones, so with -tui the CLOSE_WAIT holders start with the
// TIME_WAIT holders right before the window, and if rounds follow (-runs,
// which may then be 0) and those sockets are older than 20 s, both sets of
// holders are restarted once their sockets are gone.
//
// With -sizes it does all of this for several populations in one run, one
// namespace each (tcptop-bench-<pid>-<n>), and prints first a summary across
// sizes: medians of wall and CPU, ratios to ss -tan and ss -tanp, tcptop's
// user CPU against the kernel's CPU for the dump alone (measured in-process,
// probe.go), the cost per socket relative to the smallest size, the steady
// state of the sizes in -tui-sizes, and issue 5's targets. ss -tanp runs in
// the first -tanp-runs rounds only (12 s a run at 200k sockets). In each
// namespace tcp_syn_retries is 127 and tcp_tw_reuse 0, so that the
// population stays exact, and the decaying sockets are re-created between
// rounds before they would expire. -churn N adds N connections opened and
// closed per second (internal/churn) while measuring.
//
// Usage (as root, from inside the tcptop module unless -tcptop and -sockpop
// are given):
//
//	go run ./cmd/tcptop-bench -sizes 10000,50000,100000,200000 -runs 11 -tanp-runs 5 -tui 60s -tui-sizes 100000,200000 -o perf.md
//	go run ./cmd/tcptop-bench -sockets 40000 -runs 15 -o bench.md
//	go run ./cmd/tcptop-bench -sockets 40000 -runs 5 -tui 60s
package main

import (
	"github.com/tcptop/tcptop/internal/churn"
	"github.com/tcptop/tcptop/source"

	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	sockets  int
	sizes    []int // populations to measure, in order; [sockets] without -sizes
	runs     int
	tanpRuns int   // rounds that also run ss -tanp (it takes seconds at 100k+)
	tuiSizes []int // sizes that get the live window (-tui)
	churn    int   // connections opened and closed per second during the measurements
	tcptop   string
	sockpop  string
	keep     bool
	out      string
	tui      time.Duration // live window; 0: no live measurement
	tuiIntv  time.Duration // the live run's --interval
	allNetns int           // -all-netns: namespaces of the every-namespace mode (allnetns.go)
	mix      mix           // -mix: the shares of the population's states
}

// refreshAge is how old the decaying sockets (TIME_WAIT, orphaned
// FIN_WAIT2: they live 60 s) may be after the live window for the rounds to
// use them; older ones are re-created.
const refreshAge = 20 * time.Second

// maxDecayAge is how old the decaying sockets may be, counted from the
// start of their holders, at the end of a round (its length estimated
// from the previous round): before a round that would end later, they are
// re-created. The margin to their 60 s covers a round slower than the
// last.
const maxDecayAge = 45 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			if ue.err != nil {
				fmt.Fprintf(os.Stderr, "tcptop-bench: %v\n", ue.err)
			}
			stop()
			os.Exit(ue.code)
		}
		fmt.Fprintf(os.Stderr, "tcptop-bench: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// usageError is a flag problem (exit code 2) or -h (exit code 0).
type usageError struct {
	code int
	err  error
}

func (u usageError) Error() string {
	if u.err == nil {
		return "help requested"
	}
	return u.err.Error()
}

// parseFlags parses the command line.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("tcptop-bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o options
	fs.IntVar(&o.sockets, "sockets", 40000, "target number of TCP sockets in the namespace")
	sizes := fs.String("sizes", "", "comma-separated `list` of populations to measure one after the other in this run (e.g. 10000,50000,100000,200000); overrides -sockets")
	fs.IntVar(&o.runs, "runs", 15, "measured rounds (each runs every command once)")
	fs.IntVar(&o.tanpRuns, "tanp-runs", 5, "how many of the rounds also run ss -tanp (seconds per run at 100k sockets); 0: all")
	fs.IntVar(&o.churn, "churn", 0, "also open and close this many loopback connections per `second` in the namespace while measuring (internal/churn, on "+churnAddr+"; 0: none)")
	tuiSizes := fs.String("tui-sizes", "", "comma-separated `list` of the sizes that get the -tui window (default: 100000 if measured, else the largest)")
	fs.StringVar(&o.tcptop, "tcptop", "", "tcptop binary `path` (default: go build ./cmd/tcptop)")
	fs.StringVar(&o.sockpop, "sockpop", "", "sockpop binary `path` (default: go build ./cmd/sockpop)")
	fs.BoolVar(&o.keep, "keep", false, "leave the namespace and holders running; print how to remove them")
	fs.StringVar(&o.out, "o", "", "also write the markdown report to this `file`")
	fs.DurationVar(&o.tui, "tui", 0, "first measure the live monitor, the JSON stream and ss -tan every interval side by side for this `duration` (e.g. 60s; needs tmux)")
	fs.IntVar(&o.allNetns, "all-netns", 0, "instead of the sizes: spread -sockets over this many `namespaces` (one holder each) and measure the overview (tcptop -A, monitor and stream) against ss -tan once per interval in each namespace for -tui (default 45s)")
	fs.DurationVar(&o.tuiIntv, "tui-interval", time.Second, "refresh `interval` of the -tui run")
	mixName := fs.String("mix", mixes[0].name, "the population's `mix` of states: standard (~75% ESTABLISHED, 15% TIME_WAIT, 5% CLOSE_WAIT and as many FIN_WAIT2) or issue18 (~90% ESTABLISHED, 9% TIME_WAIT, 0.5% CLOSE_WAIT and as many FIN_WAIT2)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintf(stderr, "usage: tcptop-bench [flags]  (as root)\n\nBenchmarks tcptop against ss on a real socket population in a private network namespace.\n\n")
			fs.PrintDefaults()
			return nil, usageError{code: 0}
		}
		return nil, usageError{code: 2, err: fmt.Errorf("%v (see -h)", err)}
	}
	if fs.NArg() > 0 {
		return nil, usageError{code: 2, err: fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))}
	}
	var ok bool
	if o.mix, ok = mixNamed(*mixName); !ok {
		return nil, usageError{code: 2, err: fmt.Errorf("-mix %q: want standard or issue18", *mixName)}
	}
	o.sizes = []int{o.sockets}
	if *sizes != "" {
		var err error
		if o.sizes, err = parseSizes(*sizes); err != nil {
			return nil, usageError{code: 2, err: fmt.Errorf("-sizes: %v", err)}
		}
	}
	for _, n := range o.sizes {
		if n < minSockets {
			return nil, usageError{code: 2, err: fmt.Errorf("%d sockets: need at least %d", n, minSockets)}
		}
	}
	if o.churn < 0 || o.churn > churn.MaxRate {
		return nil, usageError{code: 2, err: fmt.Errorf("-churn %d: want 0..%d connections/s", o.churn, churn.MaxRate)}
	}
	if o.tanpRuns < 0 {
		return nil, usageError{code: 2, err: fmt.Errorf("-tanp-runs %d: need 0 or more", o.tanpRuns)}
	}
	if o.tanpRuns == 0 || o.tanpRuns > o.runs {
		o.tanpRuns = o.runs
	}
	if *tuiSizes != "" {
		var err error
		if o.tuiSizes, err = parseSizes(*tuiSizes); err != nil {
			return nil, usageError{code: 2, err: fmt.Errorf("-tui-sizes: %v", err)}
		}
		for _, n := range o.tuiSizes {
			if !slices.Contains(o.sizes, n) {
				return nil, usageError{code: 2, err: fmt.Errorf("-tui-sizes: %d is not among the sizes measured", n)}
			}
		}
	} else if slices.Contains(o.sizes, 100000) {
		o.tuiSizes = []int{100000}
	} else {
		o.tuiSizes = []int{slices.Max(o.sizes)}
	}
	if o.allNetns < 0 || o.allNetns > 1000 || o.allNetns > 0 && o.sockets/o.allNetns < minSockets {
		return nil, usageError{code: 2, err: fmt.Errorf("-all-netns %d: want 1..1000 namespaces of at least %d sockets each", o.allNetns, minSockets)}
	}
	if o.allNetns > 0 && o.tui == 0 {
		o.tui = 45 * time.Second
	}
	if o.runs < 1 && (o.tui == 0 || o.runs < 0) {
		return nil, usageError{code: 2, err: fmt.Errorf("-runs %d: need at least 1 (0 only with -tui)", o.runs)}
	}
	if o.tuiIntv < 100*time.Millisecond {
		return nil, usageError{code: 2, err: fmt.Errorf("-tui-interval %v: need at least 100ms", o.tuiIntv)}
	}
	if o.tui != 0 && o.tui < 2*o.tuiIntv {
		return nil, usageError{code: 2, err: fmt.Errorf("-tui %v: need at least 2 intervals (%v)", o.tui, 2*o.tuiIntv)}
	}
	return &o, nil
}

// result is what one size measured, for the report and for tests.
type result struct {
	sockets  int // requested
	netns    string
	holders  []*holder // running
	retired  []*holder // stopped before the end (re-created decaying sockets)
	refresh  bool      // the decaying sockets were re-created after the live window
	live     *liveResult
	expected map[string]int // sum of the holders' READY counts
	before   map[string]int // ss -tan right before measuring
	after    map[string]int // ss -tan right after measuring
	epochs   []epoch        // the rounds between two re-creations of the decaying sockets
	churn    *churn.Stats   // what the churn did, with -churn
	// otherSockets is the machine's TCP sockets (all namespaces) before
	// the run: every dump walks them too.
	otherSockets int
	rows         []row
	measured     time.Duration // measuring time, warm-up included
	twAge        time.Duration // age of the TIME_WAIT sockets when the recount was done
	markdown     string
}

// epoch is a run of rounds on one set of decaying sockets.
type epoch struct {
	rounds        int
	before, after int // sockets ss -tan counted at its start and end
}

// run is the whole benchmark; it always tears down what it created unless
// -keep was given. It returns one result per size measured.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (results []*result, err error) {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("interrupted (%v)", err)
		}
	}()
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root (ip netns add / ip netns exec)")
	}
	for _, tool := range []string{"ip", "ss"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("needs %s (iproute2): %v", tool, err)
		}
	}
	if opts.tui > 0 {
		if _, err := exec.LookPath("tmux"); err != nil {
			return nil, fmt.Errorf("-tui needs tmux: %v", err)
		}
	}
	tmp, err := os.MkdirTemp("", "tcptop-bench-")
	if err != nil {
		return nil, err
	}
	if !opts.keep {
		defer os.RemoveAll(tmp)
	}
	if opts.sockpop == "" {
		if opts.sockpop, err = goBuild(ctx, "./cmd/sockpop", filepath.Join(tmp, "sockpop")); err != nil {
			return nil, fmt.Errorf("%v (or pass -sockpop PATH)", err)
		}
	}
	tcptopDesc := opts.tcptop
	if opts.tcptop == "" {
		tcptopDesc = "./cmd/tcptop built by go build"
		if opts.tcptop, err = goBuild(ctx, "./cmd/tcptop", filepath.Join(tmp, "tcptop")); err != nil {
			return nil, fmt.Errorf("%v (or pass -tcptop PATH)", err)
		}
	}
	for _, p := range []*string{&opts.sockpop, &opts.tcptop} {
		if *p, err = exec.LookPath(*p); err != nil {
			return nil, err
		}
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, err
		}
	}

	started := time.Now()
	if opts.allNetns > 0 {
		res, err := runAllNetns(ctx, opts, tmp, tcptopDesc, args, stderr)
		if res != nil && res.markdown != "" {
			fmt.Fprint(stdout, res.markdown)
			if opts.out != "" {
				if werr := os.WriteFile(opts.out, []byte(res.markdown), 0o644); werr != nil && err == nil {
					err = werr
				}
			}
		}
		return nil, err
	}
	// The kernel keeps the sockets of every namespace in one hash table,
	// and each dump walks all of it: the sockets of a namespace just
	// deleted (freed asynchronously) would slow the next size down.
	baseline, _ := tcpAllocated()
	for i, n := range opts.sizes {
		ns := fmt.Sprintf("tcptop-bench-%d", os.Getpid())
		if len(opts.sizes) > 1 {
			ns = fmt.Sprintf("tcptop-bench-%d-%d", os.Getpid(), i+1)
		}
		if i > 0 && !opts.keep {
			waitAllocated(ctx, baseline+1000, 60*time.Second)
		}
		res, err := runSize(ctx, opts, n, ns, tmp, stderr)
		if res != nil {
			res.otherSockets = baseline
			results = append(results, res)
		}
		if err != nil {
			return results, fmt.Errorf("%d sockets: %w", n, err)
		}
	}

	var b strings.Builder
	b.WriteString(summary(opts, tcptopDesc, results, args, time.Since(started)))
	for _, res := range results {
		b.WriteString("\n")
		b.WriteString(res.markdown)
	}
	md := b.String()
	fmt.Fprint(stdout, md)
	if opts.out != "" {
		if err := os.WriteFile(opts.out, []byte(md), 0o644); err != nil {
			return results, err
		}
	}
	return results, nil
}

// runSize builds a population of n sockets in a new namespace ns,
// measures it and tears it down (unless -keep).
func runSize(ctx context.Context, opts *options, n int, ns, tmp string, stderr io.Writer) (res *result, err error) {
	pl := makePlanMix(n, opts.mix)
	// The CLOSE_WAIT holders' orphaned FIN_WAIT2 peers expire after 60 s
	// like TIME_WAIT: both are the decaying part, started last and
	// re-created when the rounds outlast them.
	phase1, phase2 := livePhases(pl)
	withTUI := opts.tui > 0 && slices.Contains(opts.tuiSizes, n)
	res = &result{sockets: n, netns: ns}
	if err := createNetns(ctx, res.netns); err != nil {
		return nil, err
	}
	defer func() {
		if opts.keep {
			pids := make([]string, 0, len(res.holders))
			for _, h := range res.holders {
				if h.cmd.Process != nil {
					pids = append(pids, fmt.Sprint(h.cmd.Process.Pid))
				}
			}
			fmt.Fprintf(stderr, "tcptop-bench: kept network namespace %s with %d sockpop holder(s) (logs in %s)\n", res.netns, len(pids), tmp)
			fmt.Fprintf(stderr, "tcptop-bench: to remove: kill %s; ip netns del %s\n", strings.Join(pids, " "), res.netns)
			return
		}
		if terr := teardown(res.netns, append(res.holders, res.retired...)); terr != nil {
			if err == nil {
				err = terr
			} else {
				fmt.Fprintf(stderr, "tcptop-bench: teardown: %v\n", terr)
			}
		}
	}()

	// Everything but the decaying sockets first; those last.
	log := func(format string, a ...any) {
		fmt.Fprintf(stderr, "tcptop-bench: %d: "+format+"\n", append([]any{n}, a...)...)
	}
	start := time.Now()
	hs, err := startHolders(ctx, res.netns, opts.sockpop, phase1, tmp, opts.keep)
	res.holders = append(res.holders, hs...)
	if err != nil {
		return res, err
	}
	log("%d holder(s) ready in %v", len(hs), time.Since(start).Round(time.Millisecond))
	twStart := time.Now()
	hs, err = startHolders(ctx, res.netns, opts.sockpop, phase2, tmp, opts.keep)
	res.holders = append(res.holders, hs...)
	if err != nil {
		return res, err
	}
	twReady := time.Now()
	log("%d CLOSE_WAIT/TIME_WAIT holder(s) ready in %v", len(hs), twReady.Sub(twStart).Round(time.Millisecond))

	res.expected = announced(res.holders)
	// Wait for the population to stand: under load the last closes may
	// still be in flight (FIN_WAIT1, LAST_ACK) when the holders announce
	// themselves, and ss would count them in another state or not at all.
	if res.before, err = waitCounts(ctx, res.netns, res.expected, 30*time.Second); err != nil {
		if ctx.Err() != nil {
			return res, err
		}
		log("%v; going on", err)
	}
	log("ss -tan counts %d sockets (holders expect %d)", total(res.before), total(res.expected))
	if opts.churn > 0 {
		c, err := startChurn(ctx, res.netns, opts.churn)
		if err != nil {
			return res, err
		}
		log("churn: %d connections/s on %s", opts.churn, churnAddr)
		defer func() {
			c.Stop()
			st := c.Stats()
			res.churn = &st
			res.markdown += fmt.Sprintf("\nChurn during the measurements: %d connections/s asked on %s, %.0f achieved (%d opened, %d errors, %d skipped over %.1f s); the socket counts above leave its sockets out.\n",
				opts.churn, churnAddr, st.Rate(), st.Opened, st.Errors, st.Skipped, st.Elapsed.Seconds())
		}()
	}

	// recreate stops the decaying holders, waits until their sockets are
	// gone and starts them again.
	recreate := func() error {
		old := slices.Clone(res.holders[len(res.holders)-len(phase2):])
		res.holders = slices.Clone(res.holders[:len(res.holders)-len(phase2)])
		res.retired = append(res.retired, old...)
		log("stopping %d holder(s) and waiting for their sockets to expire, to re-create them", len(old))
		if err := stopHolders(old); err != nil {
			return err
		}
		if _, err := waitCounts(ctx, res.netns, announced(res.holders), 90*time.Second); err != nil {
			return err
		}
		twStart = time.Now()
		hs, err := startHolders(ctx, res.netns, opts.sockpop, phase2, tmp, opts.keep)
		res.holders = append(res.holders, hs...)
		if err != nil {
			return err
		}
		twReady = time.Now()
		log("%d holder(s) re-created in %v", len(hs), twReady.Sub(twStart).Round(time.Millisecond))
		res.expected = announced(res.holders)
		return nil
	}

	if withTUI {
		res.live, err = runLive(ctx, liveConfig{ns: res.netns, tcptop: opts.tcptop, dir: tmp, duration: opts.tui, interval: opts.tuiIntv, churn: opts.churn, log: log})
		if err != nil {
			return res, fmt.Errorf("-tui: %w", err)
		}
		res.live.decayAge = res.live.start.Add(opts.tui).Sub(twStart)
		res.live.before = res.before
		if res.live.after, err = countStates(ctx, res.netns); err != nil {
			return res, err
		}
		for _, r := range res.live.rows {
			log("live: %s: %s%% of one core, peak RSS %s MiB", r.label, pct(r.cpuShare()), mib(max(r.peakRSS, r.hwm)))
		}
		if opts.runs > 0 && time.Since(twStart) > refreshAge {
			// The rounds need the whole population.
			res.refresh = true
			if err := recreate(); err != nil {
				return res, err
			}
		}
		if opts.runs > 0 {
			if res.before, err = countStates(ctx, res.netns); err != nil {
				return res, err
			}
			log("ss -tan counts %d sockets (holders expect %d)", total(res.before), total(res.expected))
		}
	}
	if opts.runs > 0 {
		cmds, closeProbe, err := benchCommands(opts.tcptop, res.netns, opts.tanpRuns)
		if err != nil {
			return res, err
		}
		defer closeProbe()
		mstart := time.Now()
		cur := &epoch{before: total(res.before)}
		// Before each round: if it would end after the decaying sockets
		// are maxDecayAge old, close the epoch and re-create them.
		beforeRound := func(r int, est time.Duration) error {
			if r == 0 || time.Since(twStart)+est <= maxDecayAge {
				cur.rounds++
				return nil
			}
			counts, err := countStates(ctx, res.netns)
			if err != nil {
				return err
			}
			cur.after = total(counts)
			res.epochs = append(res.epochs, *cur)
			if err := recreate(); err != nil {
				return err
			}
			if counts, err = countStates(ctx, res.netns); err != nil {
				return err
			}
			log("ss -tan counts %d sockets (holders expect %d)", total(counts), total(res.expected))
			cur = &epoch{before: total(counts), rounds: 1}
			return nil
		}
		res.rows, err = measure(ctx, res.netns, cmds, opts.runs, beforeRound, func(r int) { log("round %d/%d", r, opts.runs) })
		res.measured = time.Since(mstart)
		if err != nil {
			return res, err
		}
		if res.after, err = countStates(ctx, res.netns); err != nil {
			return res, err
		}
		cur.after = total(res.after)
		res.epochs = append(res.epochs, *cur)
		res.twAge = time.Since(twReady)
	}
	res.markdown = report(opts, n, res)
	return res, nil
}

// tcpAllocated returns the machine's full TCP sockets, in every
// namespace ("alloc" of the TCP line of /proc/net/sockstat).
func tcpAllocated() (int, error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			if f[i] == "alloc" {
				return strconv.Atoi(f[i+1])
			}
		}
	}
	return 0, errors.New("/proc/net/sockstat: no TCP alloc")
}

// waitAllocated waits, at most timeout, until the machine holds at most
// limit full TCP sockets.
func waitAllocated(ctx context.Context, limit int, timeout time.Duration) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		if n, err := tcpAllocated(); err != nil || n <= limit {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// churnAddr is the address the -churn connections use; the population's
// counts leave it out.
const churnAddr = "127.0.9.1"

// startChurn starts a paced churn of rate connections per second inside
// the namespace ns, closing client and server side first in turn.
func startChurn(ctx context.Context, ns string, rate int) (*churn.Churner, error) {
	n, err := source.OpenNamespace(ns)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	var c *churn.Churner
	err = n.Do(func() (err error) {
		c, err = churn.Start(ctx, churn.Config{Addr: churnAddr, Rate: rate, Listeners: 8, CloseFirst: churn.CloseMixed})
		return err
	})
	return c, err
}

// parseSizes parses a comma-separated list of socket counts (a k suffix
// multiplies by 1000).
func parseSizes(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		if v, ok := strings.CutSuffix(f, "k"); ok {
			f, mult = v, 1000
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad size %q", f)
		}
		if slices.Contains(out, n*mult) {
			return nil, fmt.Errorf("size %d given twice", n*mult)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

// livePhases splits the plan: the CLOSE_WAIT holders move to the second
// phase, with the TIME_WAIT ones, as their orphaned FIN_WAIT2 peers expire
// after 60 s too.
func livePhases(pl *plan) (phase1, phase2 []holderSpec) {
	var cw []holderSpec
	for _, h := range pl.phase1 {
		if strings.HasPrefix(h.name, "closewait-") {
			cw = append(cw, h)
		} else {
			phase1 = append(phase1, h)
		}
	}
	return phase1, append(cw, pl.phase2...)
}

// announced sums the holders' READY counts.
func announced(hs []*holder) map[string]int {
	m := map[string]int{}
	for _, h := range hs {
		for s, n := range h.report.Sockets {
			m[s] += n
		}
	}
	return m
}

// goBuild builds a package of the enclosing module into out.
func goBuild(ctx context.Context, pkg, out string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("cannot build %s: not inside the tcptop module", pkg)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = filepath.Dir(mod)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
	return out, nil
}
