package sockfds

import (
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// TestWalkBTFMatchesCilium: the one-walk reader of the kernel's BTF finds
// the offsets and sizes cilium/ebpf's full parse finds, and the same
// target function.
func TestWalkBTFMatchesCilium(t *testing.T) {
	if _, err := os.Stat(DefaultBTFPath); err != nil {
		t.Skip(err)
	}
	k, err := readKernelBTF(DefaultBTFPath)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	var fn *btf.Func
	if err := spec.TypeByName("bpf_iter_task_file", &fn); err != nil {
		t.Fatal(err)
	}
	if id, _ := spec.TypeID(fn); uint32(id) != k.iterTarget {
		t.Errorf("bpf_iter_task_file: walk says type %d, cilium %d", k.iterTarget, id)
	}
	for s, fields := range wantFields {
		var st *btf.Struct
		if err := spec.TypeByName(s, &st); err != nil {
			t.Fatal(err)
		}
		if k.sizes[s] != st.Size {
			t.Errorf("%s: size %d, cilium %d", s, k.sizes[s], st.Size)
		}
		for _, f := range fields {
			off, size, ok := fieldOf(st.Members, f)
			if !ok {
				t.Fatalf("cilium finds no %s.%s", s, f)
			}
			if got := k.fields[s+"."+f]; got.off != off || got.size != size {
				t.Errorf("%s.%s: walk %+v, cilium off %d size %d", s, f, got, off, size)
			}
		}
	}
}

// fieldOf finds a field by name among members, looking into anonymous
// structs and unions.
func fieldOf(members []btf.Member, name string) (off, size uint32, ok bool) {
	for _, m := range members {
		if m.Name == name {
			n, err := btf.Sizeof(m.Type)
			if err != nil {
				return 0, 0, false
			}
			return uint32(m.Offset.Bytes()), uint32(n), true
		}
		if m.Name == "" {
			var inner []btf.Member
			switch c := btf.UnderlyingType(m.Type).(type) {
			case *btf.Struct:
				inner = c.Members
			case *btf.Union:
				inner = c.Members
			}
			if o, n, ok := fieldOf(inner, name); ok {
				return uint32(m.Offset.Bytes()) + o, n, true
			}
		}
	}
	return 0, 0, false
}

// loadOrSkip loads the iterator, skipping where this machine cannot.
func loadOrSkip(t *testing.T, load func() (*Lister, error)) *Lister {
	t.Helper()
	l, err := load()
	if errors.Is(err, unix.EPERM) || errors.Is(err, ebpf.ErrNotSupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// loadFullCORE loads the program the usual cilium/ebpf way (the fallback).
func loadFullCORE() (*Lister, error) {
	spec, err := loadSockfds()
	if err != nil {
		return nil, err
	}
	var objs sockfdsObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, err
	}
	it, err := link.AttachIter(link.IterOptions{Program: objs.SockFds})
	if err != nil {
		objs.Close()
		return nil, err
	}
	return &Lister{prog: objs.SockFds, link: it, buf: make([]byte, 4096)}, nil
}

// TestListsThisProcessSockets: both loads list exactly this process's
// socket fds (and no other file), with their numbers and inodes.
func TestListsThisProcessSockets(t *testing.T) {
	fast := loadOrSkip(t, func() (*Lister, error) { return Load("") })
	full := loadOrSkip(t, loadFullCORE)
	want := map[int32]uint64{}
	for range 300 {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		want[int32(fd)] = st.Ino
	}
	f, err := os.Open("/proc/self/status") // a file that is no socket
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	me := int32(os.Getpid())
	for name, l := range map[string]*Lister{"fast": fast, "full CO-RE": full} {
		fds, err := l.List(nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int32]uint64{}
		for _, r := range fds {
			if r.TGID == me {
				got[r.FD] = r.Inode
			}
		}
		// This process's other sockets: whatever the runtime opened.
		for fd, ino := range got {
			if _, ok := want[fd]; !ok {
				var st unix.Stat_t
				if err := unix.Fstat(int(fd), &st); err != nil || st.Ino != ino || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
					t.Errorf("%s: fd %d inode %d is not one of this process's sockets", name, fd, ino)
				}
				delete(got, fd)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d of this process's %d sockets listed", name, len(got), len(want))
		}
		for fd, ino := range want {
			if got[fd] != ino {
				t.Errorf("%s: fd %d: inode %d, want %d", name, fd, got[fd], ino)
			}
		}
		if _, ok := got[int32(f.Fd())]; ok {
			t.Errorf("%s: a regular file listed", name)
		}
		if !slices.IsSortedFunc(fds, func(a, b FD) int { return int(a.TGID) - int(b.TGID) }) {
			t.Errorf("%s: not in tgid order", name)
		}
	}
}

// BenchmarkLoad is the cost of loading and attaching the iterator.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		l, err := Load("")
		if err != nil {
			b.Skip(err)
		}
		l.Close()
	}
}

// BenchmarkLoadFullCORE is the same through cilium/ebpf's full CO-RE (a
// fresh parse of the kernel's BTF each time, as in a one-shot run).
func BenchmarkLoadFullCORE(b *testing.B) {
	for b.Loop() {
		spec, err := loadSockfds()
		if err != nil {
			b.Fatal(err)
		}
		kernel, err := btf.LoadKernelSpec()
		if err != nil {
			b.Skip(err)
		}
		var objs sockfdsObjects
		if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel}}); err != nil {
			b.Skip(err)
		}
		it, err := link.AttachIter(link.IterOptions{Program: objs.SockFds})
		if err != nil {
			b.Fatal(err)
		}
		it.Close()
		objs.Close()
	}
}

// BenchmarkList is one pass of the iterator over every process.
func BenchmarkList(b *testing.B) {
	l, err := Load("")
	if err != nil {
		b.Skip(err)
	}
	defer l.Close()
	var fds []FD
	for b.Loop() {
		if fds, err = l.List(fds[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(fds)), "sockets")
}

// TestFastLoad: on this kernel the program loads without cilium/ebpf's
// full CO-RE (Load would fall back to it silently).
func TestFastLoad(t *testing.T) {
	if _, err := os.Stat(DefaultBTFPath); err != nil {
		t.Skip(err)
	}
	spec, err := loadSockfds()
	if err != nil {
		t.Fatal(err)
	}
	prog, err := fastLoad(spec, DefaultBTFPath)
	if errors.Is(err, unix.EPERM) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	prog.Close()
}
