package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"
	"golang.org/x/term"

	"github.com/tcptop/tcptop/exporter"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/output"
	"github.com/tcptop/tcptop/pipeline"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/ui"
)

// runAllNetns is tcptop --all-netns: every namespace polled by one
// AllPoller, shown by the overview monitor, the text or JSON stream,
// judged by --check, or served to Prometheus by --listen.
func runAllNetns(c config, opt model.Options, stdout, stderr io.Writer) error {
	if c.netns != "" {
		return usageError{errors.New("--all-netns and --netns exclude each other")}
	}
	m := source.NewMachine(c.procRoot, !c.noProcs)
	if c.listenSet {
		// The exporter serves eBPF counts per namespace as --ebpf says
		// (one program set for every namespace).
		tracer, closeTracer, err := openTracer(c.ebpf, c.btf, c.onePoll())
		if err != nil {
			return err
		}
		defer closeTracer()
		m.SetTracer(tracer)
	}
	a := pipeline.NewAll(pipeline.AllConfig{
		Machine: m, Labels: c.labels, Thresholds: c.thresholds, Options: opt,
		Interval: c.interval,
		// --once and --check judge every namespace from a full dump.
		EveryPoll: c.once || c.check,
	})
	defer a.Close()
	debug.SetGCPercent(50)

	if c.listenSet {
		return serve(exporter.Config{All: a}, c, stderr)
	}

	count := c.count
	if c.once {
		count = 1
	}
	if c.check {
		count = c.thresholds.CheckPolls(c.interval)
	} else if !c.json && !c.once && count == 0 && isTerminal(stdout) && os.Getenv("TERM") != "dumb" {
		return runAllTUI(a, c)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	textOpt := output.TextOptions{Top: c.top}
	if f, ok := stdout.(*os.File); ok && isTerminal(stdout) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			textOpt.Width = w
		}
	}
	var last *model.Overview
	var enc output.OverviewEncoder // each namespace's snapshot encoded once
	ticker := time.NewTicker(c.interval)
	defer ticker.Stop()
	for n := 0; count == 0 || n < count; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				n = count // fall through to the verdict
			case <-ticker.C:
			}
			if ctx.Err() != nil {
				break
			}
		}
		ov, err := a.Poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		last = ov
		if c.check {
			continue
		}
		switch {
		case c.json:
			err = enc.Write(stdout, ov, c.once)
		default:
			err = output.WriteOverviewText(stdout, ov, textOpt)
			if err == nil && !c.once {
				_, err = io.WriteString(stdout, "\n")
			}
		}
		if err != nil {
			if errors.Is(err, syscall.EPIPE) {
				return nil
			}
			return writeError(err)
		}
	}
	if !c.check {
		return nil
	}
	if last == nil || ctx.Err() != nil {
		return errors.New("interrupted before the check could judge")
	}
	failed := output.OverviewCheckFailed(last)
	var err error
	if c.json {
		err = output.WriteOverviewJSON(stdout, last, true)
	} else {
		failed, err = output.WriteOverviewCheck(stdout, last)
	}
	if err != nil && !errors.Is(err, syscall.EPIPE) {
		return writeError(err)
	}
	if failed {
		return errCheckFailed
	}
	return nil
}

// runAllTUI runs the monitor over every namespace: it opens on the
// overview; Enter opens a namespace's full monitor, Esc comes back.
func runAllTUI(a *pipeline.AllPoller, c config) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mdl := ui.New(ui.Config{
		Poller:   a,
		Options:  a.Options(),
		Interval: c.interval,
		Theme:    c.theme,
		NoColor:  os.Getenv("NO_COLOR") != "",
		ASCII:    c.ascii || !utf8Locale(os.Getenv),
		Location: time.Local,
		Context:  ctx,
		AllNetns: true,
	})
	p := tea.NewProgram(mdl, tea.WithFPS(15), tea.WithFilter(ui.BoundScreen))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		select {
		case <-hup:
			p.Quit()
		case <-ctx.Done():
		}
	}()
	final, err := p.Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, tea.ErrInterrupted) {
		return fmt.Errorf("terminal: %w", err)
	}
	if fm, ok := final.(ui.Model); ok && fm.Snapshot() == nil {
		if err := fm.Err(); err != nil {
			return err
		}
	}
	return nil
}
