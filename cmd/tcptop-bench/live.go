package main

// The live mode (-tui): tcptop's full-screen monitor in a detached tmux
// session, tcptop's JSON stream and `ss -tan` once per interval, all on the
// same population for the same window, measured from /proc every second.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tcptop/tcptop/internal/sscount"
)

const (
	// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
	// 100 on every architecture Go runs Linux on.
	clockTicks = 100
	// The tmux pane the monitor draws in.
	tuiWidth, tuiHeight = 120, 40
	// sampleEvery is how often /proc is read.
	sampleEvery = time.Second
	// exitTimeout is how long tcptop gets to exit after q or SIGINT.
	exitTimeout = 5 * time.Second
	// tmuxSession names the session on the bench's own tmux socket.
	tmuxSession = "tcptop"
)

// Labels of the live table's rows.
const (
	labelTUI  = "tcptop (TUI)"
	labelJSON = "tcptop --json"
	labelSSs  = "ss -tan every interval"
	labelTmux = "tmux server"
)

// procStat is what the bench reads from /proc/PID/stat.
type procStat struct {
	state      byte
	ppid       int
	utime      uint64 // clock ticks, all threads, live and exited
	stime      uint64
	comm       string
	startTicks uint64 // field 22, clock ticks after boot: tells a reused pid apart
}

// parseProcStat parses /proc/PID/stat. The command name (field 2) may hold
// spaces and parentheses, so the fields after it are counted from the
// last ')'.
func parseProcStat(b []byte) (procStat, error) {
	s := strings.TrimSpace(string(b))
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("/proc stat %q: no (comm)", s)
	}
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("/proc stat %q: too few fields", s)
	}
	st := procStat{state: f[0][0], comm: s[open+1 : end]}
	var err error
	if st.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("/proc stat: ppid %q", f[1])
	}
	for _, x := range []struct {
		dst *uint64
		i   int
	}{{&st.utime, 11}, {&st.stime, 12}, {&st.startTicks, 19}} {
		if *x.dst, err = strconv.ParseUint(f[x.i], 10, 64); err != nil {
			return procStat{}, fmt.Errorf("/proc stat: field %d %q", x.i+3, f[x.i])
		}
	}
	return st, nil
}

// parseStatusKB returns, in bytes, the value of the line "key:  N kB" of
// /proc/PID/status.
func parseStatusKB(b []byte, key string) (int64, bool) {
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, key+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		return n * 1024, err == nil
	}
	return 0, false
}

// ticks converts clock ticks to a duration.
func ticks(n uint64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

// procSample is one reading of a process.
type procSample struct {
	at         time.Time
	user, sys  time.Duration // cumulative since the process started
	rss, hwm   int64         // VmRSS and VmHWM, bytes
	startTicks uint64
}

// readProc reads a process's CPU time and memory.
func readProc(pid int) (procSample, error) {
	at := time.Now()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	st, err := parseProcStat(b)
	if err != nil {
		return procSample{}, err
	}
	if st.state == 'Z' || st.state == 'X' {
		return procSample{}, fmt.Errorf("pid %d has exited", pid)
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	s := procSample{at: at, user: ticks(st.utime), sys: ticks(st.stime), startTicks: st.startTicks}
	s.rss, _ = parseStatusKB(b, "VmRSS")
	s.hwm, _ = parseStatusKB(b, "VmHWM")
	return s, nil
}

// tracked is a process sampled during the window.
type tracked struct {
	pid      int
	launched time.Time // zero: count CPU from the first sample
	samples  []procSample
}

func (t *tracked) sample() error {
	s, err := readProc(t.pid)
	if err != nil {
		return err
	}
	if len(t.samples) > 0 && s.startTicks != t.samples[0].startTicks {
		return fmt.Errorf("pid %d was reused", t.pid)
	}
	t.samples = append(t.samples, s)
	return nil
}

// liveRow is one line of the live table.
type liveRow struct {
	label     string
	command   string
	window    time.Duration
	user, sys time.Duration // CPU time spent in the window
	perSecond []float64     // share of one core over each sampling period (each run, for ss)
	peakRSS   int64         // largest VmRSS sampled, bytes; 0 when not sampled
	hwm       int64         // VmHWM at the end (rusage maxrss for ss), bytes
	runs      int           // ss: number of runs
}

// cpuShare is the row's CPU time over its window, as a share of one core.
func (r liveRow) cpuShare() float64 {
	if r.window <= 0 {
		return 0
	}
	return float64(r.user+r.sys) / float64(r.window)
}

// summarizeTracked turns samples into a row. A process launched by the
// bench counts all its CPU time since launch (start-up included); one that
// was running already counts from its first sample.
func summarizeTracked(label, command string, launched time.Time, ss []procSample) liveRow {
	r := liveRow{label: label, command: command}
	if len(ss) == 0 {
		return r
	}
	first, last := ss[0], ss[len(ss)-1]
	if launched.IsZero() {
		r.window = last.at.Sub(first.at)
		r.user, r.sys = last.user-first.user, last.sys-first.sys
	} else {
		r.window = last.at.Sub(launched)
		r.user, r.sys = last.user, last.sys
	}
	for i, s := range ss {
		r.peakRSS = max(r.peakRSS, s.rss)
		if i > 0 {
			if dt := s.at.Sub(ss[i-1].at); dt > 0 {
				r.perSecond = append(r.perSecond, float64(s.user+s.sys-ss[i-1].user-ss[i-1].sys)/float64(dt))
			}
		}
	}
	r.hwm = last.hwm
	return r
}

// summarizeRuns turns the ss runs into a row: each run is charged to its
// interval.
func summarizeRuns(label, command string, runs []sample, maxRSS int64, interval time.Duration) liveRow {
	r := liveRow{label: label, command: command, runs: len(runs), window: time.Duration(len(runs)) * interval, hwm: maxRSS}
	for _, s := range runs {
		r.user += s.user
		r.sys += s.sys
		r.perSecond = append(r.perSecond, float64(s.user+s.sys)/float64(interval))
	}
	return r
}

// medianMax returns the median and the largest of xs.
func medianMax(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return m, s[len(s)-1]
}

// liveResult is what the live window measured.
type liveResult struct {
	duration, interval time.Duration
	start              time.Time
	rows               []liveRow
	before, after      map[string]int // ss -tan right before the window and right after it
	decayAge           time.Duration  // age of the TIME_WAIT and FIN_WAIT2 sockets at the end of the window
	screen             string         // the monitor's screen at the end of the window
	pane               string         // the pane size tmux reports
	tmuxVersion        string
	tuiExit, jsonExit  string    // how each tcptop ended
	tmuxSocket         string    // the -L name
	exact              exactness // the stream's state counts against the ss runs around each
	socketPath         string    // where the server listens; it leaves the file behind
}

// liveConfig sets up runLive.
type liveConfig struct {
	ns, tcptop, dir    string
	duration, interval time.Duration
	churn              int // connections/s of churn during the window (0: none)
	log                func(format string, a ...any)
}

// tmux runs a tmux command on the bench's own server socket, with no
// configuration file, in a UTF-8 locale, with /bin/sh as the shell.
func tmux(ctx context.Context, socket string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "tmux", append([]string{"-u", "-L", socket, "-f", os.DevNull}, args...)...)
	cmd.Env = tmuxEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("tmux %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// tmuxEnv is the environment of the bench's tmux server (and so of the
// pane): the bench's own, outside any tmux, with a UTF-8 locale.
func tmuxEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "TMUX", "TMUX_PANE", "LC_ALL", "LC_CTYPE", "LANG", "SHELL":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LANG=C.UTF-8", "SHELL=/bin/sh")
}

// tuiCommand is the pane's shell command: the monitor with a fixed terminal
// and locale, its stderr and exit status kept in files.
func tuiCommand(tcptop, ns string, interval time.Duration, stderrPath, statusPath string) string {
	return fmt.Sprintf("env -u LC_ALL -u LC_CTYPE -u NO_COLOR TERM=xterm-256color LANG=C.UTF-8 %s --netns %s --interval %s 2>%s; echo $? >%s",
		shellQuote(tcptop), shellQuote(ns), interval, shellQuote(stderrPath), shellQuote(statusPath))
}

// tuiArgs is how the report shows the monitor's command line.
func tuiArgs(ns string, interval time.Duration) string {
	return fmt.Sprintf("tcptop --netns %s --interval %s", ns, interval)
}

// jsonArgs are the streaming run's arguments.
func jsonArgs(ns string, interval time.Duration) []string {
	return []string{"--json", "--interval", interval.String(), "--netns", ns}
}

// findChild waits for the child of parent whose executable is exe.
func findChild(ctx context.Context, parent int, exe string, timeout time.Duration, exited func() bool) (int, error) {
	want, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(timeout)
	for {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return 0, err
		}
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			if st, err := parseProcStat(b); err != nil || st.ppid != parent {
				continue
			}
			if got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && got == want {
				return pid, nil
			}
		}
		if exited() {
			return 0, errors.New("exited at once")
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no child of pid %d runs %s after %v", parent, want, timeout)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// sleepUntil waits until t or the end of ctx.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// runLive runs the monitor, the JSON stream and ss side by side for
// cfg.duration. Their polls are offset by a third of the interval each so
// that they do not overlap on the two cores: the monitor polls at 0, the
// stream at interval/3, ss at 2*interval/3. It always stops what it
// started: the tmux server (and so the pane) and the stream.
func runLive(ctx context.Context, cfg liveConfig) (lr *liveResult, err error) {
	lr = &liveResult{duration: cfg.duration, interval: cfg.interval, tmuxSocket: fmt.Sprintf("tcptop-bench-%d", os.Getpid())}
	if v, err := exec.CommandContext(ctx, "tmux", "-V").Output(); err == nil {
		lr.tmuxVersion = strings.TrimSpace(string(v))
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return lr, err
	}
	defer devnull.Close()
	statusPath := filepath.Join(cfg.dir, "tui.status")
	stderrPath := filepath.Join(cfg.dir, "tui.stderr")
	os.Remove(statusPath)
	tuiStatus := func() (string, bool) {
		b, err := os.ReadFile(statusPath)
		s := strings.TrimSpace(string(b))
		return s, err == nil && s != ""
	}
	tuiStderr := func() string {
		b, _ := os.ReadFile(stderrPath)
		if s := strings.TrimSpace(string(b)); s != "" {
			return s
		}
		return "no stderr"
	}

	// The monitor, in its own tmux server.
	_, err = tmux(ctx, lr.tmuxSocket, "new-session", "-d", "-s", tmuxSession, "-x", strconv.Itoa(tuiWidth), "-y", strconv.Itoa(tuiHeight),
		tuiCommand(cfg.tcptop, cfg.ns, cfg.interval, stderrPath, statusPath))
	if err != nil {
		return lr, err
	}
	tuiPid := 0
	var tuiStart uint64
	defer func() {
		// kill-server hangs up on the pane: sh and tcptop get SIGHUP.
		// It fails when the server has already gone (the pane exited).
		// A server that exits leaves its socket file: remove it once no
		// server answers on it.
		tmux(context.Background(), lr.tmuxSocket, "kill-server")
		if lr.socketPath != "" {
			for deadline := time.Now().Add(exitTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if _, err := tmux(context.Background(), lr.tmuxSocket, "list-sessions"); err != nil {
					os.Remove(lr.socketPath)
					break
				}
			}
		}
		if tuiPid == 0 {
			return
		}
		for deadline := time.Now().Add(exitTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if s, err := readProc(tuiPid); err != nil || s.startTicks != tuiStart {
				return
			}
		}
		if s, rerr := readProc(tuiPid); rerr == nil && s.startTicks == tuiStart {
			syscall.Kill(tuiPid, syscall.SIGKILL)
			if err == nil {
				err = fmt.Errorf("tcptop (TUI, pid %d) outlived its tmux server: killed", tuiPid)
			}
		}
	}()
	out, err := tmux(ctx, lr.tmuxSocket, "display-message", "-p", "-t", tmuxSession, "#{pane_pid} #{pid} #{window_width}x#{window_height} #{socket_path}")
	if err != nil {
		return lr, err
	}
	var panePid, serverPid int
	if _, err := fmt.Sscan(out, &panePid, &serverPid, &lr.pane, &lr.socketPath); err != nil {
		return lr, fmt.Errorf("tmux display-message: %q: %v", out, err)
	}
	tuiPid, err = findChild(ctx, panePid, cfg.tcptop, exitTimeout, func() bool { _, ok := tuiStatus(); return ok })
	if err != nil {
		st, _ := tuiStatus()
		return lr, fmt.Errorf("tcptop (TUI): %v (exit status %q): %s", err, st, tuiStderr())
	}
	t0 := time.Now()
	lr.start = t0
	tui := &tracked{pid: tuiPid, launched: t0}
	server := &tracked{pid: serverPid}
	if err := tui.sample(); err != nil {
		return lr, fmt.Errorf("tcptop (TUI): %v: %s", err, tuiStderr())
	}
	tuiStart = tui.samples[0].startTicks
	if err := server.sample(); err != nil {
		return lr, fmt.Errorf("tmux server: %v", err)
	}
	cfg.log("live: tcptop TUI pid %d in a %s tmux pane; measuring for %v", tuiPid, lr.pane, cfg.duration)

	// The stream, a third of an interval later.
	if err := sleepUntil(ctx, t0.Add(cfg.interval/3)); err != nil {
		return lr, err
	}
	jcmd := exec.Command(cfg.tcptop, jsonArgs(cfg.ns, cfg.interval)...)
	jout, err := jcmd.StdoutPipe()
	if err != nil {
		return lr, err
	}
	var docs []streamDoc
	docsDone := make(chan struct{})
	go func() {
		defer close(docsDone)
		docs = readStream(jout)
	}()
	var jstderr bytes.Buffer
	jcmd.Stderr = &jstderr
	jsonLaunch := time.Now()
	if err := jcmd.Start(); err != nil {
		return lr, fmt.Errorf("tcptop --json: %v", err)
	}
	jdone := make(chan struct{})
	go func() { <-docsDone; jcmd.Wait(); close(jdone) }()
	defer func() {
		select {
		case <-jdone:
		default:
			jcmd.Process.Kill()
			<-jdone
		}
	}()
	stream := &tracked{pid: jcmd.Process.Pid, launched: jsonLaunch}
	if err := stream.sample(); err != nil {
		return lr, fmt.Errorf("tcptop --json: %v: %s", err, jstderr.String())
	}

	// ss, two thirds of an interval after the monitor, once per interval.
	var (
		ssRuns   []sample
		ssCounts []ssCount
		ssRSS    int64
		ssErr    error
		wg       sync.WaitGroup
	)
	end := t0.Add(cfg.duration)
	ssc := benchCmd{label: labelSS, argv: []string{"ss", "-tan"}}
	wg.Go(func() {
		for at := t0.Add(2 * cfg.interval / 3); at.Before(end); at = at.Add(cfg.interval) {
			if err := sleepUntil(ctx, at); err != nil {
				ssErr = err
				return
			}
			var out bytes.Buffer
			t0 := time.Now()
			s, rss, err := runOnceRSSTo(ctx, cfg.ns, ssc, &out)
			if err != nil {
				ssErr = err
				return
			}
			ssCounts = append(ssCounts, ssCount{start: t0, end: time.Now(), states: sscount.States(out.String())})
			ssRuns = append(ssRuns, s)
			ssRSS = max(ssRSS, rss)
		}
	})

	// Sample every second until the end of the window.
	var sampleErr error
	for at := t0.Add(sampleEvery); !at.After(end); at = at.Add(sampleEvery) {
		if sampleErr = sleepUntil(ctx, at); sampleErr != nil {
			break
		}
		if err := tui.sample(); err != nil {
			st, _ := tuiStatus()
			sampleErr = fmt.Errorf("tcptop (TUI) stopped during the window: %v (exit status %q): %s", err, st, tuiStderr())
			break
		}
		if err := stream.sample(); err != nil {
			sampleErr = fmt.Errorf("tcptop --json stopped during the window: %v: %s", err, strings.TrimSpace(jstderr.String()))
			break
		}
		if err := server.sample(); err != nil {
			sampleErr = fmt.Errorf("tmux server: %v", err)
			break
		}
	}
	if sampleErr == nil {
		if screen, err := tmux(ctx, lr.tmuxSocket, "capture-pane", "-p", "-t", tmuxSession); err == nil {
			lr.screen = trimScreen(screen)
		} else {
			sampleErr = err
		}
	}
	wg.Wait()
	if err := errors.Join(sampleErr, ssErr); err != nil {
		return lr, err
	}

	// Quit the monitor with q, stop the stream with SIGINT: both must exit
	// cleanly.
	quit := time.Now()
	if _, err := tmux(ctx, lr.tmuxSocket, "send-keys", "-t", tmuxSession, "q"); err != nil {
		return lr, err
	}
	for {
		if st, ok := tuiStatus(); ok {
			if st != "0" {
				return lr, fmt.Errorf("tcptop (TUI) exited with status %s after q: %s", st, tuiStderr())
			}
			lr.tuiExit = fmt.Sprintf("exited with status 0 %v after `q`", time.Since(quit).Round(time.Millisecond))
			break
		}
		if time.Since(quit) > exitTimeout {
			return lr, fmt.Errorf("tcptop (TUI) still running %v after q", exitTimeout)
		}
		if err := sleepUntil(ctx, time.Now().Add(10*time.Millisecond)); err != nil {
			return lr, err
		}
	}
	if s, err := readProc(tuiPid); err == nil && s.startTicks == tuiStart {
		return lr, fmt.Errorf("tcptop (TUI) pid %d still alive after reporting its exit", tuiPid)
	}
	quit = time.Now()
	jcmd.Process.Signal(os.Interrupt)
	select {
	case <-jdone:
	case <-time.After(exitTimeout):
		return lr, fmt.Errorf("tcptop --json still running %v after SIGINT", exitTimeout)
	}
	if code := jcmd.ProcessState.ExitCode(); code != 0 {
		return lr, fmt.Errorf("tcptop --json exited with %v after SIGINT: %s", jcmd.ProcessState, strings.TrimSpace(jstderr.String()))
	}
	lr.jsonExit = fmt.Sprintf("exited with status 0 %v after SIGINT", time.Since(quit).Round(time.Millisecond))

	lr.exact = checkExact(docs, ssCounts, cfg.churn)
	lr.rows = []liveRow{
		summarizeTracked(labelTUI, tuiArgs(cfg.ns, cfg.interval), tui.launched, tui.samples),
		summarizeTracked(labelJSON, "tcptop "+strings.Join(jsonArgs(cfg.ns, cfg.interval), " ")+" > /dev/null", stream.launched, stream.samples),
		summarizeRuns(labelSSs, fmt.Sprintf("ip netns exec %s ss -tan > /dev/null", cfg.ns), ssRuns, ssRSS, cfg.interval),
		summarizeTracked(labelTmux, "the terminal the monitor draws on", time.Time{}, server.samples),
	}
	return lr, nil
}

// runOnceRSS is runOnce that also returns the child's peak RSS in bytes.
func runOnceRSS(ctx context.Context, ns string, c benchCmd, stdout *os.File) (sample, int64, error) {
	return runOnceRSSTo(ctx, ns, c, stdout)
}

// runOnceRSSTo is runOnceRSS writing to any writer.
func runOnceRSSTo(ctx context.Context, ns string, c benchCmd, stdout io.Writer) (sample, int64, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, c.argv...)...)
	cmd.Stdout = stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return sample{}, 0, fmt.Errorf("%s: %v: %s", c.label, err, strings.TrimSpace(stderr.String()))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return sample{}, 0, fmt.Errorf("%s: no rusage", c.label)
	}
	return sample{user: time.Duration(ru.Utime.Nano()), sys: time.Duration(ru.Stime.Nano())}, ru.Maxrss * 1024, nil
}

// trimScreen drops trailing blanks on each line and trailing empty lines.
func trimScreen(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

// mib formats bytes in MiB.
func mib(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(b)/(1<<20))
}

// pct formats a share of one core as a percentage.
func pct(x float64) string { return fmt.Sprintf("%.1f", 100*x) }

// reportLive renders the live window's section of the report.
func reportLive(lr *liveResult, ns string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("## Live monitor at %v refresh: %v window\n\n", lr.interval, lr.duration)
	w("- started %s; the monitor, the stream and `ss -tan` ran side by side on the same population, each polling once every %v, offset by %v so that their polls do not overlap (monitor at 0, stream at +%v, ss at +%v)\n",
		lr.start.UTC().Format(time.RFC3339), lr.interval, (lr.interval / 3).Round(time.Millisecond), (lr.interval / 3).Round(time.Millisecond), (2 * lr.interval / 3).Round(time.Millisecond))
	w("- monitor: `%s` in a detached tmux session (%s, own socket `-L %s`, no config) of %s, TERM=xterm-256color LANG=C.UTF-8; at the end it %s\n",
		tuiArgs(ns, lr.interval), lr.tmuxVersion, lr.tmuxSocket, lr.pane, lr.tuiExit)
	w("- stream: `tcptop %s > /dev/null`; at the end it %s\n", strings.Join(jsonArgs(ns, lr.interval), " "), lr.jsonExit)
	w("- CPU: utime+stime from /proc/PID/stat (1/%d s ticks) and VmRSS from /proc/PID/status, read every %v; VmHWM at the end; a tcptop's CPU counts from its launch (start-up included), the tmux server's from the start of the window; ss: each run's rusage (`ip netns exec` included), charged to its interval, peak = largest maxrss\n",
		clockTicks, sampleEvery)
	w("- `ss -tan` counted %d sockets right before the window and %d right after it; the TIME_WAIT and FIN_WAIT2 sockets (they live 60 s) were %.1f s old at the end of the window\n\n",
		total(lr.before), total(lr.after), lr.decayAge.Seconds())

	w("| process | CPU %% of one core | user %% | sys %% | CPU ms per %v | per-period CPU %% median / max | peak VmRSS MiB | VmHWM MiB |\n", lr.interval)
	w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range lr.rows {
		label := fmt.Sprintf("%s: `%s`", r.label, r.command)
		if r.label == labelTmux {
			label = fmt.Sprintf("%s (%s)", r.label, r.command)
		}
		if r.runs > 0 {
			label = fmt.Sprintf("%s: `%s`, %d runs", r.label, r.command, r.runs)
		}
		med, mx := medianMax(r.perSecond)
		var user, sys float64
		if r.window > 0 {
			user, sys = float64(r.user)/float64(r.window), float64(r.sys)/float64(r.window)
		}
		perPoll := time.Duration(r.cpuShare() * float64(lr.interval))
		w("| %s | %s | %s | %s | %s | %s / %s | %s | %s |\n", label, pct(r.cpuShare()), pct(user), pct(sys), ms(perPoll), pct(med), pct(mx), mib(r.peakRSS), mib(r.hwm))
	}
	e := lr.exact
	w("\nEvery state count of the stream, document by document, against the `ss -tan` runs right before and after its poll: %d of %d bracketed documents within the two counts (%d with both counts equal: %d of those exact); %d documents were partial polls (`carried`), %d full.", e.within, e.bracketed, e.equal, e.exactEqual, e.partial, e.full)
	if e.firstMiss != "" {
		w(" First miss: %s.", e.firstMiss)
	}
	if e.churn > 0 {
		w(" Allowing what %d connections/s of churn can change between the two ss runs (2 sockets a connection, issue 18's \"within the churn between two bracketing ss counts\"): %d of %d.", e.churn, e.withinChurn, e.bracketed)
	}
	w("\n")
	if lr.screen != "" {
		w("\nThe monitor's screen at the end of the window (`tmux capture-pane -p`):\n\n```text\n%s\n```\n", lr.screen)
	}
	return b.String()
}
