package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tcptop/tcptop/source"
)

// namespace is the private network namespace the soak runs in.
type namespace struct {
	name string
	ns   *source.Namespace
}

// newNamespace creates tcptop-soak-<random> with lo up.
func newNamespace(ctx context.Context) (*namespace, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root to create a network namespace")
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	n := &namespace{name: "tcptop-soak-" + hex.EncodeToString(rnd[:])}
	if b, err := exec.CommandContext(ctx, "ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", n.name, err, strings.TrimSpace(string(b)))
	}
	if b, err := exec.CommandContext(ctx, "ip", "-n", n.name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return nil, errors.Join(fmt.Errorf("ip -n %s link set lo up: %v: %s", n.name, err, strings.TrimSpace(string(b))), n.delete())
	}
	ns, err := source.OpenNamespace(n.name)
	if err != nil {
		return nil, errors.Join(err, n.delete())
	}
	n.ns = ns
	return n, nil
}

// delete removes the namespace (its remaining sockets go with it).
func (n *namespace) delete() error {
	n.ns.Close()
	if b, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", n.name, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// sockpopReport is the part of sockpop's READY line the soak uses.
type sockpopReport struct {
	PID     int            `json:"pid"`
	Sockets map[string]int `json:"sockets"`
}

// population is a sockpop process holding the standing sockets.
type population struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan struct{}
	tmp    string // build directory, removed at stop
	report sockpopReport
	stderr strings.Builder
}

const (
	readyTimeout = 2 * time.Minute
	stopTimeout  = 10 * time.Second
)

// startPopulation builds sockpop (unless -sockpop names it), runs it in the
// namespace and waits for its READY line.
func startPopulation(ctx context.Context, ns string, c *config) (*population, error) {
	p := &population{done: make(chan struct{})}
	bin := c.sockpop
	if bin == "" {
		dir, err := os.MkdirTemp("", "tcptop-soak-")
		if err != nil {
			return nil, err
		}
		p.tmp = dir
		bin = filepath.Join(dir, "sockpop")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/tcptop/tcptop/cmd/sockpop").CombinedOutput()
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("go build sockpop (run from the tcptop module, or give -sockpop): %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	args := []string{"netns", "exec", ns, bin,
		"-estab", strconv.Itoa(c.estab), "-closewait", strconv.Itoa(c.closewait),
		"-timewait", strconv.Itoa(c.timewait), "-timewait-ports", strconv.Itoa(max(1, (c.timewait+9999)/10000))}
	p.cmd = exec.Command("ip", args...)
	// Its own process group: a Ctrl-C on the terminal reaches only the
	// soak, which then stops sockpop itself.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, p.cleanup(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, p.cleanup(err)
	}
	if err := p.cmd.Start(); err != nil {
		return nil, p.cleanup(fmt.Errorf("start sockpop: %w", err))
	}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		s, _ := r.ReadString('\n')
		lines <- s
		_, _ = io.Copy(io.Discard, r)
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t := time.NewTimer(readyTimeout)
	defer t.Stop()
	var line string
	select {
	case line = <-lines:
	case <-ctx.Done():
		return nil, errors.Join(ctx.Err(), p.stop())
	case <-t.C:
		return nil, errors.Join(fmt.Errorf("sockpop: no READY within %v", readyTimeout), p.stop())
	}
	if !strings.HasPrefix(line, "READY ") {
		err := p.stop()
		return nil, errors.Join(fmt.Errorf("sockpop %v failed: %s", args[3:], strings.TrimSpace(p.stderr.String())), err)
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "READY ")), &p.report); err != nil {
		return nil, errors.Join(fmt.Errorf("sockpop: bad READY line %q: %v", line, err), p.stop())
	}
	return p, nil
}

// stop ends sockpop (stdin EOF, SIGKILL after stopTimeout), waits for it
// and removes the build directory.
func (p *population) stop() error {
	if p.stdin != nil {
		p.stdin.Close()
	}
	var err error
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		// ip netns exec execs sockpop in place: the pid is sockpop's.
		_ = p.cmd.Process.Kill()
		<-p.done
		err = fmt.Errorf("sockpop did not exit within %v of stdin EOF; killed", stopTimeout)
	}
	return p.cleanup(err)
}

func (p *population) cleanup(err error) error {
	if p.tmp != "" {
		os.RemoveAll(p.tmp)
		p.tmp = ""
	}
	return err
}
