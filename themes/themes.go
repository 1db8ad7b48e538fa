// Package themes builds the styles tcptop draws with (colour and emphasis;
// the glyphs are package format's). One Styles value is
// built by New and passed down; nothing here is global or mutable, so tests
// can render with a pinned theme whatever the environment says.
package themes

import (
	"fmt"
	"image/color"
	"strings"

	"charm.land/lipgloss/v2"
)

// Mode selects a palette.
type Mode int

// Palettes. Auto is resolved by the caller from the terminal background.
const (
	Dark Mode = iota
	Light
	// Mono uses no colour at all: emphasis by bold, focus by reverse video,
	// bars drawn with characters. NO_COLOR selects it.
	Mono
)

// ParseMode accepts "dark", "light", "mono" (or "none", "no-color").
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "dark":
		return Dark, nil
	case "light":
		return Light, nil
	case "mono", "none", "no-color", "nocolor":
		return Mono, nil
	}
	return 0, fmt.Errorf("unknown theme %q (want dark, light or mono)", s)
}

// String names the mode as ParseMode takes it.
func (m Mode) String() string {
	return [...]string{"dark", "light", "mono"}[m]
}

// Styles is every style tcptop renders with.
type Styles struct {
	Mode Mode
	// Header is the top line; Title a panel's title.
	Header, Title lipgloss.Style
	// Normal text, Dim for secondary text.
	Normal, Dim lipgloss.Style
	// Warn and Crit mark values past a threshold (a filling queue or port
	// range); in Mono they are bold, and Crit also reverse.
	Warn, Crit lipgloss.Style
	// TimeWait and CloseWait make the two states incidents hinge on stand out.
	TimeWait, CloseWait lipgloss.Style
	// Info marks an informational finding's text (Warn and Crit serve the
	// others).
	Info lipgloss.Style
	// SevCrit, SevWarn and SevInfo are the severity badges of findings
	// ("CRIT", "WARN", "INFO"): in Mono, reverse, bold and plain.
	SevCrit, SevWarn, SevInfo lipgloss.Style
	// Selected is the highlighted row: reverse video in every mode, so the
	// selection stays visible without colour.
	Selected lipgloss.Style
}

// New builds the styles for a mode. Styles are colour and emphasis only:
// the characters bars and arrows are drawn with (UTF-8 or ASCII) are
// format.Glyphs.
func New(mode Mode) Styles {
	s := Styles{Mode: mode}
	base := lipgloss.NewStyle()
	s.Normal = base
	s.Selected = base.Reverse(true)
	if mode == Mono {
		s.Header = base.Bold(true)
		s.Title = base.Bold(true).Underline(true)
		s.Dim = base
		s.Warn = base.Bold(true)
		s.Crit = base.Bold(true).Reverse(true)
		s.TimeWait = base.Bold(true)
		s.CloseWait = base.Bold(true)
		s.Info = base
		s.SevCrit = base.Bold(true).Reverse(true)
		s.SevWarn = base.Bold(true)
		s.SevInfo = base
		return s
	}
	pick := lipgloss.LightDark(mode == Dark)
	c := func(light, dark string) color.Color { return pick(lipgloss.Color(light), lipgloss.Color(dark)) }
	s.Header = base.Bold(true).Foreground(c("#1d4ed8", "#93c5fd"))
	s.Title = base.Bold(true).Foreground(c("#0f172a", "#e2e8f0"))
	s.Dim = base.Foreground(c("#64748b", "#94a3b8"))
	s.Warn = base.Bold(true).Foreground(c("#b45309", "#fbbf24"))
	s.Crit = base.Bold(true).Foreground(c("#b91c1c", "#f87171"))
	s.TimeWait = base.Foreground(c("#7c3aed", "#c4b5fd"))
	s.CloseWait = base.Bold(true).Foreground(c("#c2410c", "#fdba74"))
	s.Info = base.Foreground(c("#0369a1", "#7dd3fc"))
	s.SevCrit = base.Bold(true).Foreground(c("#ffffff", "#1f0000")).Background(c("#b91c1c", "#f87171"))
	s.SevWarn = base.Bold(true).Foreground(c("#1f1300", "#1f1300")).Background(c("#f59e0b", "#fbbf24"))
	s.SevInfo = base.Foreground(c("#0369a1", "#7dd3fc"))
	return s
}

// FromEnv picks the mode: NO_COLOR (any value) forces Mono, else the
// terminal background decides.
func FromEnv(getenv func(string) string, darkBackground bool) Mode {
	if getenv("NO_COLOR") != "" {
		return Mono
	}
	if darkBackground {
		return Dark
	}
	return Light
}
