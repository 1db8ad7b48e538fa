package ui

import (
	"context"
	"sync"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// testPoller is a Poller over a Reader and an Analyzer, for the tests
// until pipeline.Poller is merged: options under a mutex, one poll at a
// time.
type testPoller struct {
	r  source.Reader
	a  *model.Analyzer
	mu sync.Mutex
	o  model.Options
}

// pollOf polls r through a (nil: the default thresholds).
func pollOf(r source.Reader, a *model.Analyzer) *testPoller {
	if a == nil {
		a = model.NewAnalyzer(model.DefaultThresholds())
	}
	return &testPoller{r: r, a: a}
}

func (p *testPoller) SetOptions(o model.Options) {
	p.mu.Lock()
	p.o = o
	p.mu.Unlock()
}

func (p *testPoller) Next(ctx context.Context) (*model.Snapshot, error) {
	p.mu.Lock()
	o := p.o
	p.mu.Unlock()
	s, err := p.r.Read(ctx)
	if err != nil {
		return nil, err
	}
	return p.a.Next(s, o), nil
}

// The views of a monitor, for the tests to look into.
func (m Model) tableV() *tableView       { return m.views[0].(*tableView) }
func (m Model) findingsV() *findingsView { return m.views[1].(*findingsView) }
func (m Model) kernelV() *kernelView     { return m.views[2].(*kernelView) }

// focused names the view on screen.
func (m Model) focused() string { return m.views[m.focus].Name() }
