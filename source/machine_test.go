package source_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// startIn starts `sleep` inside a namespace (through `ip netns exec NAME`
// or `unshare -n` when name is ""), killed when the test ends, and returns
// its pid.
func startIn(t *testing.T, name string) int {
	t.Helper()
	var cmd *exec.Cmd
	if name == "" {
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Skip("needs util-linux's unshare")
		}
		cmd = exec.Command("unshare", "-n", "sleep", "60")
	} else {
		cmd = exec.Command("ip", "netns", "exec", name, "sleep", "60")
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Wait until the child has entered its namespace (exec'd sleep).
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
		if strings.TrimSpace(string(comm)) == "sleep" && l != "" && l != self {
			return cmd.Process.Pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%v never entered its namespace", cmd.Args)
	return 0
}

func statID(t *testing.T, path string) source.NamespaceID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return source.NamespaceID{Dev: uint64(st.Dev), Inode: st.Ino}
}

// TestNamespaceNames: a named namespace is called by its name however it
// is reached (by name, by /proc/PID/ns/net, from inside), the initial one
// "default", an unnamed one by its inode.
func TestNamespaceNames(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-name")
	id := statID(t, source.NetnsRunDir+"/"+name)
	if ns.ID != id || ns.Name != name || ns.Label() != name || ns.Init || ns.Own {
		t.Errorf("by name: %+v, label %q; want id %v name %q", *ns, ns.Label(), id, name)
	}
	if names := source.NetnsNames()[id]; !slices.Equal(names, []string{name}) {
		t.Errorf("NetnsNames()[%v] = %q", id, names)
	}

	pid := startIn(t, name)
	byPath, err := source.OpenNamespace(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer byPath.Close()
	if byPath.ID != id || byPath.Label() != name {
		t.Errorf("by path: id %v label %q; want %v %q", byPath.ID, byPath.Label(), id, name)
	}

	// tcptop run inside it (ip netns exec NAME tcptop): its own namespace.
	var inside string
	if err := ns.Do(func() error {
		own, err := source.OpenNamespace("")
		if err != nil {
			return err
		}
		defer own.Close()
		if !own.Own || own.ID != id {
			return fmt.Errorf("own namespace inside: %+v", *own)
		}
		inside = own.Label()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if inside != name {
		t.Errorf("label inside %s = %q", name, inside)
	}
	k, err := source.NewMachine("", false).Reader(byPath, source.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byPath = nil // the reader owns it now
	s, err := k.Read(t.Context())
	k.Close()
	if err != nil || s.Netns != name || k.Namespace() != name {
		t.Errorf("Sample.Netns %q, Kernel.Namespace %q, err %v; want %q", s.Netns, k.Namespace(), err, name)
	}

	// The initial namespace (this test runs in it unless tcptop's tests
	// are themselves run in a named one).
	own, err := source.OpenNamespace("")
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	initErr := unix.Stat("/proc/1/ns/net", &st)
	initID := source.NamespaceID{Dev: uint64(st.Dev), Inode: st.Ino}
	if initErr != nil {
		// pid 1 out of reach (a sandbox): the own namespace cannot be
		// told from the initial one and keeps the old label.
		if own.Init || own.Label() != source.DefaultLabel {
			t.Errorf("own namespace %+v labelled %q, want %q", *own, own.Label(), source.DefaultLabel)
		}
	} else if own.ID == initID && len(source.NetnsNames()[initID]) == 0 {
		if !own.Init || own.Label() != source.DefaultLabel {
			t.Errorf("own namespace %+v labelled %q, want %q", *own, own.Label(), source.DefaultLabel)
		}
		host, err := source.OpenNamespace("/proc/1/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		if !host.Init || host.Label() != source.DefaultLabel {
			t.Errorf("/proc/1/ns/net labelled %q", host.Label())
		}
		host.Close()
	}
	own.Close()

	// An unnamed namespace (unshare -n): "net:[INODE]".
	upid := startIn(t, "")
	path := fmt.Sprintf("/proc/%d/ns/net", upid)
	un, err := source.OpenNamespace(path)
	if err != nil {
		t.Fatal(err)
	}
	defer un.Close()
	uid := statID(t, path)
	if want := "net:[" + strconv.FormatUint(uid.Inode, 10) + "]"; un.ID != uid || un.Name != "" || un.Label() != want {
		t.Errorf("unnamed: id %v name %q label %q; want %v %q", un.ID, un.Name, un.Label(), uid, want)
	}
}

// TestNamespaceOpenedOnce: the identity is the one of the file opened, even
// when the path later names another namespace (the name deleted and added
// again).
func TestNamespaceOpenedOnce(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-once")
	before := ns.ID
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	after := statID(t, source.NetnsRunDir+"/"+name)
	if after == before {
		t.Skip("the kernel reused the inode")
	}
	var inside source.NamespaceID
	if err := ns.Do(func() error {
		var st unix.Stat_t
		err := unix.Stat("/proc/thread-self/ns/net", &st)
		inside = source.NamespaceID{Dev: uint64(st.Dev), Inode: st.Ino}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if ns.ID != before || inside != before {
		t.Errorf("opened %v, now %v, Do ran in %v", before, ns.ID, inside)
	}
}

// listenIn opens a TCP listener inside the namespace, closed when the test
// ends, and returns its port.
func listenIn(t *testing.T, ns *source.Namespace) uint16 {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// TestMachineSharesScan: readers of two namespaces made by one Machine
// share one /proc scan per round, whether read in turn or at once, and
// each sees its own sockets with their owner.
func TestMachineSharesScan(t *testing.T) {
	nameA, nsA := nstest.New(t, "tcptop-ma")
	nameB, nsB := nstest.New(t, "tcptop-mb")
	portA, portB := listenIn(t, nsA), listenIn(t, nsB)
	m := source.NewMachine("", true)
	m.ShareScan = time.Minute // a slow machine must not split a round
	ka, err := m.Open(nameA, source.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ka.Close()
	kb, err := m.Open(nameB, source.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	me := int32(os.Getpid())
	check := func(round int, k *source.Kernel, s *source.Sample, name string, port uint16) {
		t.Helper()
		if s.Netns != name || !s.Attributed || len(s.Sockets) != 1 || s.Sockets[0].Local.Port() != port ||
			!slices.Equal(s.Sockets[0].Owners, []int32{me}) || s.Procs[me] == nil {
			t.Errorf("round %d, %s: %+v", round, name, s)
		}
	}
	const rounds = 4
	for r := 1; r <= rounds; r++ {
		sa, err := ka.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		sb, err := kb.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		check(r, ka, sa, nameA, portA)
		check(r, kb, sb, nameB, portB)
		if got := m.Scans(); got != r {
			t.Errorf("after %d rounds in turn: %d scans", r, got)
		}
	}
	// At once, from two goroutines: still one scan a round.
	for r := 1; r <= rounds; r++ {
		m.NewRound()
		var wg sync.WaitGroup
		for _, k := range []*source.Kernel{ka, kb} {
			wg.Go(func() {
				s, err := k.Read(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if k == ka {
					check(r, k, s, nameA, portA)
				} else {
					check(r, k, s, nameB, portB)
				}
			})
		}
		wg.Wait()
		if got := m.Scans(); got != rounds+r {
			t.Errorf("after %d rounds at once: %d scans, want %d", r, got, rounds+r)
		}
	}
	// A reader read twice in a row starts a round each time.
	for range 2 {
		if _, err := ka.Read(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Scans(); got != 2*rounds+2 {
		t.Errorf("one reader twice: %d scans, want %d", got, 2*rounds+2)
	}
}

// TestWarningText: every kind prints as tcptop printed its warnings
// before they were typed.
func TestWarningText(t *testing.T) {
	open := &fs.PathError{Op: "open", Path: "/proc/thread-self/net/netstat", Err: syscall.ENOENT}
	for _, c := range []struct {
		w    source.Warning
		want string
	}{
		{source.Warning{Kind: source.WarnSysctl, Name: "net.core.somaxconn", Err: &fs.PathError{Op: "open", Path: "/proc/sys/net/core/somaxconn", Err: syscall.ENOENT}},
			"sysctl net.core.somaxconn: open /proc/sys/net/core/somaxconn: no such file or directory"},
		{source.Warning{Kind: source.WarnCounters, Name: open.Path, Err: open},
			"counters: open /proc/thread-self/net/netstat: no such file or directory"},
		{source.Warning{Kind: source.WarnCounters, Name: "/p/net/netstat", Err: errors.New("no TcpExt lines")},
			"counters: /p/net/netstat: no TcpExt lines"},
		{source.Warning{Kind: source.WarnSockstat, Name: "/p/net/sockstat", Err: errors.New("line 2: x")},
			"sockstat: /p/net/sockstat: line 2: x"},
		{source.Warning{Kind: source.WarnAttribution, Err: &fs.PathError{Op: "open", Path: "/gone", Err: syscall.ENOENT}},
			"process attribution: open /gone: no such file or directory"},
		{source.Warning{Kind: source.WarnNamespace, Name: "blue", Err: errors.New(`enter network namespace "blue": permission denied`)},
			`enter network namespace "blue": permission denied`},
		{source.Warning{Kind: source.WarnOutOfFDs, Err: syscall.EMFILE},
			"out of file descriptors: attribution incomplete (too many open files)"},
	} {
		if got := c.w.String(); got != c.want {
			t.Errorf("%v warning = %q, want %q", c.w.Kind, got, c.want)
		}
	}
}

// TestWarningsFromReads: the readers' warnings name their subject, and
// their text is the one printed before warnings were typed.
func TestWarningsFromReads(t *testing.T) {
	root := t.TempDir()
	_, ws := source.ProcFS{Root: root}.ReadSysctls()
	if len(ws) == 0 || ws[0].Kind != source.WarnSysctl || ws[0].Name != "net.ipv4.ip_local_port_range" ||
		ws[0].String() != "sysctl net.ipv4.ip_local_port_range: open "+root+"/sys/net/ipv4/ip_local_port_range: no such file or directory" {
		t.Errorf("sysctl warnings %q (%+v)", ws, ws)
	}
	_, ws = source.ProcFS{Root: root}.ReadCounters()
	if len(ws) != 2 || ws[0].Kind != source.WarnCounters || ws[0].Name != root+"/thread-self/net/netstat" ||
		ws[0].String() != "counters: open "+root+"/thread-self/net/netstat: no such file or directory" {
		t.Errorf("counters warnings %q (%+v)", ws, ws)
	}
	_, ws = source.ProcFS{Root: root}.ReadSockstat()
	if len(ws) != 1 || ws[0].Kind != source.WarnSockstat || ws[0].String() != "sockstat: open "+root+"/thread-self/net/sockstat: no such file or directory" {
		t.Errorf("sockstat warnings %q", ws)
	}
}
