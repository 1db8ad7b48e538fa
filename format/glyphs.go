package format

import "strings"

// Glyphs are the characters tcptop draws with beyond letters and digits,
// in two sets: UTF-8 and ASCII (--ascii, or a locale that is not UTF-8).
// Every choice between them lives here; callers add the spacing.
type Glyphs struct {
	// ASCII is true for the ASCII set.
	ASCII bool
	// Arrow joins two ends of a connection or a step: "→" / "->". Callers
	// write " "+Arrow+" " between addresses, Arrow+" " before a subject.
	Arrow string
	// Advice marks a line of advice in the findings view: "→" / ">".
	Advice string
	// Bullet marks a line of evidence: "·" / "-".
	Bullet string
	// Ellipsis marks text cut by Clip: "…" / "~".
	Ellipsis string
	// Up and Down mark the sort column, reversed or not: "▲"/"▼" / "^"/"v".
	Up, Down string
	// KeyUp and KeyDown name the arrow keys in the key help: "↑"/"↓" /
	// "up"/"down".
	KeyUp, KeyDown string
	// Crumb separates the levels of the breadcrumb: "›" / ">".
	Crumb string
	// HelpSep separates the keys of the short help: "•" / "|".
	HelpSep string
	// ColumnSep separates the histogram's columns: "│" / "|".
	ColumnSep string
	// Infinity is an unlimited value (an open-files limit): "∞" / "inf".
	Infinity string
	// BarFill and BarEmpty draw a gauge's filled and empty cells:
	// "█"/"░" / "#"/".".
	BarFill, BarEmpty string
	// Eighths are the partial cells of a gauge, one to seven eighths
	// ("▏".."▉"); empty in ASCII, where a gauge has whole cells only.
	Eighths [7]string
	// Spark are a sparkline's levels from nothing to full: " ▁▂▃▄▅▆▇█" /
	// " _.-:=+*#".
	Spark [9]string
}

// GlyphsFor returns the ASCII set when ascii is true, else the UTF-8 set.
func GlyphsFor(ascii bool) Glyphs {
	if ascii {
		return Glyphs{
			ASCII: true, Arrow: "->", Advice: ">", Bullet: "-", Ellipsis: "~",
			Up: "^", Down: "v", KeyUp: "up", KeyDown: "down",
			Crumb: ">", HelpSep: "|", ColumnSep: "|", Infinity: "inf",
			BarFill: "#", BarEmpty: ".",
			Spark: [9]string{" ", "_", ".", "-", ":", "=", "+", "*", "#"},
		}
	}
	return Glyphs{
		Arrow: "→", Advice: "→", Bullet: "·", Ellipsis: "…",
		Up: "▲", Down: "▼", KeyUp: "↑", KeyDown: "↓",
		Crumb: "›", HelpSep: "•", ColumnSep: "│", Infinity: "∞",
		BarFill: "█", BarEmpty: "░",
		Eighths: [7]string{"▏", "▎", "▍", "▌", "▋", "▊", "▉"},
		Spark:   [9]string{" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"},
	}
}

// Localize rewrites the UTF-8 glyphs that text built elsewhere carries
// (the model writes "→" between addresses and may cut a command line with
// "…") into g's; with the UTF-8 set, or text without them, s is returned as
// it is.
func (g Glyphs) Localize(s string) string {
	if !g.ASCII || !strings.ContainsAny(s, "→…") {
		return s
	}
	return strings.NewReplacer("→", g.Arrow, "…", g.Ellipsis).Replace(s)
}
