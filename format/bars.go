package format

import (
	"math"
	"strings"
)

// Bar draws n out of maxv as up to width repetitions of fill, as the batch
// text output does ("#"); a non-zero n gets at least one so small counts
// stay visible. It is "" when n, maxv or width is not positive.
func Bar(n, maxv, width int, fill string) string {
	if n <= 0 || maxv <= 0 || width <= 0 {
		return ""
	}
	cells := n * width / maxv
	cells = max(1, min(cells, width))
	return strings.Repeat(fill, cells)
}

// Gauge is the filled part of a bar width cells wide filled to frac
// (clamped to [0, 1]; NaN is 0) and the number of cells left empty, for
// the caller to style and draw with g.BarEmpty or a blank. With eighth
// blocks (UTF-8) the fill ends in a partial cell; in ASCII it is whole
// cells of g.BarFill, rounded. atLeastOne keeps a small non-zero value
// visible (one eighth, or one cell). width <= 0 gives ("", 0).
func Gauge(frac float64, width int, atLeastOne bool, g Glyphs) (fill string, empty int) {
	if width <= 0 {
		return "", 0
	}
	if math.IsNaN(frac) {
		frac = 0
	}
	frac = math.Max(0, math.Min(1, frac))
	if g.Eighths[0] == "" {
		cells := int(math.Round(frac * float64(width)))
		if cells == 0 && atLeastOne {
			cells = 1
		}
		return strings.Repeat(g.BarFill, cells), width - cells
	}
	eighths := int(math.Round(frac * float64(width*8)))
	if eighths == 0 && atLeastOne {
		eighths = 1
	}
	full, part := eighths/8, eighths%8
	fill = strings.Repeat(g.BarFill, full)
	empty = width - full
	if part > 0 {
		fill += g.Eighths[part-1]
		empty--
	}
	return fill, empty
}

// Sparkline draws the last width values of series (oldest first) with
// g.Spark's levels, scaled from 0 to their maximum and right-aligned in
// width cells; zero is blank and a non-zero value at least the lowest
// level.
func Sparkline(series []int, width int, g Glyphs) string {
	if width <= 0 {
		return ""
	}
	if len(series) > width {
		series = series[len(series)-width:]
	}
	top := 0
	for _, v := range series {
		top = max(top, v)
	}
	var b strings.Builder
	b.Grow(width * 3)
	b.WriteString(strings.Repeat(" ", width-len(series)))
	top8 := float64(len(g.Spark) - 1)
	for _, v := range series {
		i := 0
		if v > 0 && top > 0 {
			i = max(1, int(math.Round(float64(v)/float64(top)*top8)))
		}
		b.WriteString(g.Spark[i])
	}
	return b.String()
}
