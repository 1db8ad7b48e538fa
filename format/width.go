package format

import (
	"strings"

	"github.com/clipperhouse/displaywidth"
	"github.com/clipperhouse/uax29/v2/graphemes"
)

// cells measures widths: ambiguous East Asian characters are narrow and
// escape sequences are not special, whatever the environment says (the
// same output on every machine, and golden tests that do not depend on
// RUNEWIDTH_EASTASIAN).
var cells = displaywidth.Options{}

// Width is the number of terminal cells s takes: grapheme clusters, wide
// (CJK, emoji) ones 2 cells, combining marks and other zero-width
// characters 0. s is plain text (Sanitize it first): control characters
// count 0, escape sequences are not recognised.
func Width(s string) int {
	return cells.String(s)
}

// Cut returns the longest prefix of s at most n cells wide that ends on a
// grapheme cluster boundary, with no mark: for lines that must simply
// stop at the screen's edge.
func Cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n { // no cluster is wider than its bytes
		return s
	}
	return s[:prefixEnd(s, n)]
}

// prefixEnd is the end of the longest run of whole grapheme clusters at
// the start of s that fits in n cells.
func prefixEnd(s string, n int) int {
	end, w := 0, 0
	// Printable ASCII followed by ASCII is a cluster of one cell: no
	// segmentation needed. Before a multi-byte character it may start a
	// longer cluster (e + a combining accent), so the segmenter decides.
	for end < len(s) && printableASCII(s[end]) && (end+1 == len(s) || s[end+1] < 0x80) {
		if w == n {
			return end
		}
		end++
		w++
	}
	if end == len(s) {
		return end
	}
	g := graphemes.FromString(s[end:])
	for g.Next() {
		cw := graphemeWidth(g.Value())
		if w+cw > n {
			break
		}
		w += cw
		end += len(g.Value())
	}
	return end
}

func printableASCII(b byte) bool { return b >= 0x20 && b < 0x7f }

// graphemeWidth is the width of one grapheme cluster.
func graphemeWidth(c string) int { return cells.String(c) }

// Clip shortens s to at most n cells, cutting only between grapheme
// clusters and marking a cut with g.Ellipsis ("…", or "~" in ASCII); a
// string that fits is returned as it is. The result is always a prefix of
// s, plus the ellipsis when cut. When n is narrower than the ellipsis the
// cut is unmarked; Clip with an empty Ellipsis is Cut.
func Clip(s string, n int, g Glyphs) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n || Width(s) <= n {
		return s
	}
	ew := Width(g.Ellipsis)
	if ew == 0 || ew > n {
		return s[:prefixEnd(s, n)]
	}
	return s[:prefixEnd(s, n-ew)] + g.Ellipsis
}

// ClipMiddle shortens s to at most n cells by cutting out its middle and
// marking the cut with g.Ellipsis, so both ends stay readable; the end
// gets the larger half (for an address the end is the port or the last
// groups of an IPv6 address): "2001:db8:…:5678]:443". A string that fits is
// returned as it is; when n is narrower than the ellipsis, s is cut as by
// Cut.
func ClipMiddle(s string, n int, g Glyphs) string {
	if n <= 0 {
		return ""
	}
	total := Width(s)
	if total <= n {
		return s
	}
	ew := Width(g.Ellipsis)
	if ew == 0 || ew > n {
		return Cut(s, n)
	}
	room := n - ew
	headW := room / 2
	tailW := room - headW
	head := s[:prefixEnd(s, headW)]
	// The tail starts at the first cluster boundary after which at most
	// tailW cells remain.
	start, w := len(s), 0
	gi := graphemes.FromString(s)
	for gi.Next() {
		if total-w <= tailW {
			start = gi.Start()
			break
		}
		w += graphemeWidth(gi.Value())
	}
	var b strings.Builder
	b.Grow(len(head) + len(g.Ellipsis) + len(s) - start)
	b.WriteString(head)
	b.WriteString(g.Ellipsis)
	b.WriteString(s[start:])
	return b.String()
}

// Pad fills s with spaces to n cells, after it (left-aligned) or, when
// right is true, before it (right-aligned). A string already n cells or
// wider is returned as it is: Fit also cuts.
func Pad(s string, n int, right bool) string {
	w := Width(s)
	if w >= n {
		return s
	}
	if right {
		return strings.Repeat(" ", n-w) + s
	}
	return s + strings.Repeat(" ", n-w)
}

// Fit returns s in exactly n cells (for n > 0): clipped by Clip with g's
// ellipsis, then padded by Pad (a wide character that does not fit leaves
// a gap, filled with a space). Fit with a zero Glyphs cuts without a mark.
func Fit(s string, n int, right bool, g Glyphs) string {
	if n <= 0 {
		return ""
	}
	return Pad(Clip(s, n, g), n, right)
}
