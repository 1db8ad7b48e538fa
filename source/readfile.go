package source

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Reading files that may not be what they claim to be.
//
// Every file tcptop reads under its proc root is opened non-blocking and
// checked to be a regular file before a byte is read: a FIFO, a socket or
// a device where a sysctl should be (a --proc-root tree, an odd mount)
// would otherwise block a read forever, and no signal handler can end a
// goroutine stuck in read(2). procfs files are regular files (of size 0).
// Reads are bounded too: a file longer than its limit is cut there.

// ErrNotRegular is returned for a path that is not a regular file (a
// FIFO, socket, device or directory where a procfs file should be).
var ErrNotRegular = errors.New("not a regular file")

// maxProcFile bounds any procfs file tcptop reads in one piece (netstat,
// snmp and sockstat are a few KiB; 4 MiB is far beyond any real one).
const maxProcFile = 4 << 20

// readRegular reads at most limit bytes of the regular file path; cut
// reports that the file held more. It never blocks on a FIFO or device:
// those are refused with ErrNotRegular (as a *os.PathError).
func readRegular(path string, limit int) (b []byte, cut bool, err error) {
	fd, err := openRegular(path)
	if err != nil {
		return nil, false, err
	}
	defer unix.Close(fd)
	return readBounded(fd, path, limit, 4096)
}

// openRegular opens path read-only and non-blocking and checks it is a
// regular file.
func openRegular(path string) (int, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, &os.PathError{Op: "open", Path: path, Err: ErrNotRegular}
	}
	return fd, nil
}

// readBounded reads fd to its end or limit bytes, starting with a buffer
// of size hint.
func readBounded(fd int, path string, limit, hint int) ([]byte, bool, error) {
	b := make([]byte, 0, max(1, min(hint, limit+1)))
	for {
		if len(b) == cap(b) {
			if len(b) > limit {
				return b[:limit], true, nil
			}
			nb := make([]byte, len(b), min(2*cap(b), limit+1))
			copy(nb, b)
			b = nb
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if n > 0 {
			b = b[:len(b)+n]
		}
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			// Only a non-regular file would say so; a regular one does not.
			return b, false, &os.PathError{Op: "read", Path: path, Err: ErrNotRegular}
		case err != nil:
			return b, false, &os.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			if len(b) > limit {
				return b[:limit], true, nil
			}
			return b, false, nil
		}
	}
}

// readProcFile reads a whole procfs file (bounded by maxProcFile).
func readProcFile(path string) ([]byte, error) {
	b, _, err := readRegular(path, maxProcFile)
	return b, err
}
