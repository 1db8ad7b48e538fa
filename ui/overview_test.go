package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// At 80 and 100 columns the worst finding stays readable: less important
// columns give way first; at 140 every column shows.
func TestOverviewFindingKeepsRoom(t *testing.T) {
	r := model.NamespaceRow{Key: "net:[4026532000]", Name: "shop/checkout-7f9c", VitalsOK: true, HasDetail: true,
		Total: 12345, TimeWait: 300, DetailAge: 3 * time.Second, Worst: model.Critical, WorstRule: "close_wait_leak",
		Labels:  source.Labels{Runtime: "containerd"},
		Fullest: &model.Listener{Local: "10.0.0.1:8080", Fill: 0.5}}
	want := "CRITICAL close_wait_leak"
	for _, w := range []int{80, 100, 120, 140} {
		f := len(overviewFinding(&r))
		row := OverviewRowFit(&r, "", format.GlyphsFor(true), w, f)
		head := OverviewHeaderFit(w, f)
		if len(row) > w || len(head) > w {
			t.Errorf("width %d: row %d, header %d columns wide:\n%s\n%s", w, len(row), len(head), head, row)
		}
		if !strings.HasSuffix(row, want) || !strings.HasSuffix(head, "FINDING") {
			t.Errorf("width %d: finding cut:\n%s\n%s", w, head, row)
		}
		for _, col := range []string{"NAMESPACE", "TOTAL", "CLS_W"} {
			if !strings.Contains(head, col) {
				t.Errorf("width %d: %s dropped before less important columns:\n%s", w, col, head)
			}
		}
		// Header and row line up: FINDING starts where the finding does.
		if strings.Index(head, "FINDING") != strings.Index(row, want) {
			t.Errorf("width %d: header and row misaligned:\n%s\n%s", w, head, row)
		}
	}
	if h := OverviewHeaderFit(140, len(want)); h != OverviewHeader {
		t.Errorf("at 140 columns some column was dropped:\n%s\n%s", h, OverviewHeader)
	}
	if h := OverviewHeaderFit(80, len(want)); strings.Contains(h, "FULLEST") {
		t.Errorf("at 80 columns the listener column stayed before the finding:\n%s", h)
	}
	// The longest finding there is fits whole at 100 and 120 columns.
	long := "CRITICAL listener_in_ephemeral_range"
	for _, w := range []int{100, 120} {
		r.WorstRule = "listener_in_ephemeral_range"
		if row := OverviewRowFit(&r, "", format.GlyphsFor(true), w, len(long)); len(row) > w || !strings.HasSuffix(row, long) {
			t.Errorf("width %d: the longest finding is cut:\n%s", w, row)
		}
	}
}
