package record

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sync"
	"time"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/pipeline"
)

// ErrEnd is what Player.Next returns after the last poll.
var ErrEnd = errors.New("end of the recording")

// Warmup returns how many polls before a jump a Player analyses first:
// enough for the rules that look back (growth over GrowthWindowSec, the
// CLOSE_WAIT age threshold) at the recording's interval, plus two. A
// jump costs that many analyses (at 10k sockets ~35-60 ms each), so it
// is kept short: sparklines after a jump start from the warmup and fill
// as the replay plays; playing on is exact.
func Warmup(th model.Thresholds, interval time.Duration) int {
	if interval <= 0 {
		interval = time.Second
	}
	look := time.Duration(max(th.GrowthWindowSec, th.CloseWaitAgeSec) * float64(time.Second))
	return min(model.SparkPoints, int((look+interval-1)/interval)+2)
}

// Player drives the monitor over a recording: Next plays forward through
// one pipeline.Poller (exactly as the live monitor polled, so the same
// findings), and Seek jumps anywhere by analysing the Warmup polls before
// the target first. After a jump, ages of sockets older than the warmup
// are counted from its start, and the sparklines start there. A background pass over a second reader of the file
// finds where the findings change, for FindingChange. Next, Seek,
// SeekTime and FindingChange are called from one goroutine at a time
// (the monitor's poll command); SetOptions and Position from any.
type Player struct {
	// Warmup is how many polls before a jump are analysed first (see
	// the Warmup function, its default).
	Warmup int

	r  *Reader
	th model.Thresholds
	// play serialises the moves: a step may arrive while a poll runs.
	play sync.Mutex
	mu   sync.Mutex // guards opt, gen, pos
	opt  model.Options
	gen  int
	pos  int // of the snapshot last returned; -1 before the first
	poll *pipeline.Poller
	next int // the position the poller's reader reads next

	cache    map[int]cached
	idxMu    sync.Mutex
	sigs     []uint64 // findings signature by position, from the background pass
	idxDone  bool
	stopIdx  context.CancelFunc
	idxEnded chan struct{}
}

type cached struct {
	snap *model.Snapshot
	gen  int
}

const cacheLen = 64

// NewPlayer plays the recording at path with thresholds th (the
// recording's own when zero) and starts indexing its findings.
func NewPlayer(path string, th model.Thresholds, opt model.Options) (*Player, error) {
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	if th == (model.Thresholds{}) {
		th = r.Header().Thresholds
	}
	p := &Player{Warmup: Warmup(th, r.Header().Interval), r: r, th: th, opt: opt, pos: -1, next: -1, cache: map[int]cached{}}
	ctx, cancel := context.WithCancel(context.Background())
	p.stopIdx, p.idxEnded = cancel, make(chan struct{})
	r2, err := Open(path)
	if err != nil {
		r.Close()
		return nil, err
	}
	go p.index(ctx, r2)
	return p, nil
}

// Reader is the recording being played (its Header and Damage).
func (p *Player) Reader() *Reader { return p.r }

// Close stops the indexing and closes the file.
func (p *Player) Close() error {
	p.stopIdx()
	<-p.idxEnded
	return p.r.Close()
}

// SetOptions sets the filter and sort for the next snapshots.
func (p *Player) SetOptions(o model.Options) {
	p.mu.Lock()
	p.opt = o
	p.gen++
	p.mu.Unlock()
}

func (p *Player) options() (model.Options, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opt, p.gen
}

// Position returns the position of the poll on screen (0-based; -1
// before the first) and how many polls the recording holds.
func (p *Player) Position() (pos, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pos, p.r.Len()
}

// Bounds are the first and last recorded times.
func (p *Player) Bounds() (start, end time.Time) { return p.r.Start(), p.r.End() }

// Next returns the next poll's snapshot; ErrEnd after the last.
func (p *Player) Next(ctx context.Context) (*model.Snapshot, error) {
	p.play.Lock()
	defer p.play.Unlock()
	pos, _ := p.Position()
	return p.seek(ctx, pos+1)
}

// Seek returns the snapshot of poll i (clamped to the recording).
func (p *Player) Seek(ctx context.Context, i int) (*model.Snapshot, error) {
	p.play.Lock()
	defer p.play.Unlock()
	return p.seek(ctx, i)
}

func (p *Player) seek(ctx context.Context, i int) (*model.Snapshot, error) {
	if i >= p.r.Len() {
		return nil, ErrEnd
	}
	i = max(0, i)
	opt, gen := p.options()
	if c, ok := p.cache[i]; ok {
		s := c.snap
		if c.gen != gen {
			s = model.Rebuild(s, opt)
			p.cache[i] = cached{s, gen}
		}
		p.setPos(i)
		return s, nil
	}
	if p.poll == nil || p.next != i {
		start := max(0, i-p.Warmup)
		p.r.Seek(start)
		p.poll = pipeline.New(pipeline.Config{Reader: p.r, Thresholds: p.th, Options: opt})
		p.next = start
	}
	p.poll.SetOptions(opt)
	var snap *model.Snapshot
	for p.next <= i {
		at := p.r.Pos()
		s, err := p.poll.Next(ctx)
		if err != nil {
			p.poll = nil
			if errors.Is(err, io.EOF) {
				return nil, ErrEnd
			}
			return nil, err
		}
		// A damaged chunk was skipped: positions moved on.
		if at != p.next {
			p.next = at
		}
		p.next = p.r.Pos()
		p.remember(p.r.Pos()-1, s, gen)
		snap = s
	}
	p.setPos(p.r.Pos() - 1)
	return snap, nil
}

func (p *Player) setPos(i int) {
	p.mu.Lock()
	p.pos = i
	p.mu.Unlock()
}

func (p *Player) remember(i int, s *model.Snapshot, gen int) {
	if len(p.cache) >= cacheLen {
		for k := range p.cache {
			if k < i-cacheLen/2 || k > i+cacheLen/2 {
				delete(p.cache, k)
			}
		}
		if len(p.cache) >= cacheLen {
			clear(p.cache)
		}
	}
	p.cache[i] = cached{s, gen}
}

// SeekTime returns the snapshot of the first poll at or after t.
func (p *Player) SeekTime(ctx context.Context, t time.Time) (*model.Snapshot, error) {
	p.play.Lock()
	defer p.play.Unlock()
	saved := p.r.Pos()
	i := p.r.SeekTime(t)
	p.r.Seek(saved)
	if i >= p.r.Len() {
		i = p.r.Len() - 1
	}
	return p.seek(ctx, i)
}

// Signature sums up a snapshot's findings (rule, severity, subject): two
// polls with the same signature show the same findings.
func Signature(s *model.Snapshot) uint64 {
	h := fnv.New64a()
	for _, f := range s.Findings {
		fmt.Fprintf(h, "%s\x00%d\x00%s\x00", f.Rule, f.Severity, f.Subject.String())
	}
	return h.Sum64()
}

// index analyses the whole recording once, in order, and keeps each
// poll's findings signature.
func (p *Player) index(ctx context.Context, r *Reader) {
	defer close(p.idxEnded)
	defer r.Close()
	poll := pipeline.New(pipeline.Config{Reader: r, Thresholds: p.th})
	for {
		at := r.Pos()
		s, err := poll.Next(ctx)
		if err != nil {
			p.idxMu.Lock()
			p.idxDone = true
			p.idxMu.Unlock()
			return
		}
		sig := Signature(s)
		p.idxMu.Lock()
		for len(p.sigs) < at {
			p.sigs = append(p.sigs, 0) // skipped (damaged)
		}
		p.sigs = append(p.sigs, sig)
		p.idxMu.Unlock()
	}
}

// Indexed reports how far the findings index has got (0 to 1).
func (p *Player) Indexed() float64 {
	p.idxMu.Lock()
	defer p.idxMu.Unlock()
	if p.idxDone {
		return 1
	}
	return float64(len(p.sigs)) / float64(max(1, p.r.Len()))
}

// ErrNoChange: no change in findings that way (as far as indexed).
var ErrNoChange = errors.New("no change in findings")

// FindingChange jumps to the next (forward) or previous poll whose
// findings differ from the poll before it.
func (p *Player) FindingChange(ctx context.Context, forward bool) (*model.Snapshot, error) {
	p.play.Lock()
	defer p.play.Unlock()
	pos, _ := p.Position()
	p.idxMu.Lock()
	sigs, done := p.sigs, p.idxDone
	p.idxMu.Unlock()
	target := -1
	if forward {
		for i := max(1, pos+1); i < len(sigs); i++ {
			if sigs[i] != sigs[i-1] {
				target = i
				break
			}
		}
	} else {
		for i := min(pos, len(sigs)) - 1; i >= 1; i-- {
			if sigs[i] != sigs[i-1] {
				target = i
				break
			}
		}
	}
	if target < 0 {
		if !done && forward {
			return nil, fmt.Errorf("%w yet: findings indexed up to poll %d of %d", ErrNoChange, len(sigs), p.r.Len())
		}
		return nil, ErrNoChange
	}
	return p.seek(ctx, target)
}
