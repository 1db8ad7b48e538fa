package record

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tcptop/tcptop/source"
)

// WriterOptions configure a Writer.
type WriterOptions struct {
	EncoderOptions
	// MaxSize rotates the file when it grows past this many bytes: FILE
	// is renamed FILE.1 (replacing an older one) and a new FILE starts
	// with a key frame, so at most about twice MaxSize is kept. 0: no cap.
	MaxSize int64
	// MaxAge rotates the file the same way when its first poll is older
	// than this. 0: no cap.
	MaxAge time.Duration
}

// Writer appends samples to a recording file, created mode 0600 (it
// holds command lines and addresses). Each closed chunk is written at
// once; Close writes the open one. Not safe for concurrent use.
type Writer struct {
	path    string
	f       *os.File
	hdr     Header
	opt     WriterOptions
	enc     *Encoder
	size    int64
	started time.Time
	err     error
}

// Create creates (or truncates) the recording at path and writes its
// header.
func Create(path string, h Header, opt WriterOptions) (*Writer, error) {
	if opt.Redact != nil {
		h.Redacted = true
		h.Host = opt.Redact.Text(h.Host)
	}
	w := &Writer{path: path, hdr: h, opt: opt}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	// An existing file keeps its mode under O_TRUNC: make it private.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	h := w.hdr
	h.Created = time.Now()
	h.KeyEvery, h.ChunkEvery = w.opt.KeyEvery, w.opt.ChunkEvery
	if h.KeyEvery <= 0 {
		h.KeyEvery = DefaultKeyEvery
	}
	if h.ChunkEvery <= 0 {
		h.ChunkEvery = DefaultChunkEvery
	}
	b, err := encodeHeader(h)
	if err == nil {
		_, err = f.Write(b)
	}
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size, w.started = f, int64(len(b)), time.Time{}
	w.enc = NewEncoder(w.opt.EncoderOptions)
	return nil
}

// Path is the file being written.
func (w *Writer) Path() string { return w.path }

// Size is how many bytes the current file holds.
func (w *Writer) Size() int64 { return w.size }

// Write records one sample. After a write error every later call returns
// it (a full disk does not go unnoticed; what was written replays).
func (w *Writer) Write(s *source.Sample) error {
	if w.err != nil {
		return w.err
	}
	if w.started.IsZero() {
		w.started = s.Time
	}
	c, err := w.enc.Add(s)
	if err != nil {
		return err
	}
	if c != nil {
		if err := w.put(c); err != nil {
			return err
		}
		if (w.opt.MaxSize > 0 && w.size >= w.opt.MaxSize) || (w.opt.MaxAge > 0 && s.Time.Sub(w.started) >= w.opt.MaxAge) {
			if err := w.rotate(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// rotate moves the file aside and starts a new one whose first poll is
// s (already in the open chunk, which moves with the encoder's state: it
// is re-encoded in the new file from a key frame).
func (w *Writer) rotate(s *source.Sample) error {
	if err := w.f.Close(); err != nil {
		return w.fail(err)
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return w.fail(err)
	}
	if err := w.open(); err != nil {
		return w.fail(err)
	}
	w.started = s.Time
	_, err := w.enc.Add(s)
	return err
}

func (w *Writer) put(c *Chunk) error {
	n, err := w.f.Write(c.Bytes)
	w.size += int64(n)
	if err != nil {
		return w.fail(err)
	}
	return nil
}

func (w *Writer) fail(err error) error {
	w.err = fmt.Errorf("record %s: %w", w.path, err)
	return w.err
}

// Close writes the open chunk and closes the file.
func (w *Writer) Close() error {
	if w.f == nil {
		return w.err
	}
	var err error
	if c := w.enc.Flush(); c != nil && w.err == nil {
		err = w.put(c)
	}
	err = errors.Join(err, w.f.Sync(), w.f.Close())
	w.f = nil
	return err
}

// writeRecording writes a whole recording (header and chunks) to out: the
// flight recorder's dump.
func writeRecording(out io.Writer, h Header, chunks []*Chunk) (int64, error) {
	b, err := encodeHeader(h)
	if err != nil {
		return 0, err
	}
	n, err := out.Write(b)
	total := int64(n)
	for _, c := range chunks {
		if err != nil {
			break
		}
		n, err = out.Write(c.Bytes)
		total += int64(n)
	}
	return total, err
}
