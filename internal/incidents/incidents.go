// Package incidents builds, on demand, the socket populations of the
// incidents tcptop diagnoses (docs/INCIDENTS.md in the shared docs), each
// in network namespaces of its own, so that tests can assert the findings
// and a user can watch tcptop name the cause (cmd/tcptop-demo).
//
// A population is real: real sockets made by real processes (a service,
// its clients, a leaky application), started as this same executable in
// the namespace with `ip netns exec` (see RunChild), so that a finding
// about a process names a real pid. Everything is bounded: rates are
// fixed, every child caps the connections it holds and exits after
// Options.MaxLife or when its parent closes its stdin, and Close kills the
// children and deletes the namespaces.
//
// It needs root (namespaces, sysctls, veth pairs) and iproute2's ip.
package incidents

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
	"strings"
	"sync"
	"time"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// Scenario is one population that can be built.
type Scenario struct {
	// Name is what tcptop-demo takes ("ephemeral", "close-wait", ...).
	Name string
	// Incident is the incident's number in INCIDENTS.md, 0 for the extra
	// scenarios (SYN_SENT pile-up, the quiet baselines).
	Incident int
	// Title is one line.
	Title string
	// Builds says what stands, with the numbers.
	Builds string
	// Shows says what tcptop should say about it.
	Shows string

	setup func(p *Population) error
	start func(ctx context.Context, p *Population) error
}

// Want is a finding a population should produce.
type Want struct {
	Rule    string
	Subject model.Subject
	// Severity is the least severity it must reach within two polls.
	Severity model.Severity
}

// Matches reports whether f is this finding: same rule, the same subject
// as its text names it (kind, addresses, direction, pid and name; the typed
// keys the model adds are not compared, a Want need not spell them).
func (w Want) Matches(f model.Finding) bool {
	return f.Rule == w.Rule && SameSubject(f.Subject, w.Subject)
}

// SameSubject reports whether two subjects name the same thing: kind,
// remote, local, direction, pid and name.
func SameSubject(a, b model.Subject) bool {
	return a.Kind == b.Kind && a.Remote == b.Remote && a.Local == b.Local &&
		a.Direction == b.Direction && a.PID == b.PID && a.Name == b.Name
}

// Expect is what tcptop should say once a population stands.
type Expect struct {
	// Findings must appear within two polls after the population stands.
	// Empty for a quiet baseline: then no finding at all is right.
	Findings []Want
	// Allowed lists other rules that may also fire at warning or worse
	// without being a false alarm (a secondary symptom of the same cause).
	Allowed []string
}

// Options configures a population.
type Options struct {
	// Namespace names the namespace to observe (created; must not exist).
	// A scenario that needs a second namespace (the far side of a veth
	// pair: a remote server, or remote clients) names it Namespace+"-srv".
	Namespace string
	// MaxLife bounds every child process (10 minutes when 0).
	MaxLife time.Duration
}

// Population is a scenario being built or standing.
type Population struct {
	Scenario Scenario
	// Netns is the namespace to observe (tcptop --netns Netns).
	Netns string
	// Namespaces lists every namespace made, Netns first.
	Namespaces []string
	// Expect is filled by Start (it may name a pid).
	Expect Expect
	// PIDs of the children by process name, filled by Start.
	PIDs map[string]int
	// Workers are the worker pids of a pre-forked pool by the master's
	// process name (the workers take the same name), filled by Start.
	Workers map[string][]int

	maxLife  time.Duration
	mu       sync.Mutex
	children []*child
	closed   bool
	failed   chan error
}

var scenarios []Scenario

// Scenarios lists every scenario: the five incidents in order, then the
// extras, then the healthy workloads and incident variants of issue 12.
func Scenarios() []Scenario { return scenarios }

// Names lists the scenario names.
func Names() []string {
	n := make([]string, len(scenarios))
	for i, s := range scenarios {
		n[i] = s.Name
	}
	return n
}

// Lookup finds a scenario by name.
func Lookup(name string) (Scenario, error) {
	for _, s := range scenarios {
		if s.Name == name {
			return s, nil
		}
	}
	return Scenario{}, fmt.Errorf("unknown scenario %q (one of: %s)", name, strings.Join(Names(), ", "))
}

// CheckEnv reports why populations cannot be built here, if they cannot.
func CheckEnv() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: it creates network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("needs iproute2's ip in PATH")
	}
	return nil
}

// New makes the scenario's namespaces, links and sysctls, with no load
// yet; Start builds the population. On error nothing is left behind.
func New(sc Scenario, opt Options) (*Population, error) {
	if err := CheckEnv(); err != nil {
		return nil, err
	}
	if opt.Namespace == "" {
		return nil, errors.New("no namespace name")
	}
	if opt.MaxLife <= 0 {
		opt.MaxLife = 10 * time.Minute
	}
	p := &Population{
		Scenario: sc,
		Netns:    opt.Namespace,
		PIDs:     map[string]int{},
		Workers:  map[string][]int{},
		maxLife:  opt.MaxLife,
		failed:   make(chan error, 1),
	}
	if err := sc.setup(p); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

// Start builds the population and returns once it stands (every child
// said READY), or with ctx's error.
func (p *Population) Start(ctx context.Context) error {
	return p.Scenario.start(ctx, p)
}

// Failed delivers the first error of a child that exited while the
// population stood (before Close).
func (p *Population) Failed() <-chan error { return p.failed }

// Close stops the children and deletes the namespaces. It can be called
// more than once.
func (p *Population) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	kids := p.children
	p.mu.Unlock()
	var errs []error
	for i := len(kids) - 1; i >= 0; i-- {
		kids[i].stop()
	}
	for i := len(p.Namespaces) - 1; i >= 0; i-- {
		if err := ip("netns", "del", p.Namespaces[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// addNetns creates a namespace with lo up.
func (p *Population) addNetns(name string) error {
	if _, err := os.Stat(source.NetnsRunDir + "/" + name); err == nil {
		return fmt.Errorf("network namespace %s already exists (another run? if not: ip netns del %s)", name, name)
	}
	if err := ip("netns", "add", name); err != nil {
		return err
	}
	p.Namespaces = append(p.Namespaces, name)
	return ip("-n", name, "link", "set", "lo", "up")
}

// sysctl writes /proc/sys/KEY inside the namespace (KEY with slashes or dots).
func sysctl(netns, key, value string) error {
	ns, err := source.OpenNamespace(netns)
	if err != nil {
		return err
	}
	defer ns.Close()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return ns.Do(func() error {
		if err := os.WriteFile(path, []byte(value), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s in %s: %w", key, value, netns, err)
		}
		return nil
	})
}

// ip runs iproute2's ip.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// child is one running population process.
type child struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stderr  *tailBuffer
	done    chan struct{} // closed when the process was reaped
	err     error         // Wait's error, once done
	pid     int
	report  childReport
	mu      sync.Mutex
	stopped bool
}

// spawn starts a child in the namespace and waits for its READY line.
func (p *Population) spawn(ctx context.Context, netns string, spec childSpec) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	spec.MaxLifeMS = p.maxLife.Milliseconds()
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", "netns", "exec", netns, exe, childArg, spec.Role+":"+spec.Comm)
	// A -race build sleeps 1 s at exit by default; children need not.
	cmd.Env = append(os.Environ(), childEnv+"="+string(js),
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	c := &child{name: spec.Comm, cmd: cmd, stderr: &tailBuffer{max: 4096}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("population closed")
	}
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("start %s: %w", spec.Comm, err)
	}
	p.children = append(p.children, c)
	p.mu.Unlock()

	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, br)
		c.err = cmd.Wait()
		close(c.done)
		c.mu.Lock()
		stopped := c.stopped
		c.mu.Unlock()
		if !stopped {
			select {
			case p.failed <- fmt.Errorf("%s[%d] exited: %v%s", c.name, cmd.Process.Pid, c.err, c.stderrNote()):
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "READY ")
		if !ok {
			<-c.done
			return nil, fmt.Errorf("%s did not start: %v%s", spec.Comm, c.err, c.stderrNote())
		}
		if err := json.Unmarshal([]byte(rest), &c.report); err != nil {
			return nil, fmt.Errorf("%s: bad READY line %q: %w", spec.Comm, line, err)
		}
		// `ip netns exec` execs in place, so this is cmd.Process.Pid; were
		// it ever to fork, the pid that owns the sockets is the reported one.
		c.pid = c.report.PID
		p.mu.Lock()
		p.PIDs[spec.Comm] = c.pid
		if len(c.report.Workers) > 0 {
			p.Workers[spec.Comm] = c.report.Workers
		}
		p.mu.Unlock()
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s not READY: %w%s", spec.Comm, ctx.Err(), c.stderrNote())
	}
}

// stop ends the child: EOF on stdin asks it to close everything and exit;
// it is killed if it has not after a while.
func (c *child) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	c.stdin.Close()
	t := time.NewTimer(3 * time.Second)
	defer t.Stop()
	select {
	case <-c.done:
		return
	case <-t.C:
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}

func (c *child) stderrNote() string {
	if s := strings.TrimSpace(c.stderr.String()); s != "" {
		return ": " + s
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
