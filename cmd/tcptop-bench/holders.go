package main

import (
	"github.com/tcptop/tcptop/internal/sscount"
	"github.com/tcptop/tcptop/source"

	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// readyTimeout bounds how long a holder may take to print READY.
const readyTimeout = 120 * time.Second

// stopTimeout is how long holders get to exit after stdin EOF before
// they are killed.
const stopTimeout = 10 * time.Second

// sockpopReport is the part of sockpop's READY json the bench uses.
type sockpopReport struct {
	PID     int            `json:"pid"`
	Addr    string         `json:"addr"`
	Sockets map[string]int `json:"sockets"`
}

// holder is a running sockpop process.
type holder struct {
	spec    holderSpec
	cmd     *exec.Cmd
	stdinW  *os.File // closing it tells the holder to exit
	logPath string
	lines   <-chan string // the first stdout line
	report  sockpopReport
	done    chan struct{} // closed when the process has been waited for
	waitErr error
}

// createNetns creates the namespace with lo up and the tunables below; it
// fails if it exists.
func createNetns(ctx context.Context, ns string) error {
	if b, err := exec.CommandContext(ctx, "ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %v: %s", ns, err, strings.TrimSpace(string(b)))
	}
	if b, err := exec.CommandContext(ctx, "ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		exec.Command("ip", "netns", "del", ns).Run()
		return fmt.Errorf("ip -n %s link set lo up: %v: %s", ns, err, strings.TrimSpace(string(b)))
	}
	// Two tunables of this namespace keep the population exact for as
	// long as a run at 200k sockets lasts:
	//   - the full listener's SYN_SENT clients give up after
	//     tcp_syn_retries (6: ~127 s): retry (nearly) for ever instead
	//     (127, the kernel's most);
	//   - with tcp_tw_reuse (2: on loopback) a TIME_WAIT holder's later
	//     connections take over its own older TIME_WAIT ports once they
	//     are a second old, destroying them (1390 of 30000 at 200k).
	// (/proc/sys/net is the namespace of the thread that opens it.)
	if err := setSysctls(ns, map[string]string{"ipv4/tcp_syn_retries": "127", "ipv4/tcp_tw_reuse": "0"}); err != nil {
		exec.Command("ip", "netns", "del", ns).Run()
		return err
	}
	return nil
}

// setSysctls writes /proc/sys/net/NAME = value inside the namespace ns.
func setSysctls(ns string, kv map[string]string) error {
	n, err := source.OpenNamespace(ns)
	if err != nil {
		return err
	}
	defer n.Close()
	return n.Do(func() error {
		for k, v := range kv {
			if err := os.WriteFile("/proc/sys/net/"+k, []byte(v), 0o644); err != nil {
				return fmt.Errorf("in %s: %v", ns, err)
			}
		}
		return nil
	})
}

// startHolders starts one sockpop per spec in ns, concurrently, and waits
// until all are READY. Every process started is returned, even on error,
// so that teardown can stop it. With keep, the holders also inherit the
// write end of their stdin pipe, so they outlive the bench.
func startHolders(ctx context.Context, ns, sockpop string, specs []holderSpec, logDir string, keep bool) ([]*holder, error) {
	var (
		hs   []*holder
		errs []error
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	for _, spec := range specs {
		h, err := startHolder(ns, sockpop, spec, logDir, keep)
		if h != nil {
			hs = append(hs, h)
		}
		if err != nil {
			errs = append(errs, err)
			break
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
	return hs, errors.Join(errs...)
}

// startHolder starts one sockpop process.
func startHolder(ns, sockpop string, spec holderSpec, logDir string, keep bool) (*holder, error) {
	h := &holder{spec: spec, done: make(chan struct{}), logPath: filepath.Join(logDir, spec.name+".log")}
	logf, err := os.Create(h.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer stdinR.Close()
	h.stdinW = stdinW
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, sockpop}, spec.args...)...)
	cmd.Stdin = stdinR
	cmd.Stderr = logf
	// Own process group: a Ctrl-C on the terminal reaches the bench, which
	// stops the holders itself (or keeps them, with -keep).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if keep {
		cmd.ExtraFiles = []*os.File{stdinW}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stdinW.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		stdinW.Close()
		return nil, fmt.Errorf("starting sockpop %s: %v", spec.name, err)
	}
	h.cmd = cmd
	h.readyLine(stdout)
	return h, nil
}

// readyLine starts reading the holder's stdout; the first line is sent on
// h.lines, the rest discarded until EOF, then the process is waited for.
func (h *holder) readyLine(stdout io.Reader) {
	lines := make(chan string, 1)
	h.lines = lines
	go func() {
		r := bufio.NewReader(stdout)
		s, _ := r.ReadString('\n')
		lines <- s
		io.Copy(io.Discard, r)
		h.waitErr = h.cmd.Wait()
		close(h.done)
	}()
}

// waitReady waits for the holder's READY line and parses it.
func (h *holder) waitReady(ctx context.Context) error {
	t := time.NewTimer(readyTimeout)
	defer t.Stop()
	var line string
	select {
	case line = <-h.lines:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("sockpop %s %v: no READY within %v", h.spec.name, h.spec.args, readyTimeout)
	}
	if !strings.HasPrefix(line, "READY ") {
		// The process is exiting; give it a moment so its log is complete.
		select {
		case <-h.done:
		case <-time.After(2 * time.Second):
		}
		return fmt.Errorf("sockpop %s %v failed: %s", h.spec.name, h.spec.args, h.logTail())
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "READY ")), &h.report); err != nil {
		return fmt.Errorf("sockpop %s: bad READY line %q: %v", h.spec.name, line, err)
	}
	return nil
}

// logTail returns the end of the holder's stderr log.
func (h *holder) logTail() string {
	b, err := os.ReadFile(h.logPath)
	if err != nil {
		return err.Error()
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	if s == "" {
		return "no output"
	}
	return s
}

// teardown stops the holders (stdin EOF, then SIGKILL after stopTimeout)
// and deletes the namespace. It never leaves a process behind.
func teardown(ns string, hs []*holder) error {
	errs := []error{stopHolders(hs)}
	if b, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
		errs = append(errs, fmt.Errorf("ip netns del %s: %v: %s", ns, err, strings.TrimSpace(string(b))))
	}
	return errors.Join(errs...)
}

// stopHolders stops the holders (stdin EOF, then SIGKILL after
// stopTimeout) and waits for every one of them. Holders already stopped
// are waited for again at no cost.
func stopHolders(hs []*holder) error {
	var errs []error
	for _, h := range hs {
		h.stdinW.Close()
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	killed := false
	// A holder killed here after stopTimeout is not a failure: its
	// sockets go with it, which is all a stop asks for.
	byUs := map[*holder]bool{}
	for _, h := range hs {
		if !killed {
			select {
			case <-h.done:
			case <-timer.C:
				// Stop waiting politely: kill every holder still running.
				killed = true
				for _, k := range hs {
					select {
					case <-k.done:
					default:
						byUs[k] = true
						k.cmd.Process.Kill()
					}
				}
			}
		}
		<-h.done
		if h.waitErr != nil && h.report.PID != 0 && !byUs[h] { // failures before READY were reported then
			errs = append(errs, fmt.Errorf("sockpop %s: %v: %s", h.spec.name, h.waitErr, h.logTail()))
		}
	}
	return errors.Join(errs...)
}

// waitCounts polls ss -tan in ns every 2 s until it counts exactly want
// per state, for at most timeout; it returns the last count.
func waitCounts(ctx context.Context, ns string, want map[string]int, timeout time.Duration) (map[string]int, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, err := countStates(ctx, ns)
		if err != nil {
			return nil, err
		}
		if sameCounts(got, want) {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("after %v ss -tan still counts %v, want %v", timeout, got, want)
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// sameCounts compares two per-state counts, a missing state being 0.
func sameCounts(a, b map[string]int) bool {
	for s, n := range a {
		if b[s] != n {
			return false
		}
	}
	for s, n := range b {
		if a[s] != n {
			return false
		}
	}
	return true
}

// countStates runs ss -tan in ns and counts its sockets per state, with
// the kernel's state names, leaving out the -churn connections.
func countStates(ctx context.Context, ns string) (map[string]int, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "ss", "-tan", "not ( src "+churnAddr+" or dst "+churnAddr+" )").Output()
	if err != nil {
		return nil, fmt.Errorf("ss -tan: %v", err)
	}
	return sscount.States(string(out)), nil
}

// total sums counts.
func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}
