package format

// Copies of the helpers this package replaces, as they were in model/ and
// ui/ at the time: the tests check the new functions give the same strings
// (the goldens depend on them). Delete with the old helpers' last caller.

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

func oldPct(f float64) string { // model/findings.go pct
	if f > 0 && f < 0.005 {
		return "<1%"
	}
	return strconv.Itoa(int(f*100+0.5)) + "%"
}

func oldCount(n int) string { // model/findings.go count
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func oldPerSec(r float64) string { // model/findings.go perSec
	sign := "+"
	if r < 0 {
		sign = "-"
		r = -r
	}
	if r >= 10 || r == float64(int(r)) {
		return sign + strconv.Itoa(int(r+0.5)) + "/s"
	}
	return sign + strconv.FormatFloat(r, 'f', 1, 64) + "/s"
}

func oldDur(sec float64) string { // model/findings.go dur
	switch {
	case sec < 0:
		return "0 s"
	case sec < 10:
		return strconv.FormatFloat(sec, 'f', 1, 64) + " s"
	case sec < 120:
		return strconv.Itoa(int(sec+0.5)) + " s"
	case sec < 7200:
		s := int(sec + 0.5)
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	m := int(sec/60 + 0.5)
	return fmt.Sprintf("%dh%02dm", m/60, m%60)
}

func oldTruncateRunes(s string, n int) string { // model/rule_closewait.go
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func oldNum(n int) string { // ui/render.go num
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	if len(s) > 3 {
		var b strings.Builder
		pre := len(s) % 3
		if pre > 0 {
			b.WriteString(s[:pre])
		}
		for i := pre; i < len(s); i += 3 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(s[i : i+3])
		}
		s = b.String()
	}
	if neg {
		return "-" + s
	}
	return s
}

func oldFmtRate(r float64) string { // ui/render.go fmtRate
	if math.Abs(r) < 0.05 {
		return ""
	}
	if math.Abs(r) < 10 {
		return fmt.Sprintf("%+.1f/s", r)
	}
	return fmt.Sprintf("%+.0f/s", r)
}

func oldRateNum(r float64) string { // ui/render.go rateNum
	if r < 10 && r != math.Trunc(r) {
		return fmt.Sprintf("%.1f", r)
	}
	return oldNum(int(math.Round(r)))
}

func oldShortDuration(d time.Duration) string { // ui/render.go shortDuration
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

func oldBar(n, maxv, width int, fill rune) string { // ui/text.go Bar
	if n <= 0 || maxv <= 0 || width <= 0 {
		return ""
	}
	cells := n * width / maxv
	cells = max(1, min(cells, width))
	return strings.Repeat(string(fill), cells)
}

func oldUIPct(f float64) string { // ui/text.go Pct
	switch {
	case f == 0:
		return "0%"
	case f < 0.001:
		return "<0.1%"
	case f < 0.1:
		return fmt.Sprintf("%.1f%%", f*100)
	}
	return fmt.Sprintf("%.0f%%", f*100)
}

func oldMillis(ms uint32) string { // ui/text.go Millis
	if ms < 1000 {
		return fmt.Sprintf("%dms", ms)
	}
	return fmt.Sprintf("%.1fs", float64(ms)/1000)
}

func oldClip(s string, n int) string { // ui/text.go Clip
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "~"
}

func oldPad(s string, w int, right bool) string { // ui/table.go pad
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w-1, "") + "~"
	}
	if right {
		return strings.Repeat(" ", w-sw) + s
	}
	return s + strings.Repeat(" ", w-sw)
}

func oldFit(s string, w int) string { // ui/table.go fit
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w, "")
	}
	return s + strings.Repeat(" ", w-sw)
}

func oldClipCells(s string, n int, ascii bool) string { // ui/findings.go clipCells
	if n <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= n {
		return s
	}
	tail := "…"
	if ascii {
		tail = "~"
	}
	return ansi.Truncate(s, n, tail)
}

func oldAgeText(d time.Duration) string { // ui/findings.go ageText
	s := d.Seconds()
	switch {
	case d < 0:
		return "0s"
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", s)
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(s))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm%02ds", int(s)/60, int(s)%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(s)/3600, int(s)%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", int(s)/86400, int(s)%86400/3600)
}

func oldSparkline(series []int, width int, ascii bool) string { // ui/render.go sparkline
	if width <= 0 {
		return ""
	}
	levels := []rune(" ▁▂▃▄▅▆▇█")
	if ascii {
		levels = []rune(" _.-:=+*#")
	}
	if len(series) > width {
		series = series[len(series)-width:]
	}
	top := 0
	for _, v := range series {
		top = max(top, v)
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", width-len(series)))
	for _, v := range series {
		i := 0
		if v > 0 && top > 0 {
			i = max(1, int(math.Round(float64(v)/float64(top)*float64(len(levels)-1))))
		}
		b.WriteRune(levels[i])
	}
	return b.String()
}

// oldGauge is ui/render.go gauge without the styles: fill and empty text.
func oldGauge(ascii bool, frac float64, width int, atLeastOne bool) (string, string) {
	barFill, barEmpty := "█", "░"
	if ascii {
		barFill, barEmpty = "#", "."
	}
	if width <= 0 {
		return "", ""
	}
	frac = math.Max(0, math.Min(1, frac))
	if barFill != "█" {
		cells := int(math.Round(frac * float64(width)))
		if cells == 0 && atLeastOne {
			cells = 1
		}
		return strings.Repeat(barFill, cells), strings.Repeat(barEmpty, width-cells)
	}
	eighths := int(math.Round(frac * float64(width*8)))
	if eighths == 0 && atLeastOne {
		eighths = 1
	}
	full, part := eighths/8, eighths%8
	s := strings.Repeat("█", full)
	empty := width - full
	if part > 0 {
		s += string([]rune("▏▎▍▌▋▊▉")[part-1])
		empty--
	}
	return s, strings.Repeat(barEmpty, empty)
}
