package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/output"
	"github.com/tcptop/tcptop/present"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/ui"
)

// actionFlags are the flags of issue 16: the socket export and the
// actions (--kill), and --read-only that turns every action off.
type actionFlags struct {
	sockets, info    bool
	kill             string
	killSet          bool
	yes, dryRun      bool
	readOnly         bool
	socketsOpt       output.SocketsOptions
	listenerExplicit bool // the --kill expression names state:LISTEN
}

// check validates the flags against each other and the rest of c.
func (a *actionFlags) check(c *config) error {
	if a.info && !a.sockets {
		a.sockets = true // --info means the socket list with tcp_info
	}
	a.socketsOpt = output.SocketsOptions{Sockets: a.sockets, Info: a.info}
	if !a.killSet {
		if a.yes || a.dryRun {
			return usageError{errors.New("--yes and --dry-run go with --kill EXPR")}
		}
		return nil
	}
	switch {
	case strings.TrimSpace(a.kill) == "":
		return usageError{errors.New("--kill needs a filter expression naming the sockets, e.g. --kill 'state:CLOSE_WAIT port:8080'")}
	case a.readOnly:
		return usageError{errors.New("--kill and --read-only exclude each other")}
	case a.yes && a.dryRun:
		return usageError{errors.New("--yes and --dry-run exclude each other")}
	case c.check || c.once || c.json || c.count != 0:
		return usageError{errors.New("--kill runs alone: drop --check, --once, --json and --count")}
	case c.filter != "":
		return usageError{errors.New("--kill takes its own expression: drop --filter")}
	}
	f, err := model.ParseFilter(a.kill)
	if err != nil {
		return usageError{fmt.Errorf("--kill: %w", err)}
	}
	_ = f
	for _, tok := range strings.Fields(a.kill) {
		if k, v, ok := strings.Cut(tok, ":"); ok && strings.EqualFold(k, "state") {
			for _, s := range strings.Split(v, ",") {
				if st, ok := source.ParseState(s); ok && st == source.Listen {
					a.listenerExplicit = true
				}
			}
		}
	}
	return nil
}

// beforeDestroy, when set (by a test), runs between listing the matches
// and destroying them: where a socket can vanish in a real run.
var beforeDestroy func(socks []source.Socket)

// errKillIncomplete: some matches could not be destroyed (exit 1).
var errKillIncomplete = errors.New("not every matching socket could be destroyed")

// runKill is --kill EXPR: it lists the matching sockets of the namespace
// and, with --yes, destroys them by their exact identity and reports what
// became of each one. Listeners match only when the expression names
// state:LISTEN.
func runKill(c config, stdout, stderr io.Writer) error {
	a := &c.act
	filter, _ := model.ParseFilter(a.kill)
	k, err := source.Open(source.Options{ProcRoot: c.procRoot, Netns: c.netns, Attribute: !c.noProcs})
	if err != nil {
		if c.netns != "" && !errors.Is(err, source.ErrNoInetDiag) {
			return usageError{err}
		}
		return err
	}
	defer k.Close()
	sample, err := k.Read(context.Background())
	if err != nil {
		return err
	}
	snap := model.Build(sample, nil, model.Options{Filter: filter})
	plan := snap.PlanKill(snap.Sockets(), a.listenerExplicit, os.Getenv("SSH_CONNECTION"))
	socks := plan.Sockets
	ns := k.Namespace()
	states := ""
	if len(socks) > 0 {
		states = " (" + plan.StatesText() + ")"
	}
	fmt.Fprintf(stdout, "%s match %q in netns %s%s\n", plural(len(socks), "socket"), a.kill, format.Sanitize(ns), states)
	if plan.KeptListeners > 0 {
		fmt.Fprintf(stdout, "%s kept: name state:LISTEN to destroy a listener\n", plural(plan.KeptListeners, "listener"))
	}
	for i := range socks {
		fmt.Fprintf(stdout, "  %s\n", socketLine(&socks[i], sample))
	}
	if plan.CloseWait > 0 {
		fmt.Fprintln(stdout, "note: destroying CLOSE_WAIT frees the port, not the application's file descriptor: a stopgap until the application closes it")
	}
	if plan.OwnSSH >= 0 {
		fmt.Fprintf(stderr, "tcptop: warning: this includes your own SSH connection (%s)\n", socks[plan.OwnSSH].Remote)
	}
	if len(socks) == 0 {
		return nil
	}
	if !a.yes || a.dryRun {
		fmt.Fprintln(stdout, "nothing destroyed: add --yes to destroy these sockets")
		return nil
	}
	ex, err := k.Exact()
	if err != nil {
		return err
	}
	defer ex.Close()
	if beforeDestroy != nil {
		beforeDestroy(socks)
	}
	res := ex.DestroyAll(socks)
	log := source.NewActionLog()
	defer log.Close()
	warn := log.Log(killLogLine(a.kill, ns, res))
	if res[0].Outcome == source.PermissionDenied && allOutcome(res, source.PermissionDenied) {
		// One line: the refusal is all there is to say.
		return fmt.Errorf("permission denied: destroying sockets needs CAP_NET_ADMIN in netns %s (run as root); %s not destroyed", format.Sanitize(ns), plural(len(res), "socket"))
	}
	if warn != "" {
		fmt.Fprintf(stderr, "tcptop: %s\n", warn)
	}
	var counts [source.Failed + 1]int
	for i := range res {
		r := &res[i]
		counts[r.Outcome]++
		fmt.Fprintf(stdout, "%-16s %s\n", r.Outcome.String()+":", socketLine(&r.Socket, sample))
	}
	fmt.Fprintln(stdout, outcomeSummary(counts[:]))
	if counts[source.Destroyed]+counts[source.AlreadyGone] != len(res) {
		return errKillIncomplete
	}
	return nil
}

func allOutcome(res []source.DestroyResult, o source.DestroyOutcome) bool {
	for i := range res {
		if res[i].Outcome != o {
			return false
		}
	}
	return true
}

// outcomeSummary is "3 destroyed, 1 already gone".
func outcomeSummary(counts []int) string {
	var parts []string
	for o, n := range counts {
		if n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+source.DestroyOutcome(o).String())
		}
	}
	return strings.Join(parts, ", ")
}

// killLogLine is the system log's line for one --kill.
func killLogLine(expr, ns string, res []source.DestroyResult) string {
	var counts [source.Failed + 1]int
	for i := range res {
		counts[res[i].Outcome]++
	}
	who := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		who = u.Username + "(" + who + ")"
	}
	return fmt.Sprintf("kill sockets %q in netns %s by %s: %d asked, %s", expr, ns, who, len(res), outcomeSummary(counts[:]))
}

// socketLine is "CLOSE_WAIT 10.0.0.1:80 10.0.0.9:51000 nginx[10]".
func socketLine(sk *source.Socket, s *source.Sample) string {
	owners := "-"
	if s.Attributed {
		refs := make([]model.ProcRef, 0, len(sk.Owners))
		for _, pid := range sk.Owners {
			name := "?"
			if p := s.Procs[pid]; p != nil {
				name = p.Name
			}
			refs = append(refs, model.ProcRef{PID: pid, Name: name})
		}
		owners = present.ProcRefs(refs, true)
	}
	return fmt.Sprintf("%-11s %s %s %s", sk.State, sk.Local, sk.Remote, owners)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// ext is the dump's extensions: tcp_info for --info.
func (a *actionFlags) ext() source.Extensions {
	if a.info {
		return source.ExtInfo
	}
	return 0
}

// liveActions are the monitor's actions on the polled namespace: exact
// lookups and destroys over one source.Exact opened at first use, signals
// through pidfds, and the system log.
type liveActions struct {
	k        *source.Kernel
	procRoot string
	log      *source.ActionLog

	mu  sync.Mutex
	ex  *source.Exact
	err error
}

// uiActions returns the monitor's Actions over k.
func (a *actionFlags) uiActions(k *source.Kernel, procRoot string) ui.Actions {
	return &liveActions{k: k, procRoot: procRoot, log: source.NewActionLog()}
}

func (l *liveActions) exact() (*source.Exact, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ex == nil && l.err == nil {
		l.ex, l.err = l.k.Exact()
	}
	return l.ex, l.err
}

// Lookup implements ui.Actions.
func (l *liveActions) Lookup(id source.SocketID) (*source.Detail, error) {
	ex, err := l.exact()
	if err != nil {
		return nil, err
	}
	return ex.Lookup(id)
}

// Destroy implements ui.Actions.
func (l *liveActions) Destroy(socks []source.Socket) []source.DestroyResult {
	ex, err := l.exact()
	if err != nil {
		out := make([]source.DestroyResult, len(socks))
		for i := range socks {
			out[i] = source.DestroyResult{Socket: socks[i], Outcome: source.Failed, Err: err}
		}
		return out
	}
	return ex.DestroyAll(socks)
}

// Signal implements ui.Actions.
func (l *liveActions) Signal(pid int32, start uint64, sig syscall.Signal) error {
	return source.SignalProcess(l.procRoot, pid, start, sig)
}

// SocketFDs implements ui.Actions.
func (l *liveActions) SocketFDs(pids []int32, inode uint32) map[int32][]int {
	return source.SocketFDs(l.procRoot, pids, inode)
}

// Log implements ui.Actions.
func (l *liveActions) Log(line string) string { return l.log.Log(line) }
