package record

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

func testHeader() Header {
	return Header{Version: "test", Host: "web-1", Kernel: "6.18.0", Interval: time.Second,
		Thresholds: model.DefaultThresholds(), Namespaces: []string{"host"}}
}

// writeSynth records polls of a synthetic population to a file and
// returns the samples written.
func writeSynth(t testing.TB, path string, n, churn, polls int, opt WriterOptions) []*source.Sample {
	w, err := Create(path, testHeader(), opt)
	if err != nil {
		t.Fatal(err)
	}
	s := newSynth(n, churn, 1)
	var out []*source.Sample
	for range polls {
		smp := s.next()
		if err := w.Write(smp); err != nil {
			t.Fatal(err)
		}
		out = append(out, smp)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readAll(t testing.TB, r *Reader) []*source.Sample {
	var out []*source.Sample
	for {
		s, err := r.Read(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
}

func sameSample(t *testing.T, i int, want, got *source.Sample) {
	t.Helper()
	if !want.Time.Equal(got.Time) {
		t.Fatalf("poll %d: time %v, want %v", i, got.Time, want.Time)
	}
	w, g := *want, *got
	w.Time, g.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(w, g) {
		for j := range min(len(w.Sockets), len(g.Sockets)) {
			if !reflect.DeepEqual(w.Sockets[j], g.Sockets[j]) {
				t.Fatalf("poll %d socket %d:\n got %+v\nwant %+v", i, j, g.Sockets[j], w.Sockets[j])
			}
		}
		t.Fatalf("poll %d differs:\n got %+v\nwant %+v", i, g, w)
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.tcptop")
	want := writeSynth(t, path, 1000, 30, 100, WriterOptions{EncoderOptions: EncoderOptions{KeyEvery: 30 * time.Second}})
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != len(want) {
		t.Fatalf("Len %d, want %d", r.Len(), len(want))
	}
	got := readAll(t, r)
	if len(got) != len(want) {
		t.Fatalf("read %d polls, want %d", len(got), len(want))
	}
	for i := range want {
		sameSample(t, i, want[i], got[i])
	}
	// Seek anywhere, backwards too.
	for _, i := range []int{99, 0, 77, 31, 30, 29, 60} {
		r.Seek(i)
		s, err := r.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sameSample(t, i, want[i], s)
	}
	if p := r.SeekTime(want[42].Time.Add(-time.Millisecond)); p != 42 {
		t.Errorf("SeekTime: %d, want 42", p)
	}
	if h := r.Header(); h.Host != "web-1" || h.Format != FormatVersion || h.Thresholds != model.DefaultThresholds() {
		t.Errorf("header %+v", h)
	}
}

func TestRedact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.tcptop")
	want := writeSynth(t, path, 300, 10, 20, WriterOptions{EncoderOptions: EncoderOptions{Redact: NewRedactorKey([]byte("k"))}})
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("web-1")) || bytes.Contains(raw, []byte("pool www")) {
		t.Error("host or command line in the file")
	}
	if !r.Header().Redacted {
		t.Error("header not marked redacted")
	}
	got := readAll(t, r)
	seen := map[string]string{}
	for i, s := range got {
		if len(s.Sockets) != len(want[i].Sockets) {
			t.Fatal("socket count changed")
		}
		for j, sk := range s.Sockets {
			w := want[i].Sockets[j]
			if sk.Local.Port() != w.Local.Port() || sk.State != w.State || sk.Cookie != w.Cookie {
				t.Fatal("redaction changed more than addresses")
			}
			if w.Remote.Addr().IsValid() && !w.Remote.Addr().IsUnspecified() {
				if sk.Remote.Addr() == w.Remote.Addr() {
					t.Fatalf("address %v kept", w.Remote)
				}
				if prev, ok := seen[w.Remote.Addr().String()]; ok && prev != sk.Remote.Addr().String() {
					t.Fatal("not stable")
				}
				seen[w.Remote.Addr().String()] = sk.Remote.Addr().String()
			}
		}
		for _, p := range s.Procs {
			if p.Cmdline == "php-fpm: pool www" || p.Name != "php-fpm" {
				t.Fatalf("proc %+v", p)
			}
		}
	}
}

// TestRotate: past MaxSize the file moves to FILE.1 and a new one starts
// with a key frame; both replay, and together they hold every poll.
func TestRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.tcptop")
	want := writeSynth(t, path, 300, 10, 120, WriterOptions{MaxSize: 20 << 10,
		EncoderOptions: EncoderOptions{ChunkEvery: 5 * time.Second}})
	old, err := Open(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	cur, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	got := readAll(t, cur)
	if len(got) == 0 || old.Len() == 0 {
		t.Fatalf("%d and %d polls", old.Len(), len(got))
	}
	// The current file ends with the last poll, self-contained.
	off := len(want) - len(got)
	for i, s := range got {
		sameSample(t, off+i, want[off+i], s)
	}
	if st, _ := os.Stat(path); st.Size() > 40<<10 {
		t.Errorf("current file %d bytes, cap 20 KiB", st.Size())
	}
}

// TestBigKeyFrameAlone: a key frame of more than soloKey raw bytes is
// its chunk's only frame (compressed at the next poll, not held raw for
// a ChunkEvery beside the frames after it), the encoder does not keep
// its raw buffer for the chunks after it, and the recording reads back
// whole;
// a small table's key frame still shares its chunk.
func TestBigKeyFrameAlone(t *testing.T) {
	for _, c := range []struct {
		n    int
		solo bool
	}{{50000, true}, {500, false}} {
		e := NewEncoder(EncoderOptions{})
		s := newSynth(c.n, 20, 7)
		var chunks []*Chunk
		var want []*source.Sample
		for i := range 15 {
			smp := s.next()
			want = append(want, smp)
			ch, err := e.Add(smp)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 && c.solo && len(e.raw) <= soloKey {
				t.Fatalf("%d sockets: a key frame of %d raw bytes: the test needs more than %d", c.n, len(e.raw), soloKey)
			}
			if ch != nil {
				chunks = append(chunks, ch)
				if i == 1 && c.solo && cap(e.raw) > keepRaw {
					t.Errorf("%d sockets: the encoder kept %d bytes of raw buffer after the key frame's chunk", c.n, cap(e.raw))
				}
			}
		}
		chunks = append(chunks, e.Flush())
		first := chunks[0]
		alone := first.Key && first.First.Equal(want[0].Time) && first.Last.Equal(want[0].Time)
		if alone != c.solo {
			t.Errorf("%d sockets: the key frame alone in its chunk: %v, want %v (chunk %v..%v)", c.n, alone, c.solo, first.First, first.Last)
		}
		if c.solo && (chunks[1].Key || !chunks[1].First.Equal(want[1].Time)) {
			t.Errorf("%d sockets: the chunk after the key frame's: key %v, first %v, want a delta chunk from %v", c.n, chunks[1].Key, chunks[1].First, want[1].Time)
		}
		// Written to a file and read back, frame by frame.
		path := filepath.Join(t.TempDir(), "k.tcptop")
		wrote := writeSynth(t, path, c.n, 20, 15, WriterOptions{})
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.chunks[0].frames == 1; got != c.solo {
			t.Errorf("%d sockets: the file's first chunk holds %d frames", c.n, r.chunks[0].frames)
		}
		got := readAll(t, r)
		r.Close()
		if len(got) != len(wrote) {
			t.Fatalf("%d sockets: read %d polls, want %d", c.n, len(got), len(wrote))
		}
		for i := range wrote {
			sameSample(t, i, wrote[i], got[i])
		}
	}
}
