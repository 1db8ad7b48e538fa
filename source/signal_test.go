package source_test

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/source"
)

// startTime reads a pid's start time the way the attribution does.
func startTime(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	v, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignalProcess(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()
	pid := int32(cmd.Process.Pid)
	start := startTime(t, cmd.Process.Pid)

	// Another start time: the pid names another process now.
	if err := source.SignalProcess("", pid, start+1, unix.SIGTERM); !errors.Is(err, source.ErrProcessGone) {
		t.Errorf("wrong start time: %v, want ErrProcessGone", err)
	}
	select {
	case <-done:
		t.Fatal("a signal reached a process with another start time")
	case <-time.After(50 * time.Millisecond):
	}
	for _, p := range []int32{1, int32(os.Getpid())} {
		if err := source.SignalProcess("", p, 0, unix.SIGTERM); !errors.Is(err, source.ErrRefused) {
			t.Errorf("pid %d: %v, want ErrRefused", p, err)
		}
	}
	// kthreadd (pid 2) is a kernel thread on every Linux.
	if _, err := os.Stat("/proc/2/stat"); err == nil {
		if err := source.SignalProcess("", 2, startTime(t, 2), unix.SIGTERM); !errors.Is(err, source.ErrRefused) {
			t.Errorf("kernel thread: %v, want ErrRefused", err)
		}
	}
	if err := source.SignalProcess("", pid, start, unix.SIGTERM); err != nil {
		t.Fatalf("signal: %v", err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "terminated") {
			t.Errorf("sleep ended with %v, want terminated", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not arrive")
	}
	if err := source.SignalProcess("", pid, start, unix.SIGKILL); !errors.Is(err, source.ErrProcessGone) {
		t.Errorf("after exit: %v, want ErrProcessGone", err)
	}
}
