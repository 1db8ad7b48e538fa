package record

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tcptop/tcptop/source"
)

// Flight recorder defaults: 15 minutes, at most 64 MiB of encoded chunks
// in memory (at 10k sockets a minute is well under 1 MiB; the byte cap
// bites from about 100k sockets with churn, and then the oldest minutes go
// first: a monitor must not take the memory of the machine it watches).
const (
	DefaultFlightWindow = 15 * time.Minute
	DefaultFlightBytes  = 64 << 20
)

// Flight is the flight recorder: the last Window of samples, encoded and
// compressed in memory exactly as in a recording file, dropped a chunk
// group (key chunk and its deltas) at a time. Add is called by the poll;
// Dump may be called from any goroutine at the same time.
type Flight struct {
	// Window is how far back it keeps; MaxBytes bounds the memory.
	Window   time.Duration
	MaxBytes int

	hdr    Header
	mu     sync.Mutex
	enc    *Encoder
	chunks []*Chunk
	bytes  int
}

// NewFlight returns a flight recorder keeping window (DefaultFlightWindow
// when 0) within maxBytes (DefaultFlightBytes when 0); h is the header
// its dumps carry.
func NewFlight(h Header, window time.Duration, maxBytes int) *Flight {
	if window <= 0 {
		window = DefaultFlightWindow
	}
	if maxBytes <= 0 {
		maxBytes = DefaultFlightBytes
	}
	h.Flight = true
	h.KeyEvery, h.ChunkEvery = DefaultKeyEvery, DefaultChunkEvery
	return &Flight{Window: window, MaxBytes: maxBytes, hdr: h, enc: NewEncoder(EncoderOptions{})}
}

// Add keeps s (and drops what fell out of the window).
func (f *Flight) Add(s *source.Sample) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.enc.Add(s)
	if c != nil {
		f.chunks = append(f.chunks, c)
		f.bytes += len(c.Bytes)
	}
	f.trim(s.Time)
	return err
}

// trim drops whole groups while the next group still covers the window
// (or the bytes are over the cap).
func (f *Flight) trim(now time.Time) {
	for {
		next := -1
		for i := 1; i < len(f.chunks); i++ {
			if f.chunks[i].Key {
				next = i
				break
			}
		}
		if next < 0 {
			return
		}
		if !f.chunks[next].First.Before(now.Add(-f.Window)) && f.bytes <= f.MaxBytes {
			return
		}
		for _, c := range f.chunks[:next] {
			f.bytes -= len(c.Bytes)
		}
		f.chunks = append(f.chunks[:0:0], f.chunks[next:]...)
	}
}

// Bytes is how much memory the kept chunks take.
func (f *Flight) Bytes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bytes
}

// Dump writes what the recorder holds to a new file (mode 0600) in dir
// ("" for the working directory, the temporary directory if that fails),
// named tcptop-flight-YYYYMMDD-HHMMSS.tcptop after now, and returns its
// path. Recording goes on.
func (f *Flight) Dump(dir string, now time.Time) (string, error) {
	f.mu.Lock()
	chunks := append([]*Chunk(nil), f.chunks...)
	if c := f.enc.Peek(); c != nil {
		chunks = append(chunks, c)
	}
	h := f.hdr
	f.mu.Unlock()
	if len(chunks) == 0 {
		return "", fmt.Errorf("flight recorder: nothing recorded yet")
	}
	h.Created = chunks[0].First
	name := "tcptop-flight-" + now.Format("20060102-150405") + ".tcptop"
	dirs := []string{dir}
	if dir == "" {
		dirs = []string{".", os.TempDir()}
	}
	var err error
	for _, d := range dirs {
		var path string
		path, err = dumpTo(filepath.Join(d, name), h, chunks)
		if err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("flight recorder: %w", err)
}

func dumpTo(path string, h Header, chunks []*Chunk) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	out, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, err = writeRecording(out, h, chunks)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(abs)
		return "", err
	}
	return abs, nil
}
