package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsRunDir is where `ip netns add` keeps named namespaces.
const NetnsRunDir = "/var/run/netns"

// Namespace is a network namespace that work can be run inside. The zero
// value (and a nil pointer) is the caller's own namespace.
type Namespace struct {
	// Name is what the user asked for ("" for the current namespace).
	Name   string
	handle netns.NsHandle
	orig   netns.NsHandle
}

// OpenNamespace resolves a namespace by name (as `ip netns` lists them) or by
// path (anything with a '/', e.g. /proc/PID/ns/net). "" means the current one.
func OpenNamespace(name string) (*Namespace, error) {
	if name == "" {
		return &Namespace{handle: -1, orig: -1}, nil
	}
	path := name
	if !strings.Contains(name, "/") {
		path = filepath.Join(NetnsRunDir, name)
	}
	// Only nsfs files (they stat as regular files) can be namespaces. Do not
	// open anything else: opening a FIFO blocks until a writer comes, and
	// opening a device can have side effects.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("network namespace %q: %s is not a namespace file", name, path)
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("network namespace %q not found (%s does not exist; see `ip netns list`)", name, path)
		case errors.Is(err, os.ErrPermission):
			return nil, fmt.Errorf("network namespace %q: permission denied opening %s", name, path)
		}
		return nil, fmt.Errorf("network namespace %q: %w", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err == nil {
		// An nsfs file; anything else (a plain file) is not a namespace.
		var fs unix.Statfs_t
		if unix.Fstatfs(int(h), &fs) == nil && fs.Type != unix.NSFS_MAGIC && fs.Type != unix.PROC_SUPER_MAGIC {
			h.Close()
			return nil, fmt.Errorf("network namespace %q: %s is not a namespace file", name, path)
		}
	}
	orig, err := netns.Get()
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("read own network namespace: %w", err)
	}
	ns := &Namespace{Name: name, handle: h, orig: orig}
	// Entering needs CAP_SYS_ADMIN: find out now, not at the first poll.
	if err := ns.Do(func() error { return nil }); err != nil {
		ns.Close()
		if errors.Is(err, unix.EINVAL) {
			// setns(CLONE_NEWNET) refuses another kind of namespace
			// (/proc/PID/ns/uts, say).
			return nil, fmt.Errorf("network namespace %q: %s is not a network namespace", name, path)
		}
		return nil, err
	}
	return ns, nil
}

// Close releases the namespace handles.
func (n *Namespace) Close() {
	if n == nil {
		return
	}
	if n.handle >= 0 {
		n.handle.Close()
	}
	if n.orig >= 0 {
		n.orig.Close()
	}
}

// Do runs fn on an OS thread that has entered the namespace, so sockets it
// creates and /proc/thread-self/net and /proc/sys/net files it opens belong
// to that namespace. For the current namespace it just calls fn.
func (n *Namespace) Do(fn func() error) error {
	if n == nil || n.handle < 0 {
		return fn()
	}
	runtime.LockOSThread()
	if err := netns.Set(n.handle); err != nil {
		runtime.UnlockOSThread()
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("enter network namespace %q: permission denied (needs root or CAP_SYS_ADMIN)", n.Name)
		}
		return fmt.Errorf("enter network namespace %q: %w", n.Name, err)
	}
	ferr := fn()
	if err := netns.Set(n.orig); err != nil {
		// Leave the thread locked: the runtime discards it when this
		// goroutine exits instead of reusing a thread in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("return from network namespace %q: %w", n.Name, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Label is how the namespace is shown: its name, or "default".
func (n *Namespace) Label() string {
	if n == nil || n.Name == "" {
		return "default"
	}
	return n.Name
}
