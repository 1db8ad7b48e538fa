package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/themes"
)

// The header says how old the carried ESTABLISHED detail is, and when
// the kernel's counters show the same sockets, that only their detail
// is old; a full poll says neither.
func TestHeaderCarried(t *testing.T) {
	st := themes.New(themes.Dark)
	snap := &model.Snapshot{Host: "web1", Netns: "default", Time: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), Total: 5}
	header := func() string {
		return ansi.Strip(renderHeader(&st, snap, headerInfo{interval: time.Second, loc: time.UTC}, 200))
	}
	if h := header(); strings.Contains(h, "ESTABLISHED detail") {
		t.Errorf("full poll: %q", h)
	}
	snap.Carried = &model.Carried{States: []string{"ESTABLISHED"}, AgeMS: 4200, Carried: 3}
	if h := header(); !strings.Contains(h, "ESTABLISHED detail 4.2s old") || strings.Contains(h, "same sockets") {
		t.Errorf("carried, changed: %q", h)
	}
	snap.Carried.Unchanged = true
	if h := header(); !strings.Contains(h, "ESTABLISHED detail 4.2s old, same sockets") {
		t.Errorf("carried, unchanged: %q", h)
	}
}
