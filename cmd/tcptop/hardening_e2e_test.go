package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// stuckEnv, when set to a FIFO's path, turns this test binary into a
// stand-in for a tcptop whose read is stuck in the kernel: it arms
// hardStop as main does and then blocks opening the FIFO.
const stuckEnv = "TCPTOP_TEST_STUCK_FIFO"

func init() {
	if fifo := os.Getenv(stuckEnv); fifo != "" {
		hardStop(stopGrace)
		fmt.Println("stuck")
		os.Open(fifo) // blocks: no writer ever comes
		os.Exit(0)
	}
}

// run runs the tcptop binary with stdout to the given file (nil: a buffer),
// bounded in time, and returns stdout, stderr and the exit status.
func runTo(t *testing.T, stdout *os.File, argv ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdout != nil {
		cmd.Stdout = stdout
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v: still running after 20s", argv)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestExitStatusesTellTheTruth: each failure gets the status the README
// documents (issue 20 item 10).
func TestExitStatusesTellTheTruth(t *testing.T) {
	bin, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-exit")
	startPop(t, ns, "-estab", "2")

	// `tcptop | head -1`: the reader goes away; tcptop ends quietly, 0.
	cmd := exec.Command(bin, "--count", "100", "--interval", "100ms", "--netns", ns)
	pipe, _ := cmd.StdoutPipe()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(pipe).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "tcptop - ") {
		t.Fatalf("first line %q: %v", line, err)
	}
	pipe.Close()
	err = cmd.Wait()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); err != nil || ws.Signaled() || errb.Len() > 0 {
		t.Errorf("| head -1: %v (signaled %v), stderr %q; want exit 0, quiet", err, ws.Signaled(), errb.String())
	}

	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full")
	}
	defer full.Close()
	for _, args := range [][]string{{"--help"}, {"--version"}, {"--once", "--netns", ns}} {
		_, errs, code := runTo(t, full, append([]string{bin}, args...)...)
		if code != exitEnv || !strings.Contains(errs, "no space left on device") || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v > /dev/full: exit %d, stderr %q; want %d and one line", args, code, errs, exitEnv)
		}
	}

	// Out of file descriptors is the environment, not bad usage.
	_, errs, code := runTo(t, nil, "/bin/sh", "-c", "ulimit -n 5; exec "+bin+" --once --netns "+ns)
	if code != exitEnv || !strings.Contains(errs, "too many open files") {
		t.Errorf("ulimit -n 5: exit %d, stderr %q; want %d", code, errs, exitEnv)
	}

	// A terminal on stdout but no controlling terminal (setsid): the
	// monitor cannot run; that is the environment, not the kernel.
	ptmx, slave := openPTY(t)
	defer ptmx.Close()
	defer slave.Close()
	go func() { // drain what the monitor may draw
		b := make([]byte, 4096)
		for {
			if _, err := ptmx.Read(b); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mon := exec.CommandContext(ctx, bin, "--netns", ns)
	mon.Env = append(os.Environ(), "TERM=xterm")
	mon.Stdout = slave
	var monErr bytes.Buffer
	mon.Stderr = &monErr
	mon.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = mon.Run()
	if code := mon.ProcessState.ExitCode(); code != exitEnv || ctx.Err() != nil {
		t.Errorf("monitor without a controlling terminal: %v, stderr %q; want exit %d", err, monErr.String(), exitEnv)
	}
}

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (ptmx, slave *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skip("no /dev/ptmx")
	}
	var unlock int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, ptmx.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ptmx, slave
}

// TestMessagesAreBounded: bad values say what is wrong with them, in one
// bounded line (issue 20 item 11).
func TestMessagesAreBounded(t *testing.T) {
	bin, _ := bins(t)
	huge := "port:" + strings.Repeat("x", 130_000)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--interval", "1e300"}, "is too long"},
		{[]string{"--interval", "Inf"}, "is too long"},
		{[]string{"--interval", "NaN"}, "is not a duration"},
		{[]string{"--interval", "48h"}, "is too long"},
		{[]string{"--filter", huge}, "is not a port number"},
		{[]string{"--sort", strings.Repeat("y", 100_000)}, "unknown sort key"},
		{[]string{strings.Repeat("z", 100_000)}, "unexpected argument"},
	} {
		out, errs, code := runTo(t, nil, append([]string{bin, "--once"}, c.args...)...)
		if code != exitUsage || out != "" || !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 || len(errs) > 600 {
			t.Errorf("%.40q: exit %d, %d bytes on stderr %.200q; want exit 2, one line of at most 600 bytes with %q", c.args, code, len(errs), errs, c.want)
		}
	}
}

// TestSignalEndsAStuckRead: a read stuck in the kernel cannot be
// cancelled, so tcptop exits on its own within a second of SIGTERM or
// SIGINT (issue 20 item 4: only SIGKILL ended it).
func TestSignalEndsAStuckRead(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), stuckEnv+"="+fifo)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if l, _ := bufio.NewReader(out).ReadString('\n'); l != "stuck\n" {
			t.Fatalf("child: %q", l)
		}
		time.Sleep(100 * time.Millisecond) // into the open
		t0 := time.Now()
		cmd.Process.Signal(sig)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%v: still running 5 s later", sig)
		}
		took := time.Since(t0)
		if code := cmd.ProcessState.ExitCode(); code != 128+int(sig) || took > 1500*time.Millisecond {
			t.Errorf("%v: exit %d after %v; want %d within a second", sig, code, took, 128+int(sig))
		}
	}
}

// TestFIFOProcRootEndToEnd: tcptop --once over a proc tree with FIFOs in
// place of a tunable and the counters finishes, warns, and exits 0.
func TestFIFOProcRootEndToEnd(t *testing.T) {
	bin, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-fifo")
	root := filepath.Join(t.TempDir(), "proc")
	if err := os.CopyFS(root, os.DirFS("../../testdata/proc")); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"sys/net/ipv4/tcp_fin_timeout", "thread-self/net/netstat"} {
		p := filepath.Join(root, rel)
		os.Remove(p)
		if err := unix.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, errs, code := runTo(t, nil, bin, "--once", "--json", "--netns", ns, "--proc-root", root)
	snap := decode(t, out)
	n := 0
	for _, w := range snap.Warnings {
		if strings.Contains(w, source.ErrNotRegular.Error()) {
			n++
		}
	}
	if code != 0 || errs != "" || n != 2 {
		t.Errorf("exit %d, stderr %q, warnings %q; want 0, quiet, two not-regular warnings", code, errs, snap.Warnings)
	}
}

// TestOutOfFDsEndToEnd: with few file descriptors, a run either attributes
// every socket or says it ran out (a warning), and never counts the
// processes it could not read as "unreadable without root" (issue 20
// item 5, which once made every owner "unknown" with no warning).
func TestOutOfFDsEndToEnd(t *testing.T) {
	bin, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-ulimit")
	startPop(t, ns, "-estab", "3", "-closewait", "2")
	out, _, _ := runTo(t, nil, bin, "--once", "--json", "--netns", ns)
	base := decode(t, out)
	unknownIn := func(snap *model.Snapshot) int {
		n := 0
		for _, p := range snap.Processes {
			if p.PID == 0 {
				n += p.Total
			}
		}
		return n
	}
	warned := 0
	for n := 7; n <= 14; n++ {
		out, errs, code := runTo(t, nil, "/bin/sh", "-c", fmt.Sprintf("ulimit -n %d; exec %s --once --json --netns %s", n, bin, ns))
		if code == exitEnv && strings.Contains(errs, "too many open files") {
			continue // could not even open the namespace: said so, status 3
		}
		if code != 0 {
			t.Errorf("ulimit -n %d: exit %d, stderr %q", n, code, errs)
			continue
		}
		snap := decode(t, out)
		out2 := false
		for _, w := range snap.Warnings {
			out2 = out2 || strings.Contains(w, "out of file descriptors")
		}
		if out2 {
			warned++
		} else if unknownIn(snap) != unknownIn(base) {
			t.Errorf("ulimit -n %d: %d sockets unknown (%d without the limit) and no out-of-descriptors warning: %q", n, unknownIn(snap), unknownIn(base), snap.Warnings)
		}
		if snap.UnreadableProcesses > base.UnreadableProcesses {
			t.Errorf("ulimit -n %d: %d unreadable processes, %d without the limit", n, snap.UnreadableProcesses, base.UnreadableProcesses)
		}
	}
	t.Logf("%d of the limits 7..14 ran out and said so", warned)
}

// TestHugeCommandLinesBounded: 20 processes with megabyte command lines
// cost a bounded output and memory in every batch mode (issue 20 item 6:
// 1 GB RSS and 524 MB of JSON).
func TestHugeCommandLinesBounded(t *testing.T) {
	bin, _ := bins(t)
	ns, nsh := nstest.New(t, "tcptop-hugecmd")
	var ln net.Listener
	if err := nsh.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, _ := ln.(*net.TCPListener).File()
	defer f.Close()
	arg := strings.Repeat("a", 100_000)
	args := []string{"-c", "sleep 600; :", "sh"}
	for range 15 {
		args = append(args, arg)
	}
	for range 20 {
		c := exec.Command("/bin/sh", args...)
		c.ExtraFiles = []*os.File{f}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	}
	for _, mode := range [][]string{{"--once", "--json"}, {"--once"}, {"--json", "--count", "3", "--interval", "100ms"}} {
		cmd := exec.Command(bin, append(mode, "--netns", ns)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v %s", mode, err, errb.String())
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB
		t.Logf("%v: %d bytes out, max RSS %d MiB", mode, out.Len(), rss>>10)
		if out.Len() > 20*(source.MaxCmdline+200)*3+200_000 || rss > 200<<10 {
			t.Errorf("%v: %d bytes of output, max RSS %d MiB", mode, out.Len(), rss>>10)
		}
		if slices.Contains(mode, "--json") && !strings.Contains(out.String(), strings.TrimSpace(source.CmdlineCut)) {
			t.Errorf("%v: no command line marked as cut", mode)
		}
	}
}
