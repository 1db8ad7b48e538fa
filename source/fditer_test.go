package source_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// The BPF fast path of the fd scan (fditer.go) must find exactly what the
// /proc path finds: the same socket inodes held by the same processes,
// the same fd counts, the same unreadable processes. Checked on real
// processes (this test binary again, as holders): one in this network
// namespace, one in another, both multi-threaded with sockets opened from
// several threads, sharing sockets with this process, and one thread
// with a file table of its own (unshare(CLONE_FILES)), whose sockets
// /proc/PID/fd does not show.

const fdIterHolderEnv = "TCPTOP_TEST_FDITER_HOLDER"

// fdIterHolder is a running holder process.
type fdIterHolder struct {
	pid int32
	// main are the inodes of the sockets it opened in its shared file
	// table; own those opened by the thread with its own table.
	main, own []uint32
}

// startHolder runs a holder, through argv0 (e.g. ip netns exec NAME), with
// the sockets of inherit among its fds.
func startHolder(t *testing.T, inherit []*os.File, argv0 ...string) fdIterHolder {
	t.Helper()
	args := append(argv0, os.Args[0], "-test.run=^TestFDIterHolderChild$", "-test.count=1")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), fdIterHolderEnv+"=1")
	cmd.ExtraFiles = inherit
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the holder exits at EOF
		_ = cmd.Wait()
	})
	h := fdIterHolder{pid: int32(cmd.Process.Pid)}
	br := bufio.NewReader(stdout)
	for _, dst := range []*[]uint32{&h.main, &h.own} {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("holder: %v", err)
		}
		for _, f := range strings.Fields(line)[1:] {
			v, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				t.Fatalf("holder said %q", line)
			}
			*dst = append(*dst, uint32(v))
		}
	}
	return h
}

// TestFDIterHolderChild is the holder: it opens sockets of several kinds
// from several threads, one of which unshares its file table first,
// prints their inodes ("main ..." then "own ...") and waits for EOF on
// stdin.
func TestFDIterHolderChild(t *testing.T) {
	if os.Getenv(fdIterHolderEnv) == "" {
		t.Skip("run by TestFDIterMatchesProc")
	}
	var mu sync.Mutex
	var main []uint32
	opened := func(fd int) {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		main = append(main, uint32(st.Ino))
		mu.Unlock()
	}
	open := func(n int) {
		for range n {
			for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_DGRAM} {
				fd, err := unix.Socket(unix.AF_INET, typ, 0)
				if err != nil {
					t.Error(err)
					return
				}
				opened(fd)
			}
			pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Error(err)
				return
			}
			opened(pair[0])
			opened(pair[1])
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Error(err)
			return
		}
		f, _ := ln.(*net.TCPListener).File() // a dup, kept open
		opened(int(f.Fd()))
	}
	// Sockets opened from four threads of their own share the process's
	// table: /proc/PID/fd lists them.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			runtime.LockOSThread() // never unlocked: the thread stays
			open(50)
		})
	}
	wg.Wait()
	// One thread with a table of its own: its sockets are not in
	// /proc/PID/fd. It stays (locked, blocked) until the holder exits.
	own := make(chan []uint32)
	var ownThread func()
	ownThread = func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The thread group leader: its table is the one
			// /proc/PID/fd lists. Keep it here, locked, so that the
			// goroutine below starts on another thread (landing here
			// made the "own" sockets the process's, now and then).
			go ownThread()
			select {}
		}
		if err := unix.Unshare(unix.CLONE_FILES); err != nil {
			t.Error(err)
			own <- nil
			return
		}
		var inodes []uint32
		for range 5 {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Error(err)
				break
			}
			var st unix.Stat_t
			_ = unix.Fstat(fd, &st)
			inodes = append(inodes, uint32(st.Ino))
		}
		own <- inodes
		select {}
	}
	go ownThread()
	ownInodes := <-own
	if t.Failed() {
		return
	}
	line := func(tag string, v []uint32) string {
		var b strings.Builder
		b.WriteString(tag)
		for _, x := range v {
			fmt.Fprintf(&b, " %d", x)
		}
		return b.String() + "\n"
	}
	os.Stdout.WriteString(line("main", main) + line("own", ownInodes))
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func TestFDIterMatchesProc(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-fditer")
	// Sockets of this process, shared with both holders.
	var shared []*os.File
	var sharedInodes []uint32
	for _, do := range []func(func() error) error{func(f func() error) error { return f() }, ns.Do} {
		err := do(func() error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			defer ln.Close()
			f, err := ln.(*net.TCPListener).File()
			if err != nil {
				return err
			}
			t.Cleanup(func() { f.Close() })
			shared = append(shared, f)
			var st unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &st); err != nil {
				return err
			}
			sharedInodes = append(sharedInodes, uint32(st.Ino))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	here := startHolder(t, shared)
	there := startHolder(t, shared, "ip", "netns", "exec", name)
	me := int32(os.Getpid())

	proc := source.NewAttributor("/proc")
	proc.NoFDIter = true
	rp, err := proc.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proc.FDIterStatus(); err == nil {
		t.Fatalf("NoFDIter: the iterator was not ruled out")
	}
	iter := source.NewAttributor("/proc")
	source.SetFDIterMin(iter, -1)
	ri, err := iter.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if passes, err := iter.FDIterStatus(); passes != 1 {
		t.Skipf("the BPF iterator cannot be used here: %v", err)
	}

	hp, fp := source.ScanHolders(rp)
	hi, fi := source.ScanHolders(ri)
	held := func(h map[uint32][]int32, pid int32) []uint32 {
		var v []uint32
		for ino, pids := range h {
			if slices.Contains(pids, pid) {
				v = append(v, ino)
			}
		}
		slices.Sort(v)
		return v
	}
	for _, h := range []fdIterHolder{here, there} {
		want := slices.Sorted(slices.Values(append(slices.Clone(h.main), sharedInodes...)))
		if got := held(hp, h.pid); !slices.Equal(got, want) {
			t.Errorf("/proc: holder %d: %d sockets, want %d", h.pid, len(got), len(want))
		}
		if got := held(hi, h.pid); !slices.Equal(got, want) {
			t.Errorf("iterator: holder %d: %d sockets, want %d", h.pid, len(got), len(want))
		}
		for _, ino := range h.own {
			if hp[ino] != nil || hi[ino] != nil {
				t.Errorf("holder %d: socket %d of a thread's own table: /proc %v, iterator %v", h.pid, ino, hp[ino], hi[ino])
			}
		}
		if fp[h.pid] != fi[h.pid] || fp[h.pid] < len(want) {
			t.Errorf("holder %d: fd count /proc %d, iterator %d (%d sockets)", h.pid, fp[h.pid], fi[h.pid], len(want))
		}
	}
	for _, ino := range sharedInodes {
		want := slices.Sorted(slices.Values([]int32{me, here.pid, there.pid}))
		if !slices.Equal(hp[ino], want) || !slices.Equal(hi[ino], want) {
			t.Errorf("shared socket %d: /proc %v, iterator %v, want %v", ino, hp[ino], hi[ino], want)
		}
	}
	if got, want := held(hi, me), held(hp, me); !slices.Equal(got, want) {
		t.Errorf("this process: iterator %v, /proc %v", got, want)
	}
	// Processes /proc does not let tcptop read are the iterator path's
	// too (here: none, or those of a sandbox's other users).
	if ri.Unreadable != rp.Unreadable || !slices.Equal(ri.UnreadablePIDs, rp.UnreadablePIDs) {
		t.Errorf("unreadable: iterator %d %v, /proc %d %v", ri.Unreadable, ri.UnreadablePIDs, rp.Unreadable, rp.UnreadablePIDs)
	}

	// The same through Attribute, for every socket of the namespace.
	var d *source.Dumper
	if err := ns.Do(func() (err error) { d, err = source.NewDumper(); return err }); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	owners := func(a *source.Attributor) map[uint32][]int32 {
		socks, err := d.Dump(source.AllStatesMask, 0, 64)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.Attribute(socks); err != nil {
			t.Fatal(err)
		}
		m := make(map[uint32][]int32)
		for _, s := range socks {
			m[s.Inode] = slices.Sorted(slices.Values(s.Owners))
		}
		return m
	}
	proc2 := source.NewAttributor("/proc")
	proc2.NoFDIter = true
	iter2 := source.NewAttributor("/proc")
	source.SetFDIterMin(iter2, -1)
	op, oi := owners(proc2), owners(iter2)
	if len(op) == 0 {
		t.Fatal("no sockets in the namespace")
	}
	for ino, o := range op {
		if !slices.Equal(o, oi[ino]) {
			t.Errorf("socket %d: owners /proc %v, iterator %v", ino, o, oi[ino])
		}
	}
	if passes, _ := iter2.FDIterStatus(); passes == 0 {
		t.Error("Attribute did not use the iterator")
	}
}

// TestFDIterPassRefreshesAll: a pass lists every process, so the ones
// whose cache is still trusted are refreshed from it too. This process
// swaps a socket in place (its fd count and directory unchanged: the
// cache cannot see it until its refresh is due, 30-60 s later); another
// process opens a file, which makes the next scan read it, through the
// iterator; that scan must find the swapped socket here at once.
func TestFDIterPassRefreshesAll(t *testing.T) {
	child := exec.Command("sh", "-c", "read a; exec 7</dev/null; echo opened; read b")
	in, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = child.Wait() })
	inode := func(fd int) uint32 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		return uint32(st.Ino)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	old := inode(fd)

	a := source.NewAttributor("/proc")
	source.SetFDIterMin(a, -1)
	if _, err := a.Scan(); err != nil {
		t.Fatal(err)
	}
	if passes, err := a.FDIterStatus(); passes != 1 {
		t.Skipf("the BPF iterator cannot be used here: %v", err)
	}
	// The first scan loaded the iterator, whose fds are this process's:
	// a second one reads this process again; then it is unchanged.
	if _, err := a.Scan(); err != nil {
		t.Fatal(err)
	}
	passes, _ := a.FDIterStatus()
	me := int32(os.Getpid())
	// The swap: a new socket at the same fd number; the count is kept.
	nfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Dup3(nfd, fd, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(nfd)
	swapped := inode(fd)
	// The other process's change.
	if _, err := in.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "opened\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	r, err := a.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := a.FDIterStatus(); now != passes+1 {
		t.Fatalf("the scan after the change made no pass (%d, %d before)", now, passes)
	}
	holders, _ := source.ScanHolders(r)
	if !slices.Contains(holders[swapped], me) {
		t.Errorf("the swapped-in socket %d: holders %v, want this process (%d)", swapped, holders[swapped], me)
	}
	if slices.Contains(holders[old], me) {
		t.Errorf("the closed socket %d is still this process's", old)
	}
}
