package main

// Reliability end-to-end tests (issue 6): a hardened /proc, kernels that
// lack a feature, procfs files that are missing, and --netns paths that
// cannot be entered. Each runs the real binary.
//
// Not covered here, and why:
//   - A kernel without IPv6 support or without the tcp_diag/inet_diag
//     modules cannot be booted on the test machine. The dumper's fallbacks
//     for both are unit-tested against a scripted kernel in
//     source/variations_test.go; the binary's message and exit status for a
//     missing inet_diag are tested here (TestNoInetDiag) by failing the
//     netlink request with a seccomp filter, which reaches the same
//     error mapping as the kernel's ENOENT reply does.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/internal/sscount"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// seccompEnv, when set, turns this test binary into a launcher: it installs
// a seccomp filter that fails every sendto(2) with ENOENT and execs
// os.Args[1:]. tcptop's only sendto is its sock_diag request, so to tcptop
// the kernel looks like one without tcp_diag.
const seccompEnv = "TCPTOP_TEST_SECCOMP_NO_SENDTO"

// seccompUnavailable is the launcher's exit status when it cannot install
// the filter (the test then skips).
const seccompUnavailable = 125

func init() {
	if os.Getenv(seccompEnv) != "" {
		execWithoutSendto()
	}
}

func execWithoutSendto() {
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "seccomp launcher: %v\n", err)
		os.Exit(seccompUnavailable)
	}
	if len(os.Args) < 2 {
		fail(errors.New("no command"))
	}
	runtime.LockOSThread()
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_SENDTO},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOENT)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail(fmt.Errorf("no_new_privs: %w", err))
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog))); e != 0 {
		fail(fmt.Errorf("seccomp: %w", e))
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, seccompEnv+"=") })
	fail(syscall.Exec(os.Args[1], os.Args[1:], env))
}

// relSnapshot is agreeWithSS keeping stderr.
func relSnapshot(t *testing.T, ns string, prefix []string, args ...string) (*model.Snapshot, string) {
	t.Helper()
	snap, _, errs := agreeWithSS(t, ns, prefix, args...)
	return snap, errs
}

// mountProc mounts a fresh procfs with opts on a new directory that every
// user can reach, and unmounts it when the test ends. It skips the test
// when the mount fails or the kernel drops the option.
func mountProc(t *testing.T, opts string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tcptop-proc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("proc", dir, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		t.Skipf("mount -t proc -o %s proc %s: %v", opts, dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("umount %s: %v (detaching)", dir, err)
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			if !strings.Contains(line, "hidepid=") {
				t.Skipf("the kernel dropped %s: %s", opts, line)
			}
			return dir
		}
	}
	t.Fatalf("%s not in /proc/self/mountinfo after mounting it", dir)
	return ""
}

// onlyOrphansWarning reports whether every warning is about
// net.ipv4.tcp_max_orphans: a machine-wide tunable the kernel shows only in
// the initial namespace, so tcptop run inside another one (as `ip netns
// exec` or a container does, rather than --netns) cannot read it.
func onlyOrphansWarning(warns []string) bool {
	for _, w := range warns {
		if !strings.HasPrefix(w, "sysctl net.ipv4.tcp_max_orphans:") {
			return false
		}
	}
	return true
}

// TestHidepid: with /proc mounted hidepid=2 other users' processes are
// invisible, not just unreadable. As nobody tcptop still lists every
// socket (counts equal ss), shows root's as unknown, exits 0 with nothing
// on stderr, and still reads the namespace's tunables and counters through
// --proc-root. As root, with the same --proc-root, owners are found.
func TestHidepid(t *testing.T) {
	bins(t)
	asNobody(t)
	ns, _ := nstest.New(t, "tcptop-hidepid")
	// Tunables unlike the host's, to see that they are read in the namespace.
	if out, err := exec.Command("ip", "netns", "exec", ns, "sysctl", "-w",
		"net.core.somaxconn=1234", "net.ipv4.ip_local_port_range=40000 40999").CombinedOutput(); err != nil {
		t.Fatalf("sysctl: %v: %s", err, out)
	}
	const cw = 3
	pop := startPop(t, ns, "-closewait", fmt.Sprint(cw), "-estab", "2")
	dir := mountProc(t, "hidepid=2")
	nobody := append([]string{"ip", "netns", "exec", ns}, asNobody(t)...)

	// The mount hides root's processes from nobody.
	if out, err := exec.Command(nobody[0], append(nobody[1:], "ls", dir)...).Output(); err != nil {
		t.Fatalf("ls %s as nobody: %v", dir, err)
	} else if slices.Contains(strings.Fields(string(out)), "1") || slices.Contains(strings.Fields(string(out)), fmt.Sprint(pop.PID)) {
		t.Fatalf("hidepid=2 did not hide root's processes from nobody: %s", out)
	}

	t.Run("nobody", func(t *testing.T) {
		snap, errs := relSnapshot(t, ns, nobody, "--once", "--json", "--proc-root", dir)
		if errs != "" {
			t.Errorf("stderr %q", errs)
		}
		if got := statesMap(snap.States); !sscount.Equal(got, pop.Sockets) {
			t.Errorf("states %v, sockpop built %v", got, pop.Sockets)
		}
		// Every socket is root's, so every socket is unknown.
		if !snap.Attributed || len(snap.Processes) != 1 || snap.Processes[0].Name != model.UnknownName ||
			snap.Processes[0].PID != 0 || snap.Processes[0].Total != snap.Total || snap.Processes[0].States[source.CloseWait] != cw {
			t.Errorf("attributed %v, processes %+v; want one unknown row with all %d sockets", snap.Attributed, snap.Processes, snap.Total)
		}
		for _, l := range snap.Listeners {
			if len(l.Processes) != 0 {
				t.Errorf("listener %s attributed to %+v", l.Local, l.Processes)
			}
		}
		// Hidden processes are not unreadable ones: nobody sees only its own
		// processes, whose fds it can read. A count above 0 would be made up.
		if snap.UnreadableProcesses != 0 {
			t.Errorf("unreadable_processes %d under hidepid=2, want 0", snap.UnreadableProcesses)
		}
		// Tunables come from DIR/sys and counters from DIR/thread-self/net,
		// both in the namespace tcptop runs in.
		if snap.Sysctl["net.core.somaxconn"] != "1234" || snap.Sysctl["net.ipv4.ip_local_port_range"] != "40000 40999" ||
			snap.Ephemeral.Low != 40000 || snap.Ephemeral.High != 40999 {
			t.Errorf("sysctls %v, ephemeral %d-%d; want the namespace's", snap.Sysctl, snap.Ephemeral.Low, snap.Ephemeral.High)
		}
		want := snap.States[source.Established] + snap.States[source.CloseWait]
		if _, ok := snap.Counters["ListenOverflows"]; !ok || snap.Counters["CurrEstab"] != int64(want) {
			t.Errorf("counters: ListenOverflows present %v, CurrEstab %d (want %d, the namespace's)", ok, snap.Counters["CurrEstab"], want)
		}
		if !onlyOrphansWarning(snap.Warnings) {
			t.Errorf("warnings %q", snap.Warnings)
		}
		// The text form: exit 0, nothing on stderr, the unknown row.
		out, errs, code := runTcptop(t, nobody, "--once", "--proc-root", dir)
		if code != 0 || errs != "" || !strings.Contains(out, "\nPROCESSES 1") || !strings.Contains(out, " unknown ") {
			t.Errorf("text: exit %d, stderr %q\n%s", code, errs, out)
		}
	})

	t.Run("root", func(t *testing.T) {
		snap, errs := relSnapshot(t, ns, nil, "--once", "--json", "--netns", ns, "--proc-root", dir)
		if errs != "" || len(snap.Warnings) != 0 {
			t.Errorf("stderr %q, warnings %q", errs, snap.Warnings)
		}
		if snap.Sysctl["net.core.somaxconn"] != "1234" || snap.Ephemeral.Low != 40000 {
			t.Errorf("sysctls %v; want the namespace's", snap.Sysctl)
		}
		var owner *model.ProcessRow
		for i := range snap.Processes {
			if snap.Processes[i].PID == int32(pop.PID) {
				owner = &snap.Processes[i]
			}
		}
		if owner == nil || owner.Name != "sockpop" || owner.User != "root" || owner.States[source.CloseWait] != cw {
			t.Errorf("as root: sockpop (pid %d) row %+v; processes %+v", pop.PID, owner, snap.Processes)
		}
		// hidepid hides nothing from root: as many unreadable processes as
		// through the usual /proc (not always 0: on the test VM pid 1's fd
		// links deny even root). Retried, as processes come and go.
		var counts []int
		for range 5 {
			plain, _ := relSnapshot(t, ns, nil, "--once", "--json", "--netns", ns)
			hidden, _ := relSnapshot(t, ns, nil, "--once", "--json", "--netns", ns, "--proc-root", dir)
			if counts = []int{plain.UnreadableProcesses, hidden.UnreadableProcesses}; counts[0] == counts[1] {
				break
			}
		}
		if counts[0] != counts[1] {
			t.Errorf("as root: %d unreadable processes through /proc, %d through the hidepid=2 mount", counts[0], counts[1])
		}
	})

	// hidepid=1: nobody lists every process but cannot read them, so they
	// count as unreadable (at least sockpop).
	t.Run("hidepid=1", func(t *testing.T) {
		dir1 := mountProc(t, "hidepid=1")
		snap, errs := relSnapshot(t, ns, nobody, "--once", "--json", "--proc-root", dir1)
		if errs != "" || snap.UnreadableProcesses == 0 || !snap.Attributed || !onlyOrphansWarning(snap.Warnings) {
			t.Errorf("stderr %q, attributed %v, unreadable %d, warnings %q", errs, snap.Attributed, snap.UnreadableProcesses, snap.Warnings)
		}
		for _, p := range snap.Processes {
			if p.PID != 0 {
				t.Errorf("nobody attributed sockets to %+v", p)
			}
		}
	})
}

// TestIPv6Disabled: with IPv6 turned off in the namespace, tcptop lists the
// IPv4 sockets and the IPv6 (dual-stack) ones that can still exist, exits
// 0 and warns about nothing, poll after poll.
func TestIPv6Disabled(t *testing.T) {
	bins(t)
	ns, nsh := nstest.New(t, "tcptop-noipv6")
	if out, err := exec.Command("ip", "netns", "exec", ns, "sysctl", "-w",
		"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1").CombinedOutput(); err != nil {
		t.Skipf("cannot disable IPv6 in the namespace: %v: %s", err, out)
	}
	// It is off: lo lost ::1.
	if out, err := exec.Command("ip", "-n", ns, "-6", "addr", "show", "dev", "lo").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("IPv6 still configured on lo: %v: %s", err, out)
	}
	pop := startPop(t, ns, "-estab", "3", "-closewait", "2", "-timewait", "4")

	// A dual-stack listener still works with IPv6 disabled; an IPv4 client's
	// connection to it is an AF_INET6 socket (::ffff:127.0.0.1).
	var ln net.Listener
	var client net.Conn
	if err := nsh.Do(func() error {
		var err error
		if ln, err = net.Listen("tcp", "[::]:0"); err != nil {
			return err
		}
		client, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port))
		return err
	}); err != nil {
		t.Fatalf("dual-stack listener: %v", err)
	}
	defer ln.Close()
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	v6Port := ln.Addr().(*net.TCPAddr).Port

	snap, errs := relSnapshot(t, ns, nil, "--once", "--json", "--netns", ns)
	if errs != "" || len(snap.Warnings) != 0 {
		t.Errorf("stderr %q, warnings %q", errs, snap.Warnings)
	}
	if snap.Total != sum(pop.Sockets)+3 {
		t.Errorf("%d sockets, want sockpop's %d and the dual-stack 3", snap.Total, sum(pop.Sockets))
	}
	found := false
	for _, l := range snap.Listeners {
		found = found || l.Local == fmt.Sprintf("[::]:%d", v6Port)
	}
	if !found {
		t.Errorf("dual-stack listener [::]:%d missing from %+v", v6Port, snap.Listeners)
	}
	// Polls after the first warn no more than the first.
	out, errs, code := runTcptop(t, nil, "--json", "--netns", ns, "--interval", "100ms", "--count", "3")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || errs != "" || len(lines) != 3 {
		t.Fatalf("NDJSON: exit %d, stderr %q, %d lines", code, errs, len(lines))
	}
	for i, l := range lines {
		if s := decode(t, l); len(s.Warnings) != 0 || s.States[source.Listen] == 0 {
			t.Errorf("NDJSON line %d: warnings %q, %d listeners", i, s.Warnings, s.States[source.Listen])
		}
	}
	out, errs, code = runTcptop(t, nil, "--once", "--netns", ns)
	if code != 0 || errs != "" || strings.Contains(out, "warning") {
		t.Errorf("text: exit %d, stderr %q\n%s", code, errs, out)
	}
}

// TestNoInetDiag: when the kernel cannot dump TCP sockets (no tcp_diag),
// tcptop exits 1 (the kernel could not be read, not bad usage, even with
// --netns) with one line on stderr that names the modules and the
// modprobe to run, and nothing on stdout.
func TestNoInetDiag(t *testing.T) {
	bins(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ns, _ := nstest.New(t, "tcptop-nodiag")
	noDiag := []string{"env", seccompEnv + "=1", exe}
	want := "tcptop: " + source.ErrNoInetDiag.Error() + "\n"
	for _, m := range []string{"tcp_diag", "inet_diag", "modprobe tcp_diag"} {
		if !strings.Contains(want, m) {
			t.Errorf("the message %q does not name %q", want, m)
		}
	}
	for _, args := range [][]string{
		{"--once", "--json"},
		{"--once"},
		{"--once", "--no-procs", "--netns", ns},
		{"--json", "--count", "2", "--interval", "100ms"},
	} {
		out, errs, code := runTcptop(t, noDiag, args...)
		if code == seccompUnavailable && strings.HasPrefix(errs, "seccomp launcher:") {
			t.Skipf("cannot simulate a kernel without tcp_diag: %s", errs)
		}
		if code != exitFailure || out != "" || errs != want {
			t.Errorf("%v without tcp_diag: exit %d, stdout %q, stderr %q; want exit 1 and %q", args, code, out, errs, want)
		}
	}
	// The launcher itself changes nothing else.
	if out, errs, code := runTcptop(t, noDiag, "--version"); code != 0 || !strings.HasPrefix(out, "tcptop ") {
		t.Errorf("--version through the launcher: exit %d, %q %q", code, out, errs)
	}
}

// TestMissingProcFiles: with --proc-root at a tree lacking net/netstat,
// net/sockstat and several tunables (testdata/proc-missing), tcptop still
// lists every socket (they come from netlink), exits 0 with nothing on
// stderr, names each missing file in a warning, reads what is there, and
// says "unavailable" where the ephemeral-port panel would be.
func TestMissingProcFiles(t *testing.T) {
	bins(t)
	ns, _ := nstest.New(t, "tcptop-procmiss")
	pop := startPop(t, ns, "-estab", "2", "-closewait", "2", "-timewait", "3")
	root := filepath.Join(t.TempDir(), "proc")
	if err := os.CopyFS(root, os.DirFS("../../testdata/proc-missing")); err != nil {
		t.Fatal(err)
	}
	missing := []string{
		"sys/net/ipv4/ip_local_port_range", "sys/net/ipv4/tcp_max_syn_backlog",
		"sys/net/ipv4/tcp_max_tw_buckets", "sys/net/ipv4/tcp_timestamps",
		"sys/net/ipv4/tcp_max_orphans", "thread-self/net/netstat", "thread-self/net/sockstat",
	}
	for _, rel := range missing {
		if _, err := os.Stat(filepath.Join(root, rel)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the fixture has %s", rel)
		}
	}

	snap, errs := relSnapshot(t, ns, nil, "--once", "--json", "--netns", ns, "--proc-root", root)
	if errs != "" {
		t.Errorf("stderr %q", errs)
	}
	if got := statesMap(snap.States); !sscount.Equal(got, pop.Sockets) {
		t.Errorf("states %v, sockpop built %v", got, pop.Sockets)
	}
	// tcp_max_orphans is global: a namespace other than the host's never
	// shows it, so its absence is not worth a warning every poll (it stays
	// out of the sysctl map).
	warned := slices.DeleteFunc(slices.Clone(missing), func(rel string) bool { return strings.HasSuffix(rel, "tcp_max_orphans") })
	for _, rel := range missing {
		n := 0
		for _, w := range snap.Warnings {
			if strings.Contains(w, filepath.Join(root, rel)) {
				n++
			}
		}
		if want := btoi(slices.Contains(warned, rel)); n != want {
			t.Errorf("%d warnings name %s, want %d: %q", n, rel, want, snap.Warnings)
		}
	}
	if _, ok := snap.Sysctl["net.ipv4.tcp_max_orphans"]; ok {
		t.Error("tcp_max_orphans has a value though the fixture lacks it")
	}
	if len(snap.Warnings) != len(warned) {
		t.Errorf("%d warnings, want one per missing file: %q", len(snap.Warnings), snap.Warnings)
	}
	for _, w := range snap.Warnings {
		if strings.Contains(w, "\n") {
			t.Errorf("warning %q spans lines", w)
		}
	}
	// What is there is read: tunables and the Tcp counters of the fixture.
	if snap.Sysctl["net.core.somaxconn"] != "4096" || snap.Sysctl["net.ipv4.tcp_tw_reuse"] != "2" ||
		snap.Counters["CurrEstab"] != 42 || snap.Ephemeral.High != 0 {
		t.Errorf("sysctl %v, CurrEstab %d, ephemeral %+v", snap.Sysctl, snap.Counters["CurrEstab"], snap.Ephemeral)
	}
	if _, ok := snap.Sysctl["net.ipv4.ip_local_port_range"]; ok {
		t.Errorf("a missing port range reported as %q", snap.Sysctl["net.ipv4.ip_local_port_range"])
	}

	out, errs, code := runTcptop(t, nil, "--once", "--netns", ns, "--proc-root", root)
	if code != 0 || errs != "" || !strings.Contains(out, "\nEPHEMERAL PORTS  unavailable (ip_local_port_range unreadable)\n") ||
		!strings.Contains(out, "\nwarning: counters: open "+filepath.Join(root, "thread-self/net/netstat")) {
		t.Errorf("text: exit %d, stderr %q\n%s", code, errs, out)
	}

	// No procfs at all: sockets still listed, attribution off with a warning.
	gone := filepath.Join(t.TempDir(), "no-proc")
	snap, errs = relSnapshot(t, ns, nil, "--once", "--json", "--netns", ns, "--proc-root", gone)
	if errs != "" || snap.Attributed || len(snap.Warnings) == 0 || !strings.HasPrefix(snap.Warnings[0], "process attribution: ") {
		t.Errorf("--proc-root %s: stderr %q, attributed %v, warnings %q", gone, errs, snap.Attributed, snap.Warnings)
	}

	// The monitor: the port gauge and the listener title say unavailable.
	tcptop, _ := bins(t)
	sess := newTmux(t, 120, 30, fmt.Sprintf("env TERM=xterm-256color LANG=C.UTF-8 %s --netns %s --proc-root %s --interval 500ms; echo TCPTOP-EXIT=$?; sleep 60", tcptop, ns, root))
	sess.waitFor("the unavailable panels", func(s string) bool {
		return strings.Contains(s, "ephemeral range unavailable (ip_local_port_range unreadable)") &&
			strings.Contains(s, "overflow counters unavailable (/proc/net/netstat unreadable)")
	})
	sess.text("q")
	sess.waitFor("exit 0", func(s string) bool { return strings.Contains(s, "TCPTOP-EXIT=0") })
}

// runBounded runs tcptop with args and a deadline, so that a hang fails
// the test instead of stalling it.
func runBounded(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	bin, _ := bins(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Errorf("tcptop %v: still running after 10s (killed)", args)
		return "", "", -1
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestNetnsNotEnterable adds to TestBadInput the --netns paths that exist
// but are no network namespace: each is one line on stderr and exit 2, and
// none is waited on (a FIFO would block an open for reading forever).
func TestNetnsNotEnterable(t *testing.T) {
	bins(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a stale entry in " + source.NetnsRunDir)
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// What `ip netns` leaves when the namespace's bind mount is gone.
	if err := os.MkdirAll(source.NetnsRunDir, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("tcptop-stale-%d", os.Getpid())
	if err := os.WriteFile(filepath.Join(source.NetnsRunDir, stale), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(source.NetnsRunDir, stale)) })

	for _, c := range []struct{ netns, want string }{
		{fifo, fifo + " is not a namespace file"},
		{dir, dir + " is not a namespace file"},
		{"/dev/null", "/dev/null is not a namespace file"},
		{stale, filepath.Join(source.NetnsRunDir, stale) + " is not a namespace file"},
		{"/proc/self/ns/uts", "/proc/self/ns/uts is not a network namespace"},
	} {
		out, errs, code := runBounded(t, "--once", "--netns", c.netns)
		if code != exitUsage || out != "" || !strings.HasPrefix(errs, "tcptop: ") || !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("--netns %s: exit %d, stdout %q, stderr %q; want exit 2 and one line containing %q", c.netns, code, out, errs, c.want)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
