package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/output"
	"github.com/tcptop/tcptop/pipeline"
	"github.com/tcptop/tcptop/record"
	"github.com/tcptop/tcptop/source"
)

// recordFlags are the recording, replay and flight recorder flags.
type recordFlags struct {
	record, replay, at string
	maxSize            int64
	maxAge             time.Duration
	chunk              time.Duration
	redact             bool
	flightWindow       time.Duration
	flightDir          string
}

// check rejects combinations that make no sense.
func (r *recordFlags) check(c config) error {
	switch {
	case r.record != "" && r.replay != "":
		return errors.New("--record and --replay exclude each other")
	case r.record != "" && c.check:
		return errors.New("--record records a stream: not with --check")
	case r.replay != "" && c.netns != "":
		return errors.New("--replay reads a recording, never the kernel: drop --netns")
	case r.at != "" && r.replay == "":
		return errors.New("--at picks a poll of a recording: use it with --replay")
	case (r.redact || r.maxSize > 0 || r.maxAge > 0) && r.record == "":
		return errors.New("--redact, --record-max-size and --record-max-age go with --record")
	case r.chunk < 100*time.Millisecond || r.chunk > record.DefaultKeyEvery:
		return fmt.Errorf("--record-chunk must be between 100ms and %v", record.DefaultKeyEvery)
	case r.flightWindow < 0:
		return errors.New("--flight-window must be 0 (off) or more")
	}
	return nil
}

// parseSize reads "1048576", "512K", "100M", "2G" (powers of 1024).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B")
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult, t = 1<<10, t[:n-1]
		case 'M':
			mult, t = 1<<20, t[:n-1]
		case 'G':
			mult, t = 1<<30, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) || v*float64(mult) >= 1<<62 {
		return 0, fmt.Errorf("%s is not a size (e.g. 100M, 2G)", quoteCut(s))
	}
	return int64(v * float64(mult)), nil
}

// recorder is the live reader with its recording and flight recorder.
type recorder struct {
	*record.Tee
}

// header describes this run for a recording's header.
func header(c config, ns string) record.Header {
	var u unix.Utsname
	kernel := ""
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	host, _ := os.Hostname()
	if ns == "" {
		ns = "host"
	}
	return record.Header{Version: versionString(), Host: host, Kernel: kernel, Interval: c.interval,
		Thresholds: c.thresholds, Namespaces: []string{ns}}
}

// tee wraps the kernel reader: --record writes to a file, and the flight
// recorder runs in the monitor and the streams (not for one snapshot or
// --check, which end at once).
func (r *recordFlags) tee(k *source.Kernel, c config, count int) (*recorder, error) {
	t := &record.Tee{R: k}
	h := header(c, k.Namespace())
	if r.record != "" {
		w, err := record.Create(r.record, h, record.WriterOptions{MaxSize: r.maxSize, MaxAge: r.maxAge,
			EncoderOptions: record.EncoderOptions{Redact: redactor(r.redact), ChunkEvery: r.chunk}})
		if err != nil {
			return nil, usageError{fmt.Errorf("--record: %w", err)}
		}
		t.W = w
	}
	if r.flightWindow > 0 && count != 1 && !c.check {
		t.Flight = record.NewFlight(h, r.flightWindow, 0)
	}
	return &recorder{t}, nil
}

func redactor(on bool) *record.Redactor {
	if on {
		return record.NewRedactor()
	}
	return nil
}

// close ends the recording, saying so if it failed.
func (t *recorder) close(stderr io.Writer) {
	if t.W == nil {
		return
	}
	if err := t.W.Close(); err != nil {
		fmt.Fprintf(stderr, "tcptop: %s\n", oneLine(err))
	}
}

// flightFunc is what the monitor's flight recorder key calls (nil when
// the flight recorder is off).
func (t *recorder) flightFunc(c config) func() (string, error) {
	if t.Flight == nil {
		return nil
	}
	return func() (string, error) { return t.Flight.Dump(c.rec.flightDir, time.Now()) }
}

// onSIGUSR1 writes the flight recorder on every SIGUSR1 until the
// returned function is called, and says where on stderr.
func (t *recorder) onSIGUSR1(c config, stderr io.Writer) func() {
	if t.Flight == nil {
		return func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				path, err := t.Flight.Dump(c.rec.flightDir, time.Now())
				if err != nil {
					fmt.Fprintf(stderr, "tcptop: %s\n", oneLine(err))
				} else {
					fmt.Fprintf(stderr, "tcptop: flight recorder written to %s\n", path)
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// replay runs a front end over a recording; it never reads the kernel.
func replay(c config, opt model.Options, stdout, stderr io.Writer) error {
	r, err := record.Open(c.rec.replay)
	if err != nil {
		return usageError{fmt.Errorf("--replay: %w", err)}
	}
	h := r.Header()
	th := h.Thresholds
	if c.thresholdsSet {
		th = c.thresholds
	}
	if th == (model.Thresholds{}) {
		th = model.DefaultThresholds()
	}
	defer func() {
		for _, d := range r.Damage() {
			fmt.Fprintf(stderr, "tcptop: replay: %s\n", d)
		}
		r.Close()
	}()
	if !c.json && !c.once && !c.check && c.count == 0 && isTerminal(stdout) && os.Getenv("TERM") != "dumb" {
		p, err := record.NewPlayer(c.rec.replay, th, opt)
		if err != nil {
			return usageError{fmt.Errorf("--replay: %w", err)}
		}
		defer p.Close()
		c.interval = max(h.Interval, 100*time.Millisecond)
		return runTUI(p, opt, c, nil, nil)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	poller := pipeline.New(pipeline.Config{Reader: r, Thresholds: th, Options: opt})
	// each feeds every poll in order (the analyzer needs them all for the
	// same findings as live) until fn says stop or the recording ends.
	each := func(fn func(i int, s *model.Snapshot) (bool, error)) error {
		for i := 0; ; i++ {
			s, err := poller.Next(ctx)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if more, err := fn(i, s); err != nil || !more {
				return err
			}
		}
	}
	switch {
	case c.check:
		var first, last *model.Snapshot
		err := each(func(_ int, s *model.Snapshot) (bool, error) {
			last = s
			if output.CheckFailed(s) {
				first = s
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		show := last
		if first != nil {
			show = first
			fmt.Fprintf(stderr, "tcptop: replay: first warning at %s\n", first.Time.Format(time.RFC3339))
		}
		if show == nil {
			return usageError{record.ErrNoFrames}
		}
		if c.json {
			err = output.WriteJSON(stdout, show, true)
		} else {
			_, err = output.WriteCheck(stdout, show)
		}
		if err != nil && !errors.Is(err, syscall.EPIPE) {
			return writeError(err)
		}
		if first != nil {
			return errCheckFailed
		}
		return nil
	case c.once:
		at, err := parseAt(c.rec.at, r.Start())
		if err != nil {
			return usageError{fmt.Errorf("--at: %w", err)}
		}
		var pick *model.Snapshot
		err = each(func(_ int, s *model.Snapshot) (bool, error) {
			if !at.IsZero() && s.Time.After(at) && pick != nil {
				return false, nil
			}
			pick = s
			return true, nil
		})
		if err != nil {
			return err
		}
		if pick == nil {
			return usageError{record.ErrNoFrames}
		}
		if c.json {
			return writeError(ignorePipe(output.WriteJSON(stdout, pick, true)))
		}
		return writeError(ignorePipe(output.WriteText(stdout, pick, output.TextOptions{Top: c.top})))
	}
	write := func(s *model.Snapshot) error { return output.WriteText(stdout, s, output.TextOptions{Top: c.top}) }
	if c.json {
		write = func(s *model.Snapshot) error { return output.WriteNDJSON(stdout, s) }
	}
	return each(func(i int, s *model.Snapshot) (bool, error) {
		if err := write(s); err != nil {
			return false, writeError(ignorePipe(err))
		}
		return c.count == 0 || i+1 < c.count, nil
	})
}

func ignorePipe(err error) error {
	if errors.Is(err, syscall.EPIPE) {
		return nil
	}
	return err
}

// parseAt reads --at: "" (zero: the last poll), a time of day on the
// recording's first day ("15:04:05", in local time), RFC 3339, or an
// offset from the start ("+5m").
func parseAt(s string, start time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if strings.HasPrefix(s, "+") {
		d, err := time.ParseDuration(s[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not an offset (e.g. +5m)", s)
		}
		return start.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			st := start.In(time.Local)
			return time.Date(st.Year(), st.Month(), st.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.Local), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (15:04:05, RFC 3339 or +5m)", s)
}

// windowString says a flight window briefly: "15m", "1h", "90s".
func windowString(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
