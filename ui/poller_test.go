package ui

import (
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/pipeline"
	"github.com/tcptop/tcptop/source"
)

// testPoller is the pipeline's Poller, with the Reader kept for the
// tests that count reads.
type testPoller struct {
	*pipeline.Poller
	r source.Reader
}

// pollOf polls r through the pipeline with th (nil: the defaults).
func pollOf(r source.Reader, th *model.Thresholds) *testPoller {
	cfg := pipeline.Config{Reader: r}
	if th != nil {
		cfg.Thresholds = *th
	}
	return &testPoller{Poller: pipeline.New(cfg), r: r}
}

// The views of a monitor, for the tests to look into.
func (m Model) tableV() *tableView       { return m.views[0].(*tableView) }
func (m Model) findingsV() *findingsView { return m.views[1].(*findingsView) }
func (m Model) kernelV() *kernelView     { return m.views[2].(*kernelView) }

// focused names the view on screen.
func (m Model) focused() string { return m.views[m.focus].Name() }
