package churn

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// spawner starts child processes that each inherit the client side of a
// fresh connection as fd 3, hold it for ProcHold and exit; the parent keeps
// the accepted side until the child is reaped, then closes it. The child's
// pid thus owns a socket in /proc for a moment and then disappears, often
// in the middle of a /proc scan.
type spawner struct {
	c      *Churner
	lfd    int
	target unix.Sockaddr
	sleep  string
	slots  chan struct{} // one per live child, at most MaxChildren
}

func (s *spawner) run(ctx context.Context, ready chan<- error) {
	defer s.c.wg.Done()
	if err := s.c.enterNamespace(); err != nil {
		ready <- err
		return
	}
	ready <- nil
	hold := strconv.FormatFloat(s.c.cfg.ProcHold.Seconds(), 'f', 3, 64)
	p := pacer{rate: float64(s.c.cfg.ProcRate), last: time.Now()}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for n := p.take(now); n > 0 && ctx.Err() == nil; n-- {
				s.one(hold)
			}
		}
	}
}

func (s *spawner) one(hold string) {
	select {
	case s.slots <- struct{}{}:
	default:
		s.c.skipped.Add(1)
		return
	}
	cfd, sfd, err := pair(s.lfd, s.target)
	if err != nil {
		s.c.fail(err)
		<-s.slots
		return
	}
	// The child is forked from this thread, so it starts in the churn's
	// namespace too; it needs no network of its own, only the inherited fd.
	f := os.NewFile(uintptr(cfd), "churn-client")
	cmd := exec.Command(s.sleep, hold)
	cmd.ExtraFiles = []*os.File{f}
	err = cmd.Start()
	f.Close()
	if err != nil {
		s.c.fail(err)
		unix.Close(sfd)
		<-s.slots
		return
	}
	s.c.spawned.Add(1)
	s.c.kids.Add(1)
	go func() {
		defer s.c.kids.Done()
		if err := cmd.Wait(); err != nil {
			s.c.fail(err)
		}
		unix.Close(sfd)
		s.c.reaped.Add(1)
		<-s.slots
	}()
}
