package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsRunDir is where `ip netns add` keeps named namespaces; a name given
// to OpenNamespace is looked up there.
const NetnsRunDir = "/var/run/netns"

// NetnsRunDirs are the directories whose entries name namespaces: a
// namespace's name is the entry that is a bind mount of it. (/var/run is
// usually a link to /run: a directory seen twice is read once.)
var NetnsRunDirs = []string{"/run/netns", "/var/run/netns"}

// initNetnsPath is a file of the initial network namespace: the one pid 1
// is in. Its identity tells the host's namespace from the others.
var initNetnsPath = "/proc/1/ns/net"

// DefaultLabel is the label of the initial network namespace (and of the
// caller's own namespace when it cannot be told apart), as the header and
// the JSON "netns" field show it.
const DefaultLabel = "default"

// NamespaceID identifies a network namespace machine-wide: the device and
// inode of its nsfs file (what fstat of /proc/PID/ns/net returns). Two
// handles on one namespace have equal IDs; an ID is not reused while a
// handle on the namespace is open.
type NamespaceID struct {
	Dev, Inode uint64
}

// String spells the ID as the kernel names the namespace: "net:[INODE]".
func (id NamespaceID) String() string {
	return "net:[" + strconv.FormatUint(id.Inode, 10) + "]"
}

// Namespace is an open network namespace that work can be run inside. It
// holds a file descriptor on the namespace, opened once: the identity and
// everything run inside belong to that namespace even if the path it was
// opened from (a /proc/PID/ns/net whose pid exits and is reused, a name
// deleted and re-added) later names another one. A nil *Namespace is the
// caller's own namespace, labelled "default".
//
// Do may be called from several goroutines at once; Close must not run
// concurrently with Do.
type Namespace struct {
	// ID is the namespace's identity (zero when it could not be read).
	ID NamespaceID
	// Name is the namespace's `ip netns` name, or "" when it has none:
	// the name asked for, else the first entry of NetnsRunDirs (in name
	// order) that is this namespace.
	Name string
	// Path is the file the namespace was opened from ("" for the caller's
	// own).
	Path string
	// Init reports that this is the initial network namespace (pid 1's);
	// false also when that could not be checked (not root).
	Init bool
	// Own reports that this is the caller's own namespace, opened with "":
	// Do runs its function on the calling goroutine.
	Own bool

	// initUnknown: whether this is the initial namespace could not be
	// checked.
	initUnknown bool
	// request is the name or path the namespace was opened with.
	request string
	handle  netns.NsHandle
	orig    netns.NsHandle
}

// OpenNamespace resolves a namespace by name (as `ip netns` lists them) or by
// path (anything with a '/', e.g. /proc/PID/ns/net). "" means the current one.
func OpenNamespace(name string) (*Namespace, error) {
	if name == "" {
		return openOwn()
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
	// From here on, only the descriptor counts: the path may change.
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
	ns := &Namespace{Path: path, request: name, handle: h, orig: orig, ID: NamespaceID{uint64(st.Dev), st.Ino}}
	if !strings.Contains(name, "/") {
		ns.Name = name
	}
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
	ns.identify()
	return ns, nil
}

// openOwn opens the caller's own namespace: a handle for its identity only,
// Do needs no setns.
func openOwn() (*Namespace, error) {
	ns := &Namespace{Own: true, initUnknown: true, handle: -1, orig: -1}
	h, err := netns.Get()
	if err != nil {
		// Without its identity the namespace is still readable: it is
		// labelled "default", as before identities existed.
		return ns, nil
	}
	var st unix.Stat_t
	if unix.Fstat(int(h), &st) == nil {
		ns.ID = NamespaceID{uint64(st.Dev), st.Ino}
	}
	h.Close()
	ns.identify()
	return ns, nil
}

// identify fills Init and, when no name was asked for, Name.
func (n *Namespace) identify() {
	n.initUnknown = true
	if n.ID == (NamespaceID{}) {
		return
	}
	var st unix.Stat_t
	if unix.Stat(initNetnsPath, &st) == nil {
		n.Init = NamespaceID{uint64(st.Dev), st.Ino} == n.ID
		n.initUnknown = false
	}
	if n.Name == "" {
		if names := NetnsNames()[n.ID]; len(names) > 0 {
			n.Name = names[0]
		}
	}
}

// NetnsNames maps every namespace named in NetnsRunDirs to its names, in
// name order. Entries are only stat'ed, never opened; an entry that is not
// a mounted namespace (a leftover empty file) names nothing. Unreadable
// directories are skipped.
func NetnsNames() map[NamespaceID][]string {
	out := make(map[NamespaceID][]string)
	var seenDirs []NamespaceID
	for _, dir := range NetnsRunDirs {
		var st unix.Stat_t
		if unix.Stat(dir, &st) != nil {
			continue
		}
		did := NamespaceID{uint64(st.Dev), st.Ino}
		if slices.Contains(seenDirs, did) {
			continue
		}
		seenDirs = append(seenDirs, did)
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries { // sorted by name
			var fs unix.Statfs_t
			p := filepath.Join(dir, e.Name())
			if unix.Stat(p, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
				continue
			}
			if unix.Statfs(p, &fs) != nil || fs.Type != unix.NSFS_MAGIC {
				continue
			}
			id := NamespaceID{uint64(st.Dev), st.Ino}
			if !slices.Contains(out[id], e.Name()) {
				out[id] = append(out[id], e.Name())
			}
		}
	}
	return out
}

// Close releases the namespace handles.
func (n *Namespace) Close() {
	if n == nil {
		return
	}
	if n.handle >= 0 {
		n.handle.Close()
		n.handle = -1
	}
	if n.orig >= 0 {
		n.orig.Close()
		n.orig = -1
	}
}

// Do runs fn on an OS thread that has entered the namespace, so sockets it
// creates and /proc/thread-self/net and /proc/sys/net files it opens belong
// to that namespace. For the caller's own namespace it just calls fn.
func (n *Namespace) Do(fn func() error) error {
	if n == nil || n.handle < 0 {
		return fn()
	}
	runtime.LockOSThread()
	if err := netns.Set(n.handle); err != nil {
		runtime.UnlockOSThread()
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("enter network namespace %q: permission denied (needs root or CAP_SYS_ADMIN)", n.asked())
		}
		return fmt.Errorf("enter network namespace %q: %w", n.asked(), err)
	}
	ferr := fn()
	if err := netns.Set(n.orig); err != nil {
		// Leave the thread locked: the runtime discards it when this
		// goroutine exits instead of reusing a thread in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("return from network namespace %q: %w", n.asked(), err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// asked is the namespace as the user asked for it, for error messages.
func (n *Namespace) asked() string {
	if n.request != "" {
		return n.request
	}
	return n.Label()
}

// Label is how the namespace is shown (the header, the JSON "netns"
// field), by this rule:
//
//   - a namespace with an `ip netns` name shows it (the name asked for,
//     else the first in name order), also when tcptop runs inside it
//     (`ip netns exec NAME tcptop`) or opens it by path;
//   - else the initial namespace is "default", and so is the caller's own
//     namespace when it cannot be told from the initial one (its identity
//     or pid 1's is unreadable, as when not root);
//   - else the namespace shows its identity as the kernel spells it,
//     "net:[INODE]" (what `readlink /proc/PID/ns/net` and lsns show).
func (n *Namespace) Label() string {
	switch {
	case n == nil:
		return DefaultLabel
	case n.Name != "":
		return n.Name
	case n.Init, n.Own && n.initUnknown:
		return DefaultLabel
	case n.ID == (NamespaceID{}) && n.request != "":
		return n.request
	}
	return n.ID.String()
}

// entered reports whether Do enters another namespace (setns) rather than
// running in the caller's.
func (n *Namespace) entered() bool { return n != nil && n.handle >= 0 }
