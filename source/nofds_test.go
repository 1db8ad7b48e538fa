package source_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

const noFDsEnv = "TCPTOP_TEST_NOFDS_NETNS"

// TestOutOfFDs: when tcptop has no file descriptor left (a descriptor
// leak is when one looks), the poll says so in a warning of its own, and
// owners known from an earlier poll are kept rather than taken for gone
// processes. The starved part runs in a child (this test binary again),
// whose RLIMIT_NOFILE it lowers.
func TestOutOfFDs(t *testing.T) {
	name, _ := nstest.New(t, "tcptop-nofds")
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutOfFDsChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), noFDsEnv+"="+name)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestOutOfFDsChild") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestOutOfFDsChild(t *testing.T) {
	name := os.Getenv(noFDsEnv)
	if name == "" {
		t.Skip("run by TestOutOfFDs")
	}
	k, err := source.Open(source.Options{Netns: name, Attribute: true})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	port := listenIn(t, k.Netns())
	me := int32(os.Getpid())
	owner := func(s *source.Sample) []int32 {
		for _, so := range s.Sockets {
			if so.Local.Port() == port {
				return so.Owners
			}
		}
		return nil
	}
	s, err := k.Read(t.Context())
	if err != nil || !slices.Equal(owner(s), []int32{me}) || len(s.Warnings) != 0 {
		t.Fatalf("before: %v, owners %v, warnings %q", err, owner(s), s.Warnings)
	}
	unreadable := s.Unreadable // other users' processes, in a sandbox

	// Starve: a limit just above the highest fd, every free number taken
	// but one (the /proc listing gets it; no process's fd directory can
	// then be opened). Taking them changes this process's fd count, so
	// the next scan must read it again.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	top := 0
	for _, e := range entries {
		var fd int
		for _, c := range e.Name() {
			fd = fd*10 + int(c-'0')
		}
		top = max(top, fd)
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(top + 4)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var held []int
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		held = append(held, fd)
	}
	unix.Close(held[len(held)-1])
	held = held[:len(held)-1]

	s, err = k.Read(t.Context())

	for _, fd := range held {
		unix.Close(fd)
	}
	unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	if err != nil {
		t.Fatal(err)
	}
	var found *source.Warning
	for i, w := range s.Warnings {
		if w.Kind == source.WarnOutOfFDs {
			found = &s.Warnings[i]
		}
	}
	if found == nil || !strings.HasPrefix(found.String(), "out of file descriptors: attribution incomplete (too many open files; ") {
		t.Errorf("no out-of-fds warning: %q", s.Warnings)
	}
	if !slices.Equal(owner(s), []int32{me}) || s.Unreadable != unreadable || !s.Attributed {
		t.Errorf("starved: owners %v (want the known %d), unreadable %d (before %d), attributed %v", owner(s), me, s.Unreadable, unreadable, s.Attributed)
	}
	t.Logf("warnings: %q", s.Warnings)
}
