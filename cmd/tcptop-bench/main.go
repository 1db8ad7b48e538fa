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
// Usage (as root, from inside the tcptop module unless -tcptop and -sockpop
// are given):
//
//	go run ./cmd/tcptop-bench -sockets 40000 -runs 15 -o bench.md
//	go run ./cmd/tcptop-bench -sockets 40000 -runs 5 -tui 60s
package main

import (
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
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	sockets int
	runs    int
	tcptop  string
	sockpop string
	keep    bool
	out     string
	tui     time.Duration // live window; 0: no live measurement
	tuiIntv time.Duration // the live run's --interval
}

// refreshAge is how old the decaying sockets (TIME_WAIT, orphaned
// FIN_WAIT2: they live 60 s) may be after the live window for the rounds to
// use them; older ones are re-created.
const refreshAge = 20 * time.Second

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
	fs.IntVar(&o.runs, "runs", 15, "measured rounds (each runs every command once)")
	fs.StringVar(&o.tcptop, "tcptop", "", "tcptop binary `path` (default: go build ./cmd/tcptop)")
	fs.StringVar(&o.sockpop, "sockpop", "", "sockpop binary `path` (default: go build ./cmd/sockpop)")
	fs.BoolVar(&o.keep, "keep", false, "leave the namespace and holders running; print how to remove them")
	fs.StringVar(&o.out, "o", "", "also write the markdown report to this `file`")
	fs.DurationVar(&o.tui, "tui", 0, "first measure the live monitor, the JSON stream and ss -tan every interval side by side for this `duration` (e.g. 60s; needs tmux)")
	fs.DurationVar(&o.tuiIntv, "tui-interval", time.Second, "refresh `interval` of the -tui run")
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
	if o.sockets < minSockets {
		return nil, usageError{code: 2, err: fmt.Errorf("-sockets %d: need at least %d", o.sockets, minSockets)}
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

// result is what a run measured, for the report and for tests.
type result struct {
	netns    string
	holders  []*holder // running
	retired  []*holder // stopped before the end (re-created decaying sockets)
	refresh  bool      // the decaying sockets were re-created after the live window
	live     *liveResult
	expected map[string]int // sum of the holders' READY counts
	before   map[string]int // ss -tan right before measuring
	after    map[string]int // ss -tan right after measuring
	rows     []row
	measured time.Duration // measuring time, warm-up included
	twAge    time.Duration // age of the TIME_WAIT sockets when the recount was done
	markdown string
}

// run is the whole benchmark; it always tears down what it created unless
// -keep was given.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (res *result, err error) {
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

	pl := makePlan(opts.sockets)
	phase1, phase2 := pl.phase1, pl.phase2
	if opts.tui > 0 {
		phase1, phase2 = livePhases(pl)
	}
	res = &result{netns: fmt.Sprintf("tcptop-bench-%d", os.Getpid())}
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

	// Everything but TIME_WAIT first; TIME_WAIT last, as it decays.
	log := func(format string, a ...any) { fmt.Fprintf(stderr, "tcptop-bench: "+format+"\n", a...) }
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
	log("%d TIME_WAIT holder(s) ready in %v", len(hs), twReady.Sub(twStart).Round(time.Millisecond))

	res.expected = announced(res.holders)
	if res.before, err = countStates(ctx, res.netns); err != nil {
		return res, err
	}
	log("ss -tan counts %d sockets (holders expect %d)", total(res.before), total(res.expected))

	if opts.tui > 0 {
		res.live, err = runLive(ctx, liveConfig{ns: res.netns, tcptop: opts.tcptop, dir: tmp, duration: opts.tui, interval: opts.tuiIntv, log: log})
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
			// The rounds need the whole population: wait until the old
			// TIME_WAIT and FIN_WAIT2 sockets are gone, then make new ones.
			old := slices.Clone(res.holders[len(res.holders)-len(phase2):])
			res.holders = slices.Clone(res.holders[:len(res.holders)-len(phase2)])
			res.retired = append(res.retired, old...)
			res.refresh = true
			log("stopping %d holder(s) and waiting for their sockets to expire, to re-create them for the rounds", len(old))
			if err := stopHolders(old); err != nil {
				return res, err
			}
			if _, err := waitCounts(ctx, res.netns, announced(res.holders), 90*time.Second); err != nil {
				return res, err
			}
			twStart = time.Now()
			hs, err = startHolders(ctx, res.netns, opts.sockpop, phase2, tmp, opts.keep)
			res.holders = append(res.holders, hs...)
			if err != nil {
				return res, err
			}
			twReady = time.Now()
			log("%d holder(s) re-created in %v", len(hs), twReady.Sub(twStart).Round(time.Millisecond))
			res.expected = announced(res.holders)
		}
		if opts.runs > 0 {
			if res.before, err = countStates(ctx, res.netns); err != nil {
				return res, err
			}
			log("ss -tan counts %d sockets (holders expect %d)", total(res.before), total(res.expected))
		}
	}
	if opts.runs > 0 {
		cmds := benchCommands(opts.tcptop)
		mstart := time.Now()
		res.rows, err = measure(ctx, res.netns, cmds, opts.runs, func(r int) { log("round %d/%d", r, opts.runs) })
		res.measured = time.Since(mstart)
		if err != nil {
			return res, err
		}
		if res.after, err = countStates(ctx, res.netns); err != nil {
			return res, err
		}
		res.twAge = time.Since(twReady)
	}

	res.markdown = report(opts, tcptopDesc, res, args)
	fmt.Fprint(stdout, res.markdown)
	if opts.out != "" {
		if err := os.WriteFile(opts.out, []byte(res.markdown), 0o644); err != nil {
			return res, err
		}
	}
	return res, nil
}

// livePhases is the plan for -tui: the CLOSE_WAIT holders move to the
// second phase, as their orphaned FIN_WAIT2 peers expire after 60 s too.
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
