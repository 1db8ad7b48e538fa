package themes

import (
	"image/color"
	"strings"
	"testing"

	"charm.land/lipgloss/v2"
)

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"dark": Dark, "LIGHT": Light, "mono": Mono, "no-color": Mono} {
		if m, err := ParseMode(in); err != nil || m != want {
			t.Errorf("%q: %v %v", in, m, err)
		}
	}
	if _, err := ParseMode("solarized"); err == nil || !strings.Contains(err.Error(), "want dark, light or mono") {
		t.Errorf("bad theme error: %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if FromEnv(env(map[string]string{"NO_COLOR": "1"}), true) != Mono {
		t.Error("NO_COLOR must force mono")
	}
	if FromEnv(env(nil), true) != Dark || FromEnv(env(nil), false) != Light {
		t.Error("background not honoured")
	}
}

func TestSelectionVisibleWithoutColour(t *testing.T) {
	for _, m := range []Mode{Dark, Light, Mono} {
		s := New(m)
		if !s.Selected.GetReverse() {
			t.Errorf("%v: selection is not reverse video", m)
		}
	}
	mono := New(Mono)
	if !mono.Crit.GetBold() || !mono.CloseWait.GetBold() {
		t.Errorf("mono styles: %+v", mono)
	}
	for _, st := range []interface{ GetForeground() color.Color }{mono.Crit, mono.Warn, mono.Header, mono.CloseWait} {
		if fg := st.GetForeground(); fg != nil {
			if _, none := fg.(lipgloss.NoColor); !none {
				t.Errorf("mono style has a colour: %v", fg)
			}
		}
	}
}

func TestSeverityStyles(t *testing.T) {
	mono := New(Mono)
	if !mono.SevCrit.GetReverse() || !mono.SevWarn.GetBold() || mono.SevInfo.GetBold() {
		t.Error("mono severity badges must differ by reverse/bold alone")
	}
	for _, st := range []lipgloss.Style{mono.SevCrit, mono.SevWarn, mono.SevInfo, mono.Info} {
		if fg := st.GetForeground(); fg != nil {
			if _, none := fg.(lipgloss.NoColor); !none {
				t.Errorf("mono severity style has a colour: %v", fg)
			}
		}
	}
	for _, m := range []Mode{Dark, Light} {
		s := New(m)
		if _, none := s.SevCrit.GetBackground().(lipgloss.NoColor); none {
			t.Errorf("%v: the critical badge has no background", m)
		}
	}
}
