package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/pipeline"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/ui"
)

// monitor is the live monitor running in this process, as tcptop runs it,
// with probes on its reader and its model.
type monitor struct {
	kernel *source.Kernel
	reader *countingReader
	probe  *probeState
	out    *countingWriter
	prog   *tea.Program
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returns
	runErr error         // valid after done
}

// startMonitor opens the kernel reader for the namespace and starts the
// bubbletea program on it.
func startMonitor(ns string, interval time.Duration) (*monitor, error) {
	k, err := source.Open(source.Options{Netns: ns, Attribute: true})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &monitor{
		kernel: k,
		reader: &countingReader{r: k},
		probe:  &probeState{},
		out:    &countingWriter{},
		cancel: cancel,
		done:   make(chan struct{}),
	}
	root := ui.New(ui.Config{Poller: pipeline.New(pipeline.Config{Reader: m.reader}), Interval: interval, Theme: "dark", Location: time.UTC, Context: ctx})
	// Output is counted and dropped: the renderer does not know, and
	// draws every frame as it would on a terminal. A pinned true-colour
	// profile keeps the styling work a real terminal would cause.
	m.prog = tea.NewProgram(probe{Model: root, st: m.probe},
		tea.WithInput(nil), tea.WithOutput(m.out), tea.WithWindowSize(120, 40),
		tea.WithoutSignalHandler(), tea.WithFPS(15), tea.WithColorProfile(colorprofile.TrueColor),
		tea.WithEnvironment([]string{"TERM=xterm-256color"}))
	go func() {
		defer close(m.done)
		_, m.runErr = m.prog.Run()
	}()
	return m, nil
}

// stop quits the program (killing it if it does not quit within
// stopTimeout) and closes the reader.
func (m *monitor) stop() error {
	var err error
	m.prog.Quit()
	select {
	case <-m.done:
		if m.runErr != nil && !errors.Is(m.runErr, tea.ErrProgramKilled) {
			err = fmt.Errorf("monitor: %w", m.runErr)
		}
	case <-time.After(stopTimeout):
		m.prog.Kill()
		<-m.done
		err = fmt.Errorf("monitor did not quit within %v", stopTimeout)
	}
	m.cancel()
	return errors.Join(err, m.kernel.Close())
}

// countingReader passes polls through to the kernel reader and counts them.
// Read runs in the program's command goroutines, never concurrently (the
// monitor never overlaps polls), but stats is read from the soak's.
type countingReader struct {
	r source.Reader

	mu      sync.Mutex
	reads   int
	errors  int
	lastErr error
	took    time.Duration // the last poll's Total
}

func (c *countingReader) Read(ctx context.Context) (*source.Sample, error) {
	s, err := c.r.Read(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	if err != nil {
		c.errors++
		c.lastErr = err
		return s, err
	}
	c.took = s.Took.Total
	return s, nil
}

type readerStats struct {
	reads, errors int
	lastErr       error
	took          time.Duration
}

func (c *countingReader) stats() readerStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return readerStats{c.reads, c.errors, c.lastErr, c.took}
}

// probe wraps the monitor's root model, delegating everything, and notes
// what is on screen after every update and how often the view is drawn.
// It only reads the model; the data still changes only through Update.
type probe struct {
	ui.Model
	st *probeState
}

func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m, cmd := p.Model.Update(msg)
	if um, ok := m.(ui.Model); ok {
		p.Model = um
		p.st.observe(um.Snapshot())
	}
	return p, cmd
}

func (p probe) View() tea.View {
	p.st.views.Add(1)
	return p.Model.View()
}

// probeState is shared between the program's goroutine and the soak's.
type probeState struct {
	views atomic.Int64

	mu    sync.Mutex
	last  *model.Snapshot
	snaps int // distinct snapshots shown
}

func (s *probeState) observe(snap *model.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if snap != nil && snap != s.last {
		s.last = snap
		s.snaps++
	}
}

// shown returns the socket count of the snapshot on screen (-1 before the
// first) and how many snapshots were shown.
func (s *probeState) shown() (sockets, snaps int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return -1, s.snaps
	}
	return s.last.Total, s.snaps
}

func (s *probeState) snapshots() int {
	_, n := s.shown()
	return n
}

// countingWriter is io.Discard that counts bytes.
type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Write(b []byte) (int, error) {
	w.n.Add(int64(len(b)))
	return len(b), nil
}
