package format

import (
	"strings"
	"unicode/utf8"
)

// MaxSanitizeGrowth bounds Sanitize's output: len(Sanitize(s)) <=
// MaxSanitizeGrowth*len(s). The worst case is a byte that becomes four
// (a control character "\x1b", or an invalid byte "\xff").
const MaxSanitizeGrowth = 4

// Sanitize makes a string that came from the system (a process name, a
// command line, a path, an error echoing user input) harmless on a
// terminal and unambiguous to read, by writing what could act on the
// terminal, or mislead the reader, as a visible escape:
//
//   - "\\" for a backslash, so every escape below reads one way only;
//   - "\n", "\r", "\t" for those controls; "\xNN" for the other C0
//     controls (U+0000-U+001F, ESC is "\x1b") and DEL ("\x7f");
//   - "\xNN" for each byte that is not part of valid UTF-8 (so "\xNN"
//     always stands for the byte NN);
//   - "\uNNNN" for the C1 controls (U+0080-U+009F, which some terminals
//     obey as escape sequences), the bidirectional controls (U+061C,
//     U+200E, U+200F, U+202A-U+202E, U+2066-U+2069, which reorder what
//     follows) and the line and paragraph separators U+2028 and U+2029.
//
// Everything else, including wide and combining characters, is kept. Hex
// digits are lower case, as Go's strconv.Quote writes them. The result is
// valid UTF-8 with no control character and no bidi control, at most
// MaxSanitizeGrowth times as long; the original bytes can be recovered
// from it exactly. A string that needs nothing is returned as it is,
// without allocating. Sanitize is not idempotent where it escaped (the
// backslashes it wrote are escaped again): apply it once, at the edge.
func Sanitize(s string) string {
	i := safePrefix(s)
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				b.WriteString(`\\`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c == 0x7f:
				writeHexByte(&b, c)
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeHexByte(&b, c)
		case unsafeRune(r):
			writeHexRune(&b, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// safePrefix is the length of the longest prefix of s that Sanitize keeps
// as it is.
func safePrefix(s string) int {
	i := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f || c == '\\' {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || unsafeRune(r) {
			return i
		}
		i += size
	}
	return i
}

// unsafeRune reports whether a non-ASCII code point must be escaped: a C1
// control, a bidi control, or a line or paragraph separator.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x2028 && r <= 0x202e: // separators, then LRE RLE PDF LRO RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI RLI FSI PDI
		return true
	}
	return false
}

const hexDigits = "0123456789abcdef"

func writeHexByte(b *strings.Builder, c byte) {
	b.WriteString(`\x`)
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&0xf])
}

// writeHexRune writes r as \uNNNN (every rune escaped is below U+10000).
func writeHexRune(b *strings.Builder, r rune) {
	b.WriteString(`\u`)
	for shift := 12; shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[r>>shift&0xf])
	}
}
