package record

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// synthFile records a small population and returns the file's bytes.
func synthFile(t testing.TB) ([]byte, int) {
	path := filepath.Join(t.TempDir(), "r.tcptop")
	want := writeSynth(t, path, 200, 5, 60, WriterOptions{EncoderOptions: EncoderOptions{KeyEvery: 20 * time.Second, ChunkEvery: 5 * time.Second}})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b, len(want)
}

// replayBytes opens and reads everything; it must never panic.
func replayBytes(b []byte) (int, []string, error) {
	r, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return 0, nil, err
	}
	n := 0
	for {
		_, err := r.Read(context.Background())
		if errors.Is(err, io.EOF) {
			return n, r.Damage(), nil
		}
		if err != nil {
			return n, r.Damage(), err
		}
		n++
	}
}

func TestTruncated(t *testing.T) {
	b, total := synthFile(t)
	// A cut right at a chunk's start leaves a shorter whole file.
	whole, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	starts := map[int]bool{}
	for _, c := range whole.chunks {
		starts[int(c.off)] = true
	}
	// Every cut: what is intact replays, and at most the last chunk (5
	// polls here) of what was written is lost.
	for cut := len(b) - 1; cut > 0; cut -= max(1, len(b)/200) {
		n, damage, err := replayBytes(b[:cut])
		if err != nil {
			if errors.Is(err, ErrEmpty) || errors.Is(err, ErrNoFrames) {
				continue
			}
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if n > total || len(damage) == 0 && !starts[cut] {
			t.Fatalf("cut at %d: %d polls, damage %q", cut, n, damage)
		}
	}
	n, damage, err := replayBytes(b[:len(b)-10])
	if err != nil || n < total-5 || len(damage) != 1 {
		t.Fatalf("torn tail: %d of %d polls, %q, %v", n, total, damage, err)
	}
}

func TestFlippedBytes(t *testing.T) {
	b, total := synthFile(t)
	hdrEnd := fileHdrFixed + int(binary.LittleEndian.Uint32(b[12:])) + 4
	step := max(1, (len(b)-hdrEnd)/150)
	for off := hdrEnd; off < len(b); off += step {
		c := bytes.Clone(b)
		c[off] ^= 0x20
		n, damage, err := replayBytes(c)
		if err != nil && !errors.Is(err, ErrNoFrames) {
			t.Fatalf("flip at %d: %v", off, err)
		}
		if err == nil && (n >= total || len(damage) == 0) {
			t.Fatalf("flip at %d: %d of %d polls, damage %q", off, n, total, damage)
		}
	}
	// A flip in the header: one line, no panic.
	c := bytes.Clone(b)
	c[20] ^= 1
	if _, _, err := replayBytes(c); err == nil {
		t.Fatal("damaged header accepted")
	}
}

func TestBadFiles(t *testing.T) {
	b, _ := synthFile(t)
	future := bytes.Clone(b)
	binary.LittleEndian.PutUint16(future[8:], FormatVersion+1)
	var fe FutureError
	for _, c := range []struct {
		name string
		b    []byte
		is   func(error) bool
	}{
		{"empty", nil, func(err error) bool { return errors.Is(err, ErrEmpty) }},
		{"magic only", []byte(Magic), func(err error) bool { return errors.Is(err, ErrEmpty) }},
		{"text", []byte("hello, this is not a recording at all\n"), func(err error) bool { return errors.Is(err, ErrNotRecording) }},
		{"future", future, func(err error) bool { return errors.As(err, &fe) && fe.Version == FormatVersion+1 }},
		{"header only", b[:fileHdrFixed+int(binary.LittleEndian.Uint32(b[12:]))+4], func(err error) bool { return errors.Is(err, ErrNoFrames) }},
	} {
		_, _, err := replayBytes(c.b)
		if err == nil || !c.is(err) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("a directory opened")
	}
}

// FuzzReader: whatever the bytes, opening and reading never panics.
func FuzzReader(f *testing.F) {
	// A small recording (the mutator works best on small inputs): 20
	// sockets, 12 polls over three chunks, a key frame in the second.
	path := filepath.Join(f.TempDir(), "small.tcptop")
	writeSynth(f, path, 20, 2, 12, WriterOptions{EncoderOptions: EncoderOptions{KeyEvery: 8 * time.Second, ChunkEvery: 4 * time.Second}})
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for range 10000 {
			if _, err := r.Read(context.Background()); err != nil {
				break
			}
		}
		r.Seek(r.Len() / 2)
		r.Read(context.Background())
		r.SeekTime(r.Start())
	})
}

// FuzzReadFrame feeds arbitrary bytes to the frame decoder itself, past
// the chunk checksums a crafted file would get right: it must return an
// error or a sample, never panic.
func FuzzReadFrame(f *testing.F) {
	var c codec
	c.reset()
	for _, s := range goldenSamples()[:3] {
		b, err := c.appendFrame(nil, s)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d codec
		d.reset()
		r := &cursor{b: b}
		for i := 0; i < 4 && r.err == nil && len(r.b) > 0; i++ {
			if _, err := d.readFrame(r); err != nil {
				return
			}
		}
	})
}
