package main

import (
	"context"
	"time"

	"github.com/tcptop/tcptop/source"
)

// defaultFullEvery is how often the monitor and streams dump every socket
// (the ESTABLISHED ones included) with the dump schedule.
const defaultFullEvery = 10 * time.Second

// defaultFullQuiet is how old the full dump may get while the kernel's
// counters prove the ESTABLISHED sockets unchanged since
// (source.Partial.Unchanged): a server whose long-lived connections stay
// put, the common case at 100k sockets, then walks its table whole once a
// minute instead of every 10 s (issue 18), and the first connection that
// opens or closes brings the 10 s back.
const defaultFullQuiet = 60 * time.Second

// scheduleFor is the pipeline's FullEvery for a run of count polls: the
// dump schedule for the monitor and the streams; --once, --check, a
// single poll, the exporter and the per-socket lists (--sockets, --info)
// dump everything at every poll.
func (c *config) scheduleFor(count int) time.Duration {
	if c.once || c.check || count == 1 || c.listenSet || c.act.sockets || c.act.info {
		return 0
	}
	return c.fullEvery
}

// partialSource is the kernel reader as the recorder's Tee sees it: its
// Read is a partial read while partial is set (scheduledReader sets it
// around one Read), so the recording and the flight recorder keep every
// poll, partial ones included.
type partialSource struct {
	k       *source.Kernel
	partial bool
}

func (p *partialSource) Read(ctx context.Context) (*source.Sample, error) {
	if p.partial {
		return p.k.ReadPartial(ctx)
	}
	return p.k.Read(ctx)
}

// scheduledReader is the Poller's reader: the Tee over the kernel, which
// can also read partially (pipeline.PartialReader).
type scheduledReader struct {
	tee *recorder
	src *partialSource
}

func (s scheduledReader) Read(ctx context.Context) (*source.Sample, error) { return s.tee.Read(ctx) }

func (s scheduledReader) ReadPartial(ctx context.Context) (*source.Sample, error) {
	s.src.partial = true
	defer func() { s.src.partial = false }()
	return s.tee.Read(ctx)
}

func (s scheduledReader) FullTime() time.Time { return s.src.k.FullTime() }

// scheduled puts the kernel reader behind the recorder's Tee in a way
// the dump schedule can use.
func scheduled(k *source.Kernel, tee *recorder) scheduledReader {
	src := &partialSource{k: k}
	tee.R = src
	return scheduledReader{tee: tee, src: src}
}
