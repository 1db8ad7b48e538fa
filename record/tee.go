package record

import (
	"context"
	"sync"

	"github.com/tcptop/tcptop/source"
)

// Tee is a source.Reader that hands every sample it reads to a recording
// file and to the flight recorder (either may be nil). The sample is
// returned whatever happens to the recording: a failed write (a full
// disk) becomes a warning on the sample, every poll, and Err returns it.
type Tee struct {
	R      source.Reader
	W      *Writer
	Flight *Flight

	mu  sync.Mutex
	err error
}

// Read reads one sample from R and records it.
func (t *Tee) Read(ctx context.Context) (*source.Sample, error) {
	s, err := t.R.Read(ctx)
	if err != nil {
		return s, err
	}
	// A replay knows only the wall clock: drop the monotonic reading so
	// that rates and ages live are computed from the same times a replay
	// computes them from (otherwise they differ in the 6th digit).
	s.Time = s.Time.Round(0)
	if t.Flight != nil {
		t.Flight.Add(s)
	}
	if t.W != nil {
		if werr := t.W.Write(s); werr != nil {
			t.mu.Lock()
			t.err = werr
			t.mu.Unlock()
			s.Warnings = append(s.Warnings, source.Warning{Err: werr})
		}
	}
	return s, nil
}

// Err is the recording's write error, if any.
func (t *Tee) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}
