// Package sockfds lists every socket fd of every process in one pass of a
// BPF task_file iterator (bpf/sockfds.bpf.c): (tgid, fd, socket inode)
// for each open file whose inode is a socket. It is the fast path of
// tcptop's /proc fd scan, which otherwise learns a socket inode by a
// readlinkat of /proc/PID/fd/N (~2 µs per fd, every fd of every process).
//
// It is apart from package ebpf (the tracer) because package source uses
// it and package ebpf imports source. The program is C compiled by
// bpf2go; the generated Go files and objects are committed, so building
// tcptop needs no clang. scripts/ebpf-generate regenerates them.
package sockfds

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
)

// FD is one socket fd: its process (the thread group id, as /proc names
// it in the initial pid namespace), its number, its socket's inode.
type FD struct {
	TGID  int32
	FD    int32
	Inode uint64
}

// recordSize is the size of struct sock_fd in bpf/sockfds.bpf.c.
const recordSize = 16

// Lister holds the loaded iterator. It is not safe for concurrent use.
type Lister struct {
	prog *ebpf.Program
	link *link.Iter
	buf  []byte
}

// DefaultBTFPath is where the running kernel describes its types.
const DefaultBTFPath = "/sys/kernel/btf/vmlinux"

// Load loads and attaches the iterator. It needs CAP_BPF and CAP_PERFMON
// (or CAP_SYS_ADMIN), the kernel's BTF at btfPath (DefaultBTFPath when
// empty) and Linux 5.8+; the error says which is missing as the kernel or
// cilium/ebpf reports it.
func Load(btfPath string) (*Lister, error) {
	if btfPath == "" {
		btfPath = DefaultBTFPath
	}
	spec, err := loadSockfds()
	if err != nil {
		return nil, fmt.Errorf("sockfds: %w", err)
	}
	prog, err := fastLoad(spec, btfPath)
	if errors.Is(err, errFastLoad) {
		// The full CO-RE path: cilium/ebpf parses the whole BTF.
		var objs sockfdsObjects
		kernel, kerr := btf.LoadSpec(btfPath)
		if kerr != nil {
			return nil, fmt.Errorf("sockfds: kernel BTF: %w", kerr)
		}
		opts := &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel}}
		if err := spec.LoadAndAssign(&objs, opts); err != nil {
			return nil, fmt.Errorf("sockfds: load: %w", err)
		}
		prog, err = objs.SockFds, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sockfds: %w", err)
	}
	it, err := link.AttachIter(link.IterOptions{Program: prog})
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("sockfds: attach: %w", err)
	}
	return &Lister{prog: prog, link: it, buf: make([]byte, 64<<10)}, nil
}

// List appends every socket fd of every thread group leader to fds, in
// the kernel's order (by tgid, then by fd), and returns it.
func (l *Lister) List(fds []FD) ([]FD, error) {
	f, err := l.link.Open()
	if err != nil {
		return fds, fmt.Errorf("sockfds: open iterator: %w", err)
	}
	defer f.Close()
	rest := 0 // bytes of a partial record at the start of buf
	for {
		n, err := f.Read(l.buf[rest:])
		n += rest
		whole := n - n%recordSize
		fds = appendRecords(fds, l.buf[:whole])
		rest = copy(l.buf, l.buf[whole:n])
		if err == io.EOF {
			return fds, nil
		}
		if err != nil {
			return fds, fmt.Errorf("sockfds: read iterator: %w", err)
		}
	}
}

// appendRecords decodes struct sock_fd records (native byte order).
func appendRecords(fds []FD, b []byte) []FD {
	for ; len(b) >= recordSize; b = b[recordSize:] {
		fds = append(fds, FD{
			TGID:  int32(binary.NativeEndian.Uint32(b[0:])),
			FD:    int32(binary.NativeEndian.Uint32(b[4:])),
			Inode: binary.NativeEndian.Uint64(b[8:]),
		})
	}
	return fds
}

// Close detaches and unloads the iterator.
func (l *Lister) Close() error {
	return errors.Join(l.link.Close(), l.prog.Close())
}
