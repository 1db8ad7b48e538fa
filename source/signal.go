package source

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pfKthread is PF_KTHREAD in /proc/PID/stat's flags (field 9).
const pfKthread = 0x00200000

// Errors of SignalProcess, as errors.Is sees them.
var (
	// ErrRefused: tcptop does not signal this process (pid 1, a kernel
	// thread, tcptop itself).
	ErrRefused = errors.New("refused")
	// ErrProcessGone: the process exited, or its pid now names another
	// process (its start time differs).
	ErrProcessGone = errors.New("process already gone")
)

// SignalProcess sends sig to the process pid that started at start (clock
// ticks after boot, /proc/PID/stat field 22) through a pidfd: the pidfd is
// opened first, then the start time read again, so the signal can only
// reach the process that was seen, never a later one that reused its pid.
// It refuses pid 1, kernel threads and the calling process.
func SignalProcess(procRoot string, pid int32, start uint64, sig unix.Signal) error {
	if procRoot == "" {
		procRoot = "/proc"
	}
	switch {
	case pid <= 1:
		return fmt.Errorf("%w: pid %d is init (or not a process)", ErrRefused, pid)
	case int(pid) == os.Getpid():
		return fmt.Errorf("%w: pid %d is tcptop itself", ErrRefused, pid)
	}
	fd, err := unix.PidfdOpen(int(pid), 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("%w (pid %d)", ErrProcessGone, pid)
		}
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		return fmt.Errorf("%w (pid %d: %v)", ErrProcessGone, pid, err)
	}
	got, ok := parseStatStart(b)
	if !ok || (start != 0 && got != start) {
		return fmt.Errorf("%w: pid %d now names another process (started at %d, not %d)", ErrProcessGone, pid, got, start)
	}
	if flags, ok := parseStatFlags(b); ok && flags&pfKthread != 0 {
		return fmt.Errorf("%w: pid %d is a kernel thread", ErrRefused, pid)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		switch {
		case errors.Is(err, unix.ESRCH):
			return fmt.Errorf("%w (pid %d)", ErrProcessGone, pid)
		case errors.Is(err, unix.EPERM):
			return fmt.Errorf("signal pid %d: permission denied", pid)
		}
		return fmt.Errorf("signal pid %d: %w", pid, err)
	}
	return nil
}

// parseStatFlags extracts the flags (field 9) of a /proc/PID/stat line.
func parseStatFlags(b []byte) (uint64, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 7 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(f[6]), 10, 64)
	return v, err == nil
}
