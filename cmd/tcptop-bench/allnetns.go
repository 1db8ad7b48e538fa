package main

// The every-namespace mode (-all-netns N): N namespaces holding -sockets
// sockets in all, one sockpop holder each; the overview monitor
// (`tcptop -A`) in tmux, the overview stream (`tcptop -A --json`) read
// document by document for how old each namespace's detail is, and
// `ss -tan` run once per interval in each namespace, side by side for the
// -tui window.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// allWarmup is how long the stream runs before its detail ages count: the
// first cycle dumps namespaces never dumped, oldest first, and only then
// does the staleness bound (10 s) apply to each.
const allWarmup = 15 * time.Second

// allNetnsSpec is one namespace's holder for a population of per sockets:
// ~75% ESTABLISHED, 5% CLOSE_WAIT with as many FIN_WAIT2 peers, ~15%
// TIME_WAIT over two ports, and the four listeners.
func allNetnsSpec(i, per int) holderSpec {
	cw := max(1, per/20)
	tw := max(2, per*15/100)
	pairs := max(1, (per-2*cw-tw-4)/2)
	return holderSpec{
		name: fmt.Sprintf("ns%d", i+1),
		args: []string{"-addr", "127.0.1.1", "-estab", strconv.Itoa(pairs), "-closewait", strconv.Itoa(cw),
			"-timewait", strconv.Itoa(tw), "-timewait-ports", "2"},
	}
}

// allResult is what the every-namespace mode measured.
type allResult struct {
	namespaces []string
	holders    []*holder
	before     int // sockets ss -tan counted in all the namespaces before the window
	after      int
	expected   int
	tui, json  liveRow
	tuiSteady  float64 // CPU share after allWarmup (the first cycle dumps every namespace once)
	jsonSteady float64
	ssRound    []float64 // CPU of each round of ss -tan in every namespace, as a share of one interval
	ssWall     []time.Duration
	docs       int           // stream documents after the warm-up
	maxAge     time.Duration // oldest detail of any entered namespace in those documents
	focusAge   time.Duration // oldest detail of the focused namespace in them
	nsSeen     int           // namespaces in the last document
	neverSeen  int           // entered namespaces without detail in the last document
	screen     string
	markdown   string
	walk       time.Duration // CPU of one full dump of one namespace (median, in-process probe)
}

// runAllNetns is the -all-netns mode.
func runAllNetns(ctx context.Context, opts *options, tmp, tcptopDesc string, args []string, stderr io.Writer) (res *allResult, err error) {
	n := opts.allNetns
	per := opts.sockets / n
	res = &allResult{}
	log := func(format string, a ...any) { fmt.Fprintf(stderr, "tcptop-bench: all-netns: "+format+"\n", a...) }
	started := time.Now()
	defer func() {
		if opts.keep {
			pids := make([]string, 0, len(res.holders))
			for _, h := range res.holders {
				if h.cmd.Process != nil {
					pids = append(pids, strconv.Itoa(h.cmd.Process.Pid))
				}
			}
			fmt.Fprintf(stderr, "tcptop-bench: kept %d namespaces tcptop-bench-%d-a1.. and their holders; to remove: kill %s; for ns in %s; do ip netns del $ns; done\n",
				len(res.namespaces), os.Getpid(), strings.Join(pids, " "), strings.Join(res.namespaces, " "))
			return
		}
		errs := []error{stopHolders(res.holders)}
		for _, ns := range res.namespaces {
			if b, derr := exec.Command("ip", "netns", "del", ns).CombinedOutput(); derr != nil {
				errs = append(errs, fmt.Errorf("ip netns del %s: %v: %s", ns, derr, strings.TrimSpace(string(b))))
			}
		}
		if terr := errors.Join(errs...); terr != nil {
			if err == nil {
				err = terr
			} else {
				fmt.Fprintf(stderr, "tcptop-bench: teardown: %v\n", terr)
			}
		}
	}()
	for i := range n {
		ns := fmt.Sprintf("tcptop-bench-%d-a%d", os.Getpid(), i+1)
		if err := createNetns(ctx, ns); err != nil {
			return res, err
		}
		res.namespaces = append(res.namespaces, ns)
	}
	log("%d namespaces created; starting one holder of ~%d sockets in each", n, per)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for i, ns := range res.namespaces {
		h, err := startHolder(ns, opts.sockpop, allNetnsSpec(i, per), tmp, opts.keep)
		if h != nil {
			res.holders = append(res.holders, h)
		}
		if err != nil {
			return res, err
		}
		wg.Go(func() {
			if err := h.waitReady(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	res.expected = total(announced(res.holders))
	if res.before, err = countAll(ctx, res.namespaces); err != nil {
		return res, err
	}
	log("holders ready in %v; ss -tan counts %d sockets in the %d namespaces (holders expect %d)",
		time.Since(started).Round(time.Millisecond), res.before, n, res.expected)

	// The kernel's part: one dump of one namespace walks the machine's
	// whole socket table, whatever the namespace holds.
	if p, err := newDumpProbe(res.namespaces[0]); err == nil {
		var cpu []time.Duration
		for range 7 {
			if s, err := p.run(); err == nil {
				cpu = append(cpu, s.sys)
			}
		}
		p.close()
		res.walk = median(cpu)
	}
	log("one namespace's dump: %v of CPU", res.walk)
	if err := runAllLive(ctx, opts, tmp, res, log); err != nil {
		return res, err
	}
	if res.after, err = countAll(ctx, res.namespaces); err != nil {
		return res, err
	}
	res.markdown = reportAll(opts, tcptopDesc, args, res, time.Since(started))
	return res, nil
}

// countAll is the sockets ss -tan counts in every namespace.
func countAll(ctx context.Context, nss []string) (int, error) {
	sum := 0
	for _, ns := range nss {
		c, err := countStates(ctx, ns)
		if err != nil {
			return 0, err
		}
		sum += total(c)
	}
	return sum, nil
}

// overviewDoc is the part of an --all-netns document the bench reads.
type overviewDoc struct {
	Focus      string `json:"focus"`
	Namespaces []struct {
		ID          string   `json:"id"`
		Entered     bool     `json:"entered"`
		DetailAgeMS *float64 `json:"detail_age_ms"`
	} `json:"namespaces"`
}

// runAllLive runs the overview monitor, the overview stream and the ss
// rounds side by side for opts.tui.
func runAllLive(ctx context.Context, opts *options, tmp string, res *allResult, log func(string, ...any)) error {
	interval, window := opts.tuiIntv, opts.tui
	socket := fmt.Sprintf("tcptop-bench-%d-a", os.Getpid())
	statusPath := filepath.Join(tmp, "all-tui.status")
	stderrPath := filepath.Join(tmp, "all-tui.stderr")
	tuiCmd := fmt.Sprintf("env -u LC_ALL -u LC_CTYPE -u NO_COLOR TERM=xterm-256color LANG=C.UTF-8 %s -A --interval %s 2>%s; echo $? >%s",
		shellQuote(opts.tcptop), interval, shellQuote(stderrPath), shellQuote(statusPath))
	if _, err := tmux(ctx, socket, "new-session", "-d", "-s", tmuxSession, "-x", strconv.Itoa(tuiWidth), "-y", strconv.Itoa(tuiHeight), tuiCmd); err != nil {
		return err
	}
	var socketPath string
	defer func() {
		tmux(context.Background(), socket, "kill-server")
		if socketPath != "" {
			time.Sleep(100 * time.Millisecond)
			os.Remove(socketPath)
		}
	}()
	out, err := tmux(ctx, socket, "display-message", "-p", "-t", tmuxSession, "#{pane_pid} #{socket_path}")
	if err != nil {
		return err
	}
	var panePid int
	if _, err := fmt.Sscan(out, &panePid, &socketPath); err != nil {
		return fmt.Errorf("tmux display-message: %q: %v", out, err)
	}
	exited := func() bool { b, _ := os.ReadFile(statusPath); return len(bytes.TrimSpace(b)) > 0 }
	tuiPid, err := findChild(ctx, panePid, opts.tcptop, exitTimeout, exited)
	if err != nil {
		b, _ := os.ReadFile(stderrPath)
		return fmt.Errorf("tcptop -A (TUI): %v: %s", err, b)
	}
	t0 := time.Now()
	tui := &tracked{pid: tuiPid, launched: t0}
	if err := tui.sample(); err != nil {
		return err
	}
	log("overview monitor pid %d; measuring for %v", tuiPid, window)

	// The stream, a third of an interval later; its documents are read
	// for the detail ages.
	if err := sleepUntil(ctx, t0.Add(interval/3)); err != nil {
		return err
	}
	jcmd := exec.Command(opts.tcptop, "-A", "--json", "--interval", interval.String())
	stdout, err := jcmd.StdoutPipe()
	if err != nil {
		return err
	}
	var jstderr bytes.Buffer
	jcmd.Stderr = &jstderr
	jlaunch := time.Now()
	if err := jcmd.Start(); err != nil {
		return err
	}
	stream := &tracked{pid: jcmd.Process.Pid, launched: jlaunch}
	jdone := make(chan struct{})
	var last overviewDoc
	go func() {
		defer close(jdone)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for sc.Scan() {
			var d overviewDoc
			if json.Unmarshal(sc.Bytes(), &d) != nil {
				continue
			}
			last = d
			if time.Since(jlaunch) < allWarmup {
				continue
			}
			res.docs++
			for _, r := range d.Namespaces {
				if !r.Entered || r.DetailAgeMS == nil {
					continue
				}
				age := time.Duration(*r.DetailAgeMS * float64(time.Millisecond))
				res.maxAge = max(res.maxAge, age)
				if r.ID == d.Focus {
					res.focusAge = max(res.focusAge, age)
				}
			}
		}
		jcmd.Wait()
	}()
	defer func() {
		select {
		case <-jdone:
		default:
			jcmd.Process.Kill()
			<-jdone
		}
	}()
	if err := stream.sample(); err != nil {
		return err
	}

	// ss -tan in every namespace, one round per interval, two thirds of an
	// interval after the monitor (back to back when a round overruns).
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	end := t0.Add(window)
	var ssErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for at := t0.Add(2 * interval / 3); at.Before(end); at = at.Add(interval) {
			if ssErr = sleepUntil(ctx, at); ssErr != nil {
				return
			}
			var cpu time.Duration
			w0 := time.Now()
			for _, ns := range res.namespaces {
				c := exec.CommandContext(ctx, "ss", "-N", ns, "-tan")
				c.Stdout = devnull
				if ssErr = c.Run(); ssErr != nil {
					ssErr = fmt.Errorf("ss -N %s -tan: %v", ns, ssErr)
					return
				}
				if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
					cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
				}
			}
			res.ssWall = append(res.ssWall, time.Since(w0))
			res.ssRound = append(res.ssRound, float64(cpu)/float64(interval))
			if time.Now().After(at.Add(interval)) {
				at = time.Now().Add(-interval) // overran: next round at once
			}
		}
	})
	var sampleErr error
	for at := t0.Add(sampleEvery); !at.After(end); at = at.Add(sampleEvery) {
		if sampleErr = sleepUntil(ctx, at); sampleErr != nil {
			break
		}
		if sampleErr = tui.sample(); sampleErr != nil {
			b, _ := os.ReadFile(stderrPath)
			sampleErr = fmt.Errorf("tcptop -A (TUI) stopped: %v: %s", sampleErr, b)
			break
		}
		if sampleErr = stream.sample(); sampleErr != nil {
			sampleErr = fmt.Errorf("tcptop -A --json stopped: %v: %s", sampleErr, jstderr.String())
			break
		}
	}
	if sampleErr == nil {
		if screen, err := tmux(ctx, socket, "capture-pane", "-p", "-t", tmuxSession); err == nil {
			res.screen = trimScreen(screen)
		}
	}
	wg.Wait()
	if err := errors.Join(sampleErr, ssErr); err != nil {
		return err
	}
	tmux(ctx, socket, "send-keys", "-t", tmuxSession, "q")
	for deadline := time.Now().Add(exitTimeout); !exited() && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	if b, _ := os.ReadFile(statusPath); strings.TrimSpace(string(b)) != "0" {
		e, _ := os.ReadFile(stderrPath)
		return fmt.Errorf("tcptop -A (TUI) exit status %q after q: %s", strings.TrimSpace(string(b)), e)
	}
	jcmd.Process.Signal(os.Interrupt)
	select {
	case <-jdone:
	case <-time.After(exitTimeout):
		return errors.New("tcptop -A --json still running after SIGINT")
	}
	if code := jcmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("tcptop -A --json exited %v: %s", jcmd.ProcessState, jstderr.String())
	}
	steady := func(ss []procSample) float64 {
		var from *procSample
		for i := range ss {
			if ss[i].at.Sub(t0) >= allWarmup {
				from = &ss[i]
				break
			}
		}
		last := ss[len(ss)-1]
		if from == nil || !last.at.After(from.at) {
			return 0
		}
		return float64(last.user+last.sys-from.user-from.sys) / float64(last.at.Sub(from.at))
	}
	res.tuiSteady, res.jsonSteady = steady(tui.samples), steady(stream.samples)
	res.tui = summarizeTracked(labelTUI, fmt.Sprintf("tcptop -A --interval %s", interval), tui.launched, tui.samples)
	res.json = summarizeTracked(labelJSON, fmt.Sprintf("tcptop -A --json --interval %s", interval), stream.launched, stream.samples)
	res.nsSeen = len(last.Namespaces)
	for _, r := range last.Namespaces {
		if r.Entered && r.DetailAgeMS == nil {
			res.neverSeen++
		}
	}
	return nil
}

// reportAll is the markdown report of the every-namespace mode.
func reportAll(opts *options, tcptopDesc string, args []string, res *allResult, took time.Duration) string {
	var b strings.Builder
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "# tcptop-bench: every namespace (`-all-netns %d`)\n\n", opts.allNetns)
	fmt.Fprintf(&b, "- command: `%s`\n- tcptop: %s\n- kernel %s, %d CPUs, load average at the end %s\n- took %v\n",
		commandLine(args), tcptopDesc, strings.TrimSpace(string(kernel)), runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "), took.Round(time.Second))
	fmt.Fprintf(&b, "- %d namespaces, one sockpop holder each; ss -tan counted %d sockets in all before the window and %d after (holders announced %d; TIME_WAIT and FIN_WAIT2 expire after 60 s)\n",
		len(res.namespaces), res.before, res.after, res.expected)
	ssMed, ssMax := medianMax(res.ssRound)
	walls := make([]float64, len(res.ssWall))
	for i, w := range res.ssWall {
		walls[i] = w.Seconds()
	}
	wallMed, _ := medianMax(walls)
	fmt.Fprintf(&b, "\n| %d s window, %s refresh | CPU %% of one core from launch | after the first %v | peak RSS MiB | / `ss -tan` in every namespace (from launch) |\n| --- | ---: | ---: | ---: | ---: |\n",
		int(opts.tui.Seconds()), opts.tuiIntv, allWarmup)
	for i, r := range []liveRow{res.tui, res.json} {
		st := []float64{res.tuiSteady, res.jsonSteady}[i]
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %.2fx |\n", r.command, pct(r.cpuShare()), pct(st), mib(max(r.peakRSS, r.hwm)), r.cpuShare()/ssMed)
	}
	fmt.Fprintf(&b, "| `ss -N NS -tan` in each of the %d namespaces, one round per interval (%d rounds; median round %.0f ms wall) | %s (max %s) | | | 1 |\n",
		len(res.namespaces), len(res.ssRound), wallMed*1000, pct(ssMed), pct(ssMax))
	fmt.Fprintf(&b, "\nDetail ages in the stream's %d documents after the first %v: oldest of any namespace %v, oldest of the focused one (the host's) %v; %d namespaces in the last document, %d of them entered but never dumped.\n",
		res.docs, allWarmup, res.maxAge.Round(time.Millisecond), res.focusAge.Round(time.Millisecond), res.nsSeen, res.neverSeen)
	if res.walk > 0 {
		per := float64(len(res.namespaces))/10 + 1 // each namespace every 10 s, the focus every second
		fmt.Fprintf(&b, "\nThe kernel's floor: one namespace's dump (the request tcptop sends, received and not parsed, in-process, thread CPU clock, median of 7) costs %.1f ms of CPU: every dump walks the machine's whole socket table. Each namespace once in 10 s and the focus every second is %.0f dumps a second: %.1f%% of a core in the kernel alone.\n",
			float64(res.walk.Microseconds())/1000, per, 100*per*res.walk.Seconds())
	}
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	fmt.Fprintf(&b, "\n| target (issue 13) | measured | |\n| --- | ---: | --- |\n")
	fmt.Fprintf(&b, "| overview <= 15%% of one core (from launch; after the first %v) | %s%%; %s%% | %s |\n", allWarmup, pct(res.tui.cpuShare()), pct(res.tuiSteady), check(res.tui.cpuShare() <= 0.15))
	fmt.Fprintf(&b, "| overview <= 0.25x `ss -tan` once a second in each namespace | %.2fx | %s |\n", res.tui.cpuShare()/ssMed, check(res.tui.cpuShare()/ssMed <= 0.25))
	fmt.Fprintf(&b, "| every namespace's detail <= 10 s old | %v | %s |\n", res.maxAge.Round(time.Millisecond), check(res.maxAge <= 10*time.Second && res.neverSeen == 0))
	fmt.Fprintf(&b, "| the focused namespace fresh every refresh | %v | %s |\n", res.focusAge.Round(time.Millisecond), check(res.focusAge <= opts.tuiIntv+opts.tuiIntv/2))
	fmt.Fprintf(&b, "| RSS <= 300 MiB | %s MiB | %s |\n", mib(max(res.tui.peakRSS, res.tui.hwm)), check(max(res.tui.peakRSS, res.tui.hwm) <= 300<<20))
	if res.screen != "" {
		lines := strings.Split(res.screen, "\n")
		fmt.Fprintf(&b, "\nThe overview at the end of the window (%dx%d):\n\n```\n%s\n```\n", tuiWidth, tuiHeight, strings.Join(lines[:min(len(lines), 16)], "\n"))
	}
	return b.String()
}
