package incidents

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The children of the healthy workloads and the variants of issue 12
// ("findings an on-call engineer can trust"): services that close late,
// close first, accept in pulses or slowly, stream to slow readers, and a
// pre-forked pool whose workers share one listening socket.

// connDeadline bounds any one exchange of these services.
const connDeadline = 10 * time.Second

// lag waits for the peer's FIN, then holds the socket in CLOSE_WAIT for d
// before closing it: a service that closes late, not one that leaks.
func lag(ctx context.Context, cn net.Conn, d time.Duration) {
	defer cn.Close()
	_ = cn.SetDeadline(time.Now().Add(connDeadline))
	_, _ = io.Copy(io.Discard, cn)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// respond reads one request line, answers and closes first.
func respond(ctx context.Context, cn net.Conn) {
	defer cn.Close()
	stop := context.AfterFunc(ctx, func() { cn.Close() })
	defer stop()
	_ = cn.SetDeadline(time.Now().Add(connDeadline))
	if _, err := bufio.NewReader(cn).ReadBytes('\n'); err != nil && !errors.Is(err, io.EOF) {
		return
	}
	_, _ = io.WriteString(cn, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
}

// stream writes to the connection as fast as the peer reads, until it
// goes away or ctx ends.
func stream(ctx context.Context, cn net.Conn) {
	defer cn.Close()
	stop := context.AfterFunc(ctx, func() { cn.Close() })
	defer stop()
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = 'x'
	}
	for {
		// A reader that stops for long is gone.
		_ = cn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := cn.Write(buf); err != nil {
			return
		}
	}
}

// exchange sends a request line (then shuts down the write side when
// halfClose) and reads the answer until the server closes.
func exchange(ctx context.Context, cn net.Conn, halfClose bool, timeout time.Duration) {
	stop := context.AfterFunc(ctx, func() { cn.Close() })
	defer stop()
	_ = cn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(cn, "GET / HTTP/1.0\r\n"); err != nil {
		return
	}
	if halfClose {
		if tc, ok := cn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	_, _ = io.Copy(io.Discard, cn)
}

// serveRaw runs the services that decide themselves when to call
// accept() (modePulse, modeSlowAccept), on non-blocking listening sockets.
func serveRaw(ctx context.Context, c childSpec, r *readier) error {
	backlog := c.Backlog
	if backlog <= 0 {
		backlog = 1024
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, a := range c.Listen {
		fd, err := listenFD(a, backlog)
		if err != nil {
			return err
		}
		fds = append(fds, fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			return fmt.Errorf("nonblocking %s: %w", a, err)
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// acceptOne accepts one waiting connection from fd and answers it in
	// the background; false when none waits.
	acceptOne := func(fd int) bool {
		nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err != nil {
			return false
		}
		f := os.NewFile(uintptr(nfd), "conn")
		cn, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return true
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			respond(ctx, cn)
		}()
		return true
	}
	if err := r.ready(childReport{}); err != nil {
		return err
	}
	if c.Mode == modePulse {
		return pulse(ctx, fds, time.Duration(c.PauseMS)*time.Millisecond, acceptOne)
	}
	if c.AcceptRate <= 0 {
		return errors.New("slowaccept: no accept rate")
	}
	batch := max(1, c.AcceptBatch)
	t := time.NewTicker(time.Duration(float64(batch) * float64(time.Second) / c.AcceptRate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, fd := range fds {
			for i := 0; i < batch && acceptOne(fd); i++ {
			}
		}
	}
}

// pulse waits for a connection to arrive on any of fds, lets the queues
// fill for hold, then accepts all that waits; again.
func pulse(ctx context.Context, fds []int, hold time.Duration, acceptOne func(fd int) bool) error {
	pfds := make([]unix.PollFd, len(fds))
	for i, fd := range fds {
		pfds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	for ctx.Err() == nil {
		n, err := unix.Poll(pfds, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll: %w", err)
		}
		if n <= 0 {
			continue
		}
		t := time.NewTimer(hold)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		for _, fd := range fds {
			for acceptOne(fd) {
			}
		}
	}
	return nil
}

// pool is the master of a pre-forked pool: it listens, starts the workers
// (this executable again, the listening socket inherited as fd 3, as a
// fork after listen() leaves it) and waits. It never accepts.
func pool(ctx context.Context, c childSpec, r *readier) error {
	if len(c.Listen) != 1 || c.Workers <= 0 {
		return errors.New("pool: want one listen address and workers")
	}
	backlog := c.Backlog
	if backlog <= 0 {
		backlog = 1024
	}
	fd, err := listenFD(c.Listen[0], backlog)
	if err != nil {
		return err
	}
	ln := os.NewFile(uintptr(fd), "listener "+c.Listen[0])
	defer ln.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	type kid struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		done  chan struct{}
	}
	var kids []*kid
	defer func() {
		for _, k := range kids {
			k.stdin.Close()
		}
		for _, k := range kids {
			select {
			case <-k.done:
			case <-time.After(3 * time.Second):
				_ = k.cmd.Process.Kill()
				<-k.done
			}
		}
	}()
	spec := childSpec{Role: roleWorker, Comm: c.Comm, MaxLifeMS: c.MaxLifeMS, MaxConns: c.MaxConns}
	js, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	var pids []int
	for range c.Workers {
		cmd := exec.Command(exe, childArg, roleWorker+":"+c.Comm)
		cmd.Env = append(os.Environ(), childEnv+"="+string(js))
		cmd.ExtraFiles = []*os.File{ln}
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		k := &kid{cmd: cmd, stdin: stdin, done: make(chan struct{})}
		kids = append(kids, k)
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		go func() {
			_, _ = io.Copy(io.Discard, br)
			_ = cmd.Wait()
			close(k.done)
		}()
		if !strings.HasPrefix(line, "READY ") {
			return fmt.Errorf("worker %d did not start", cmd.Process.Pid)
		}
		pids = append(pids, cmd.Process.Pid)
	}
	if err := r.ready(childReport{Workers: pids}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// worker accepts MaxConns connections on the inherited listening socket
// (fd 3) and never closes them; then it stops accepting (keeping the
// socket), leaving the rest to the other workers.
func worker(ctx context.Context, c childSpec, r *readier) error {
	f := os.NewFile(3, "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("worker: inherited listener: %w", err)
	}
	var held []net.Conn
	defer func() {
		for _, cn := range held {
			cn.Close()
		}
	}()
	if err := r.ready(childReport{}); err != nil {
		ln.Close()
		return err
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for len(held) < c.MaxConns {
		cn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		held = append(held, cn)
	}
	// Keep the listening socket open without accepting, as a busy worker
	// of a real pool does: the pool still shares it.
	<-ctx.Done()
	return nil
}

// slowRead opens Conns connections with a small receive buffer and reads
// ReadBPS bytes a second from each: the server's Send-Q stays large.
func slowRead(ctx context.Context, c childSpec, r *readier) error {
	if len(c.Targets) == 0 || c.Conns <= 0 || c.ReadBPS <= 0 {
		return errors.New("slowread client: no targets, connections or rate")
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	if c.RcvBuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, c.RcvBuf)
			})
			return errors.Join(err, serr)
		}
	}
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	for i := range c.Conns {
		cn, err := d.DialContext(ctx, "tcp4", c.Targets[i%len(c.Targets)])
		if err != nil {
			return fmt.Errorf("slowread connect: %w", err)
		}
		conns = append(conns, cn)
	}
	const tick = 100 * time.Millisecond
	chunk := max(1, c.ReadBPS/10)
	var wg sync.WaitGroup
	first := make(chan struct{}, len(conns))
	for _, cn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stop := context.AfterFunc(ctx, func() { cn.Close() })
			defer stop()
			buf := make([]byte, chunk)
			t := time.NewTicker(tick)
			defer t.Stop()
			for n := 0; ; n++ {
				_ = cn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(cn, buf); err != nil {
					return
				}
				if n == 0 {
					first <- struct{}{}
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	for range conns {
		select {
		case <-first:
		case <-ctx.Done():
			wg.Wait()
			return nil
		}
	}
	if err := r.ready(childReport{OK: int64(len(conns))}); err != nil {
		return err
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}
