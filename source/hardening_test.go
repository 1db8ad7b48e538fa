package source_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// TestFIFOInProcRoot: a FIFO where a sysctl or counter file should be (a
// --proc-root tree, an odd mount) is refused at once, as a warning naming
// it, instead of blocking the read forever (issue 20 item 4).
func TestFIFOInProcRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "proc")
	if err := os.CopyFS(root, os.DirFS("../testdata/proc")); err != nil {
		t.Fatal(err)
	}
	fifos := []string{"sys/net/ipv4/tcp_fin_timeout", "thread-self/net/netstat", "thread-self/net/sockstat"}
	for _, rel := range fifos {
		p := filepath.Join(root, rel)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan []source.Warning, 1)
	go func() {
		fs := source.ProcFS{Root: root}
		_, w1 := fs.ReadSysctls()
		_, w2 := fs.ReadCounters()
		_, w3 := fs.ReadSockstat()
		done <- append(append(w1, w2...), w3...)
	}()
	var warns []source.Warning
	select {
	case warns = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reading a procfs tree with FIFOs still blocked after 5 s")
	}
	for _, rel := range fifos {
		found := false
		for _, w := range warns {
			if errors.Is(w.Err, source.ErrNotRegular) && (strings.Contains(w.Error(), rel) || strings.HasSuffix(rel, strings.ReplaceAll(w.Name, ".", "/"))) {
				found = true
			}
		}
		if !found {
			t.Errorf("no not-a-regular-file warning for %s: %v", rel, warns)
		}
	}
}

// TestRenamedProcessIsRenamed: a process that renames itself (prctl
// PR_SET_NAME, as postgres and sshd do) or execs another program is shown
// by its new name and command line at the next poll, not the one cached
// when it was first seen (issue 20 item 8).
func TestRenamedProcessIsRenamed(t *testing.T) {
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("needs " + py)
	}
	name, ns := nstest.New(t, "tcptop-rename")
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, _ := ln.(*net.TCPListener).File()
	defer f.Close()
	script := `import ctypes, os, sys
libc = ctypes.CDLL(None)
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "rename":
        libc.prctl(15, cmd[1].encode(), 0, 0, 0)
        print("ok", flush=True)
    elif cmd[0] == "exec":
        os.execv("/usr/bin/sleep", ["tcptop-exec-argv0", "600"])
`
	c := exec.Command(py, "-c", script)
	c.ExtraFiles = []*os.File{f}
	in, _ := c.StdinPipe()
	outp, _ := c.StdoutPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	out := bufio.NewScanner(outp)
	if !out.Scan() || out.Text() != "ready" {
		t.Fatalf("child: %q", out.Text())
	}
	pid := int32(c.Process.Pid)

	k, err := source.Open(source.Options{Netns: name, Attribute: true})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	proc := func() *source.Process {
		s, err := k.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return s.Procs[pid]
	}
	until := func(what string, ok func(p *source.Process) bool) {
		t.Helper()
		var p *source.Process
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if p = proc(); p != nil && ok(p) {
				return
			}
		}
		t.Fatalf("%s: process %+v", what, p)
	}
	until("first seen", func(p *source.Process) bool {
		return p.Name == "python3" && strings.HasPrefix(p.Cmdline, py+" -c import ctypes")
	})

	in.Write([]byte("rename tcptop-renamed\n"))
	if !out.Scan() || out.Text() != "ok" {
		t.Fatalf("child: %q", out.Text())
	}
	p := proc()
	if p == nil || p.Name != "tcptop-renamed" {
		t.Fatalf("after prctl(PR_SET_NAME): %+v", p)
	}

	in.Write([]byte("exec\n"))
	until("after exec", func(p *source.Process) bool {
		return p.Name == "sleep" && p.Cmdline == "tcptop-exec-argv0 600"
	})
}

// TestHugeCommandLineIsCut: a process whose command line is megabytes
// long is kept as at most MaxCmdline bytes, marked as cut (issue 20 item
// 6: 20 such processes drove --once to 1 GB).
func TestHugeCommandLineIsCut(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-hugecmd")
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, _ := ln.(*net.TCPListener).File()
	defer f.Close()
	// 12 arguments of 100 KB (one argument may not exceed 128 KiB): 1.2 MB.
	arg := strings.Repeat("é", 50_000)
	args := []string{"600"}
	for range 12 {
		args = append(args, arg)
	}
	// The shell keeps its arguments while it waits for sleep.
	c2 := exec.Command("/bin/sh", append([]string{"-c", "sleep 600; :", "sh"}, args...)...)
	c2.ExtraFiles = []*os.File{f}
	if err := c2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Process.Kill(); c2.Wait() })

	k, err := source.Open(source.Options{Netns: name, Attribute: true})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	pid := int32(c2.Process.Pid)
	var p *source.Process
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && (p == nil || p.Name != "sh"); time.Sleep(50 * time.Millisecond) {
		s, err := k.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		p = s.Procs[pid]
	}
	if p == nil {
		t.Fatal("the shell was not seen")
	}
	if len(p.Cmdline) > source.MaxCmdline+len(source.CmdlineCut) || !strings.HasSuffix(p.Cmdline, source.CmdlineCut) ||
		!strings.HasPrefix(p.Cmdline, "/bin/sh -c sleep 600; : sh 600 éé") {
		t.Errorf("command line of %d bytes: %.80q…%q", len(p.Cmdline), p.Cmdline, p.Cmdline[max(0, len(p.Cmdline)-40):])
	}
	if !strings.HasSuffix(strings.TrimSuffix(p.Cmdline, source.CmdlineCut), "é") {
		t.Errorf("cut inside a character: %q", p.Cmdline[len(p.Cmdline)-20:])
	}
}

// TestLinkLocalScopesStayApart: fe80::1 reached on two links is two
// peers, each with its interface as the zone (fe80::1%d0, fe80::1%d1),
// not one merged peer (issue 20 item 11).
func TestLinkLocalScopesStayApart(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-scope")
	for _, dev := range []string{"d0", "d1"} {
		for _, args := range [][]string{
			{"link", "add", dev, "type", "veth", "peer", "name", "p" + dev},
			{"link", "set", dev, "up"},
			{"link", "set", "p" + dev, "up"},
			{"addr", "add", "fe80::1/64", "dev", dev, "nodad"},
		} {
			if out, err := exec.Command("ip", append([]string{"-n", name}, args...)...).CombinedOutput(); err != nil {
				t.Skipf("ip %v: %v %s", args, err, out)
			}
		}
	}
	var ln net.Listener
	var conns []net.Conn
	err := ns.Do(func() (err error) {
		if ln, err = net.Listen("tcp6", "[::]:0"); err != nil {
			return err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		for _, dev := range []string{"d0", "d1"} {
			c, err := net.Dial("tcp6", fmt.Sprintf("[fe80::1%%%s]:%d", dev, port))
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		ln.Close()
	}()
	k, err := source.Open(source.Options{Netns: name})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	s, err := k.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	zones := map[string]int{}
	for _, so := range s.Sockets {
		if so.State == source.Established && so.Remote.Port() == uint16(ln.Addr().(*net.TCPAddr).Port) {
			zones[so.Remote.Addr().String()]++
		}
	}
	if zones["fe80::1%d0"] != 1 || zones["fe80::1%d1"] != 1 {
		t.Fatalf("client sockets' remotes %v, want fe80::1%%d0 and fe80::1%%d1", zones)
	}
	snap := model.Build(s, nil, model.Options{})
	out := 0
	for _, p := range snap.Peers {
		if p.Direction == "out" && strings.HasPrefix(p.Remote, "[fe80::1%d") {
			out++
		}
	}
	if out != 2 {
		t.Errorf("%d outgoing fe80::1 peers, want 2: %+v", out, snap.Peers)
	}
	f, err := model.ParseFilter("addr:fe80::1%d1")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range s.Sockets {
		if f.Match(&s.Sockets[i], s.Procs) {
			n++
		}
	}
	if n != 2 { // the client on d1 and its server end
		t.Errorf("addr:fe80::1%%d1 matches %d sockets, want 2", n)
	}
}

// TestUnreadableProcessesNamed: a Sample names the processes whose fds it
// could not read, and says whether it ran as root, so that nothing claims
// "unreadable without root" to root (issue 20 item 11: pid 1 of a
// container is unreadable even to root).
func TestUnreadableProcessesNamed(t *testing.T) {
	name, _ := nstest.New(t, "tcptop-unread")
	k, err := source.Open(source.Options{Netns: name, Attribute: true})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	s, err := k.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Privileged != (os.Geteuid() == 0) {
		t.Errorf("Privileged %v as uid %d", s.Privileged, os.Geteuid())
	}
	if want := min(s.Unreadable, source.MaxUnreadablePIDs); len(s.UnreadablePIDs) != want {
		t.Fatalf("%d unreadable, %d named (%v), want %d", s.Unreadable, len(s.UnreadablePIDs), s.UnreadablePIDs, want)
	}
	for _, pid := range s.UnreadablePIDs {
		if _, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			if _, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/0", pid)); err == nil {
				t.Errorf("pid %d named unreadable, yet its fds read", pid)
			}
		}
	}
	t.Logf("%d unreadable: %v", s.Unreadable, s.UnreadablePIDs)
}

// TestNetnsScanOnlyItsProcesses: a reader of another namespace reads the
// fds of that namespace's processes, not of every process on the machine
// (issue 20 item 13: 193 ms for the first poll of an empty namespace on a
// host of 90k fds), and still finds a socket held only from outside.
func TestNetnsScanOnlyItsProcesses(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-nsonly")
	all, _ := os.ReadDir("/proc")
	if len(all) < 60 {
		t.Skipf("only %d entries in /proc: nothing to tell apart", len(all))
	}
	var inside, outside net.Listener
	if err := ns.Do(func() (err error) {
		if inside, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		outside, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer outside.Close()
	f, _ := inside.(*net.TCPListener).File()
	c := exec.Command("ip", "netns", "exec", name, "sleep", "600")
	c.ExtraFiles = []*os.File{f}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	f.Close()
	inside.Close() // only the sleep inside holds it now
	inPort := uint16(inside.Addr().(*net.TCPAddr).Port)
	outPort := uint16(outside.Addr().(*net.TCPAddr).Port)

	// First: only the process inside holds a socket (wait for the exec).
	outside.(*net.TCPListener).SetDeadline(time.Now())
	k, err := source.Open(source.Options{Netns: name, Attribute: true})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	me := int32(os.Getpid())
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := k.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var in, out []int32
		for _, so := range s.Sockets {
			switch so.Local.Port() {
			case inPort:
				in = so.Owners
			case outPort:
				out = so.Owners
			}
		}
		if len(in) == 1 && in[0] == int32(c.Process.Pid) && s.Procs[in[0]].Name == "sleep" {
			if len(out) != 1 || out[0] != me {
				t.Errorf("the listener held from outside: owners %v, want [%d]", out, me)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("inside listener owners %v (sleep is %d)", in, c.Process.Pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// An empty namespace: its first poll reads no process's fds at all
	// (every process is elsewhere), where it read them all.
	empty, _ := nstest.New(t, "tcptop-nsempty")
	ke, err := source.Open(source.Options{Netns: empty, Attribute: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ke.Close()
	t0 := time.Now()
	if _, err := ke.Read(t.Context()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	// (A process whose namespace cannot be read, such as a container's
	// init, or one exiting during the scan (on a busy machine, a test
	// binary or a compiler), is read: it is not known to be elsewhere. So
	// a few, never most.)
	if r, most := ke.Machine().Reads(), 2+len(all)/10; r > most {
		t.Errorf("the first poll of an empty namespace read %d fd directories of %d processes, want at most %d", r, len(all), most)
	}
	t.Logf("%d processes on the machine; the first poll of an empty namespace read %d fd directories in %v", len(all), ke.Machine().Reads(), took)
}
