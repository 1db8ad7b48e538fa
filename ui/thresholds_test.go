package ui

import (
	"bytes"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/themes"
)

// TestGaugeFollowsThresholds: with ports-warn=50% and a 9-port range of
// which 5 are in use (56%), the findings strip says WARN and the port
// gauge is drawn in the warning style; at the default (60%) it is plain,
// and past ports-crit it is critical.
func TestGaugeFollowsThresholds(t *testing.T) {
	ss := quietSamples()
	for _, s := range ss {
		s.Sysctl.PortLow, s.Sysctl.PortHigh = 33000, 33008
		s.Sysctl.Raw["net.ipv4.ip_local_port_range"] = "33000 33008"
	}
	at := func(spec string) Model {
		th := model.DefaultThresholds()
		if spec != "" {
			if err := th.Set(spec); err != nil {
				t.Fatal(err)
			}
		}
		m := New(Config{Poller: pollOf(&fakeReader{samples: ss}, &th), Interval: time.Hour, Theme: "dark"})
		m = send(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
		m = run(t, m, m.Init())
		m = send(t, m, tickMsg{seq: m.tickSeq})
		m.snap.PollMS = model.PollCost{Total: 3.5}
		return m
	}
	st := themes.New(themes.Dark)
	gaugeLine := func(m Model) string {
		for _, l := range strings.Split(pinned256(m), "\n") {
			if strings.Contains(l, "PORTS") {
				return l
			}
		}
		t.Fatalf("no PORTS line:\n%s", screen(m))
		return ""
	}
	// The styles' own escape sequences, as a 256-colour profile writes
	// them (the 16-colour one the other goldens pin maps the dark theme's
	// amber and red to the same bright red).
	warnSeq, critSeq := pinnedStyle(st.Warn), pinnedStyle(st.Crit)
	if warnSeq == critSeq {
		t.Fatalf("warning and critical draw alike: %q", warnSeq)
	}

	m := at("ports-warn=50%")
	if e := m.snap.Ephemeral; e.InUse != 5 || e.Usable != 9 {
		t.Fatalf("ports in use %d of %d, want 5 of 9", e.InUse, e.Usable)
	}
	if !strings.Contains(screen(m), "WARN  Ephemeral ports") {
		t.Errorf("ports-warn=50%%: no warning in the strip:\n%s", screen(m))
	}
	if l := gaugeLine(m); !strings.Contains(l, warnSeq) {
		t.Errorf("ports-warn=50%%: the gauge is not in the warning style: %q", l)
	}
	golden(t, "80x24-ports-warn-50.ansi", pinned256(m))

	if l := gaugeLine(at("")); strings.Contains(l, warnSeq) || strings.Contains(l, critSeq) {
		t.Errorf("defaults (60%%): the gauge at 56%% should be plain: %q", l)
	}
	if l := gaugeLine(at("ports-warn=20%,ports-crit=50%")); !strings.Contains(l, critSeq) {
		t.Errorf("ports-crit=50%%: the gauge is not critical: %q", l)
	}
}

// pinned256 renders the screen through a fixed 256-colour profile.
func pinned256(m Model) string { return through256(m.View().Content) }

func through256(s string) string {
	var b bytes.Buffer
	w := &colorprofile.Writer{Forward: &b, Profile: colorprofile.ANSI256}
	w.WriteString(s)
	return b.String()
}

// pinnedStyle is the escape sequence that opens text in style s under
// the 256-colour profile.
func pinnedStyle(s lipgloss.Style) string {
	out := through256(s.Render("x"))
	return out[:strings.Index(out, "x")]
}
