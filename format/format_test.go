package format

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var (
	utf = GlyphsFor(false)
	asc = GlyphsFor(true)
)

func TestCount(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 7: "7", 999: "999", 1000: "1,000", -1000: "-1,000", 1234: "1,234", -1234: "-1,234",
		123456: "123,456", 1234567: "1,234,567", -1234567: "-1,234,567",
		math.MaxInt64: "9,223,372,036,854,775,807", math.MinInt64: "-9,223,372,036,854,775,808",
	} {
		if got := Count64(n); got != want {
			t.Errorf("Count64(%d) = %q, want %q", n, got, want)
		}
		if got := Count(int(n)); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
	for _, n := range []int{0, 1, -1, 12, 999, -999, 1000, 10000, 99999, 100000, -100000, 987654321, math.MaxInt, math.MinInt} {
		if Count(n) != oldCount(n) || Count(n) != oldNum(n) {
			t.Errorf("Count(%d) = %q, model.count %q, ui.num %q", n, Count(n), oldCount(n), oldNum(n))
		}
	}
}

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		f           float64
		whole, fine string
	}{
		{0, "0%", "0%"}, {0.0005, "<1%", "<0.1%"}, {0.001, "<1%", "0.1%"}, {0.004, "<1%", "0.4%"},
		{0.005, "1%", "0.5%"}, {0.025, "3%", "2.5%"}, {0.125, "13%", "12%"}, {0.6049, "60%", "60%"},
		{0.999, "100%", "100%"}, {1, "100%", "100%"}, {1.5, "150%", "150%"},
	} {
		if got := Percent(c.f); got != c.whole {
			t.Errorf("Percent(%v) = %q, want %q", c.f, got, c.whole)
		}
		if got := PercentFine(c.f); got != c.fine {
			t.Errorf("PercentFine(%v) = %q, want %q", c.f, got, c.fine)
		}
	}
	for i := -100; i <= 2000; i++ {
		f := float64(i) / 1000
		if Percent(f) != oldPct(f) || PercentFine(f) != oldUIPct(f) {
			t.Errorf("%v: Percent %q pct %q, PercentFine %q Pct %q", f, Percent(f), oldPct(f), PercentFine(f), oldUIPct(f))
		}
	}
}

func TestRates(t *testing.T) {
	for _, c := range []struct {
		r                   float64
		perSec, column, num string
	}{
		{0, "+0/s", "", "0"}, {0.04, "+0.0/s", "", "0.0"}, {0.5, "+0.5/s", "+0.5/s", "0.5"},
		{2, "+2/s", "+2.0/s", "2"}, {-3, "-3/s", "-3.0/s", "-3"}, {-12.4, "-12/s", "-12/s", "-12.4"},
		{12.5, "+13/s", "+12/s", "13"}, {1234.4, "+1234/s", "+1234/s", "1,234"}, {9.96, "+10.0/s", "+10.0/s", "10.0"},
	} {
		if got := PerSec(c.r); got != c.perSec {
			t.Errorf("PerSec(%v) = %q, want %q", c.r, got, c.perSec)
		}
		if got := PerSecColumn(c.r); got != c.column {
			t.Errorf("PerSecColumn(%v) = %q, want %q", c.r, got, c.column)
		}
		if got := Rate(c.r); got != c.num {
			t.Errorf("Rate(%v) = %q, want %q", c.r, got, c.num)
		}
	}
	for i := -30000; i <= 30000; i += 7 {
		r := float64(i) / 100
		if PerSec(r) != oldPerSec(r) || PerSecColumn(r) != oldFmtRate(r) {
			t.Fatalf("%v: PerSec %q perSec %q, PerSecColumn %q fmtRate %q", r, PerSec(r), oldPerSec(r), PerSecColumn(r), oldFmtRate(r))
		}
		if r >= 0 && Rate(r) != oldRateNum(r) {
			t.Fatalf("Rate(%v) = %q, rateNum %q", r, Rate(r), oldRateNum(r))
		}
	}
	for _, r := range []float64{math.Inf(1), math.Inf(-1), math.NaN()} {
		if PerSecColumn(r) != oldFmtRate(r) {
			t.Errorf("PerSecColumn(%v) = %q, fmtRate %q", r, PerSecColumn(r), oldFmtRate(r))
		}
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1: "1 B", 512: "512 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		10*1024 - 52: "9.9 KiB", 10*1024 - 51: "10 KiB", 12 * 1024: "12 KiB", 1023 * 1024: "1,023 KiB",
		1024*1024 - 1: "1.0 MiB", 12 << 20: "12 MiB", 3 << 30: "3.0 GiB", 5 << 40: "5.0 TiB",
		-1536: "-1.5 KiB", -2 << 30: "-2.0 GiB", math.MaxInt64: "8.0 EiB", math.MinInt64: "-8.0 EiB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDurations(t *testing.T) {
	for sec, want := range map[float64]string{
		-1: "0 s", 0: "0.0 s", 2.25: "2.2 s", 9.96: "10.0 s", 45: "45 s", 59.6: "60 s", 119.4: "119 s",
		200: "3m20s", 7199.4: "119m59s", 7500: "2h05m", 90000: "25h00m",
	} {
		if got := Duration(sec); got != want {
			t.Errorf("Duration(%v) = %q, want %q", sec, got, want)
		}
	}
	for i := -10; i < 20000; i += 3 {
		sec := float64(i) * 0.7
		if Duration(sec) != oldDur(sec) {
			t.Fatalf("Duration(%v) = %q, dur %q", sec, Duration(sec), oldDur(sec))
		}
	}
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 800 * time.Millisecond: "0.8s", 45 * time.Second: "45s", 119999 * time.Millisecond: "119s",
		200 * time.Second: "3m20s", 2*time.Hour + 5*time.Minute: "2h05m", 76*time.Hour + 59*time.Minute: "3d04h",
	} {
		if got := Age(d); got != want {
			t.Errorf("Age(%v) = %q, want %q", d, got, want)
		}
	}
	for d := -time.Second; d < 72*time.Hour; d += 7919 * time.Millisecond {
		if Age(d) != oldAgeText(d) {
			t.Fatalf("Age(%v) = %q, ageText %q", d, Age(d), oldAgeText(d))
		}
	}
	for d, want := range map[time.Duration]string{
		500 * time.Millisecond: "500ms", 0: "0ms", time.Second: "1s", 2500 * time.Millisecond: "2.5s",
		90 * time.Second: "90s", 5 * time.Minute: "5m", time.Hour: "1h", 61 * time.Minute: "61m", 3601 * time.Second: "3601s",
	} {
		if got := Short(d); got != want {
			t.Errorf("Short(%v) = %q, want %q", d, got, want)
		}
		if Short(d) != oldShortDuration(d) {
			t.Errorf("Short(%v) = %q, shortDuration %q", d, Short(d), oldShortDuration(d))
		}
	}
	for _, ms := range []uint32{0, 1, 850, 999, 1000, 1049, 1050, 59100, math.MaxUint32} {
		if Millis(ms) != oldMillis(ms) {
			t.Errorf("Millis(%d) = %q, Millis was %q", ms, Millis(ms), oldMillis(ms))
		}
	}
	if Millis(850) != "850ms" || Millis(59100) != "59.1s" {
		t.Error("Millis")
	}
}

func TestWidth(t *testing.T) {
	for s, want := range map[string]int{
		"": 0, "abc": 3, "日本語": 6, "é": 1, "e\u0301": 1, "e\u0301x": 2, "👍": 2, "👍🏽": 2,
		"👩‍👩‍👧": 2, "🇫🇷": 2, "\u200b": 0, "#\ufe0f\u20e3": 2, "a日b": 4, "·": 1, "…": 1, "→": 1, "▏": 1,
		"\u0300abc": 3, // a leading combining mark on its own is 0
	} {
		if got := Width(s); got != want {
			t.Errorf("Width(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestClip(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		g    Glyphs
		want string
	}{
		{"php-fpm: pool www", 8, asc, "php-fpm~"},
		{"php-fpm: pool www", 8, utf, "php-fpm…"},
		{"short", 8, utf, "short"},
		{"exactly8", 8, utf, "exactly8"},
		{"abc", 0, utf, ""},
		{"abc", -1, utf, ""},
		{"abcd", 1, utf, "…"},
		{"abcd", 3, Glyphs{}, "abc"},
		{"日本語テキスト", 5, utf, "日本…"},                    // 2+2+1
		{"日本語テキスト", 6, utf, "日本…"},                    // 日本語 needs 6 + 1: a gap of one cell
		{"日本語", 6, utf, "日本語"},                        // fits exactly
		{"ab日本", 4, asc, "ab~"},                       // 日 would need cells 3-4 plus the mark
		{"cafe\u0301 au lait", 5, utf, "cafe\u0301…"}, // the accent stays with its e
		{"cafe\u0301s", 4, utf, "caf…"},
		{"👩‍👩‍👧👩‍👩‍👧", 3, utf, "👩‍👩‍👧…"},
		{"🇫🇷🇩🇪🇮🇹", 4, asc, "🇫🇷~"},
		{"x\u200by\u200bz", 2, Glyphs{}, "x\u200by\u200b"}, // zero-width clusters ride along,
	} {
		got := Clip(c.s, c.n, c.g)
		if got != c.want {
			t.Errorf("Clip(%q, %d, %q) = %q, want %q", c.s, c.n, c.g.Ellipsis, got, c.want)
		}
		if c.n > 0 && Width(got) > c.n {
			t.Errorf("Clip(%q, %d) is %d cells", c.s, c.n, Width(got))
		}
	}
	if Cut("日本語", 3) != "日" || Cut("abc", 5) != "abc" || Cut("abc", 0) != "" {
		t.Error("Cut")
	}
}

// asciiSamples are plain strings for comparisons with the ansi-based
// helpers, which agree with Width only on text without escapes.
var asciiSamples = []string{"", "a", "ab", "abc", "php-fpm: pool www", "10.0.0.5:443", "[2001:db8::1]:8080", "exactly8", "a b c d e f g h i j"}

func TestClipMatchesOldHelpers(t *testing.T) {
	for _, s := range asciiSamples {
		for n := -1; n <= 22; n++ {
			if got, want := Clip(s, n, asc), oldClipCells(s, n, true); got != want {
				t.Errorf("Clip(%q, %d, ascii) = %q, clipCells %q", s, n, got, want)
			}
			if got, want := Clip(s, n, utf), oldClipCells(s, n, false); got != want {
				t.Errorf("Clip(%q, %d, utf) = %q, clipCells %q", s, n, got, want)
			}
			if n >= 2 {
				if got, want := Clip(s, n, asc), oldClip(s, n); got != want {
					t.Errorf("Clip(%q, %d, ascii) = %q, ui.Clip %q", s, n, got, want)
				}
				if got, want := Clip(s, n, utf), oldTruncateRunes(s, n); got != want {
					t.Errorf("Clip(%q, %d, utf) = %q, truncateRunes %q", s, n, got, want)
				}
			}
			for _, right := range []bool{false, true} {
				if got, want := Fit(s, n, right, asc), oldPad(s, n, right); got != want {
					t.Errorf("Fit(%q, %d, %v, ascii) = %q, pad %q", s, n, right, got, want)
				}
			}
			if n >= 0 {
				if got, want := Pad(Cut(s, n), n, false), oldFit(s, n); got != want {
					t.Errorf("Pad(Cut(%q, %d)) = %q, fit %q", s, n, got, want)
				}
			}
		}
	}
	// Non-ASCII text: the same as clipCells where both measure alike.
	for _, s := range []string{"日本語テキスト", "cafe\u0301 au lait", "→ peers", "👍👍👍👍"} {
		for n := 1; n <= 12; n++ {
			if got, want := Clip(s, n, utf), oldClipCells(s, n, false); got != want {
				t.Errorf("Clip(%q, %d, utf) = %q, clipCells %q", s, n, got, want)
			}
		}
	}
}

func TestClipMiddle(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		g    Glyphs
		want string
	}{
		{"[2001:db8:85a3::8a2e:370:7334]:443", 20, utf, "[2001:db8…:7334]:443"},
		{"[2001:db8:85a3::8a2e:370:7334]:443", 20, asc, "[2001:db8~:7334]:443"},
		{"10.0.0.5:443", 12, utf, "10.0.0.5:443"},
		{"abcdefgh", 5, utf, "ab…gh"},
		{"abcdefgh", 4, utf, "a…gh"},
		{"abcdefgh", 1, utf, "…"},
		{"abcdefgh", 3, Glyphs{}, "abc"},
		{"日本語テキスト", 7, utf, "日…ト"}, {"日本語テキスト", 9, utf, "日本…スト"},
		{"abc", 0, utf, ""},
	} {
		got := ClipMiddle(c.s, c.n, c.g)
		if got != c.want {
			t.Errorf("ClipMiddle(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
		if Width(got) > max(c.n, 0) {
			t.Errorf("ClipMiddle(%q, %d) is %d cells", c.s, c.n, Width(got))
		}
	}
}

func TestPadFit(t *testing.T) {
	for _, c := range []struct {
		s     string
		n     int
		right bool
		want  string
	}{
		{"ab", 4, false, "ab  "}, {"ab", 4, true, "  ab"}, {"日本", 5, false, "日本 "}, {"日本", 5, true, " 日本"},
		{"abcdef", 4, false, "abcdef"}, {"e\u0301", 3, true, "  e\u0301"},
	} {
		if got := Pad(c.s, c.n, c.right); got != c.want {
			t.Errorf("Pad(%q, %d, %v) = %q, want %q", c.s, c.n, c.right, got, c.want)
		}
	}
	for _, c := range []struct {
		s, want string
		n       int
	}{
		{"abcdef", "abc…", 4}, {"日本語", "日… ", 4}, {"日本語", "日本…", 5}, {"ab", "ab  ", 4}, {"ab", "", 0},
	} {
		got := Fit(c.s, c.n, false, utf)
		if got != c.want {
			t.Errorf("Fit(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
		if Width(got) != max(c.n, 0) {
			t.Errorf("Fit(%q, %d) is %d cells", c.s, c.n, Width(got))
		}
	}
}

func TestGlyphs(t *testing.T) {
	a := GlyphsFor(true)
	for _, s := range []string{a.Arrow, a.Advice, a.Bullet, a.Ellipsis, a.Up, a.Down, a.KeyUp, a.KeyDown,
		a.Crumb, a.HelpSep, a.ColumnSep, a.Infinity, a.BarFill, a.BarEmpty, strings.Join(a.Spark[:], "")} {
		for _, r := range s {
			if r > 127 {
				t.Errorf("ASCII glyph %q", s)
			}
		}
	}
	u := GlyphsFor(false)
	for _, s := range append(u.Spark[:], u.Eighths[:]...) {
		if Width(s) != 1 {
			t.Errorf("glyph %q is %d cells", s, Width(s))
		}
	}
	if got := a.Localize("10.0.0.1 → 10.0.0.2: php-fpm…"); got != "10.0.0.1 -> 10.0.0.2: php-fpm~" {
		t.Errorf("Localize = %q", got)
	}
	if s := "a → b"; u.Localize(s) != s {
		t.Error("UTF-8 Localize changed text")
	}
}

func TestBars(t *testing.T) {
	if Bar(1, 1000, 40, "#") != "#" || Bar(0, 10, 40, "#") != "" || len(Bar(10, 10, 40, "#")) != 40 {
		t.Error("Bar")
	}
	for n := -1; n <= 12; n++ {
		for _, w := range []int{0, 1, 7, 40} {
			if Bar(n, 10, w, "#") != oldBar(n, 10, w, '#') {
				t.Errorf("Bar(%d, 10, %d)", n, w)
			}
		}
	}
	for _, ascii := range []bool{false, true} {
		g := GlyphsFor(ascii)
		for _, w := range []int{-1, 0, 1, 5, 24, 40} {
			for i := -2; i <= 102; i++ {
				f := float64(i) / 100
				for _, one := range []bool{false, true} {
					fill, empty := Gauge(f, w, one, g)
					of, oe := oldGauge(ascii, f, w, one)
					if fill != of || strings.Repeat(g.BarEmpty, empty) != oe {
						t.Fatalf("Gauge(%v, %d, %v, ascii %v) = %q,%d; gauge %q,%q", f, w, one, ascii, fill, empty, of, oe)
					}
					if w > 0 && Width(fill)+empty != w {
						t.Fatalf("Gauge(%v, %d) is %d cells", f, w, Width(fill)+empty)
					}
				}
			}
		}
		if fill, empty := Gauge(math.NaN(), 4, false, g); fill != "" || empty != 4 {
			t.Errorf("Gauge(NaN) = %q, %d", fill, empty)
		}
		for _, series := range [][]int{nil, {0}, {1, 2, 3}, {0, 5, 0, 10, 7}, {3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3}, {-1, 4}} {
			for _, w := range []int{0, 1, 4, 10} {
				if got, want := Sparkline(series, w, g), oldSparkline(series, w, ascii); got != want {
					t.Errorf("Sparkline(%v, %d, ascii %v) = %q, sparkline %q", series, w, ascii, got, want)
				}
			}
		}
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                                "nginx",
		"":                                     "",
		"日本語 e\u0301 👍":                        "日本語 e\u0301 👍",
		"\x1b]2;pwned\x07":                     `\x1b]2;pwned\x07`,
		"\x1b[2J":                              `\x1b[2J`,
		"a\nb\rc\td":                           `a\nb\rc\td`,
		"C:\\path":                             `C:\\path`,
		"\x00\x7f":                             `\x00\x7f`,
		"x\u0085y\u009b":                       `x\u0085y\u009b`,
		"evil\u202egnp.exe":                    `evil\u202egnp.exe`,
		"\u200e\u200f\u061c\u2066\u2069\u202a": `\u200e\u200f\u061c\u2066\u2069\u202a`,
		"line\u2028para\u2029":                 `line\u2028para\u2029`,
		"bad\xff\xfe":                          `bad\xff\xfe`,
		"cut\xe6\x97":                          `cut\xe6\x97`,
		"\ufffd is fine":                       "\ufffd is fine",
		"\u00a0nbsp \u200b zwsp":               "\u00a0nbsp \u200b zwsp",
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
		checkSanitized(t, in, Sanitize(in))
	}
	s := "php-fpm: pool www 日本語"
	if n := testing.AllocsPerRun(100, func() { _ = Sanitize(s) }); n != 0 {
		t.Errorf("Sanitize of safe text allocates %v times", n)
	}
}

// checkSanitized checks Sanitize's promises for one input.
func checkSanitized(t *testing.T, in, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("Sanitize(%q) = %q: not valid UTF-8", in, out)
	}
	for _, r := range out {
		if r < 0x20 || r == 0x7f || unsafeRune(r) {
			t.Fatalf("Sanitize(%q) = %q: contains %U", in, out, r)
		}
	}
	if len(out) > MaxSanitizeGrowth*len(in) {
		t.Fatalf("Sanitize(%q) grew %d -> %d", in, len(in), len(out))
	}
	if back, ok := unsanitize(out); !ok || back != in {
		t.Fatalf("Sanitize(%q) = %q does not read back (%q)", in, out, back)
	}
	if safe := strings.ReplaceAll(out, `\`, "/"); Sanitize(safe) != safe {
		t.Fatalf("Sanitize changed safe text %q", safe)
	}
	if (out == in) != (safePrefix(in) == len(in)) {
		t.Fatalf("Sanitize(%q): fast path disagrees", in)
	}
}

// unsanitize reverses Sanitize, showing its output is unambiguous.
func unsanitize(s string) (string, bool) {
	var b strings.Builder
	hex := func(h string) (int, bool) {
		v := 0
		for _, c := range []byte(h) {
			i := strings.IndexByte(hexDigits, c)
			if i < 0 {
				return 0, false
			}
			v = v<<4 | i
		}
		return v, true
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", false
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'x':
			if i+2 >= len(s) {
				return "", false
			}
			v, ok := hex(s[i+1 : i+3])
			if !ok {
				return "", false
			}
			b.WriteByte(byte(v))
			i += 2
		case 'u':
			if i+4 >= len(s) {
				return "", false
			}
			v, ok := hex(s[i+1 : i+5])
			if !ok {
				return "", false
			}
			b.WriteRune(rune(v))
			i += 4
		default:
			return "", false
		}
	}
	return b.String(), true
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"nginx", "\x1b]2;x\x07", "a\\b", "\u202e", "\xff", "\xc2\x85", "日本語", "\x00\n\r\t\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkSanitized(t, s, Sanitize(s))
	})
}

func FuzzClip(f *testing.F) {
	for _, s := range []string{"php-fpm: pool www", "日本語テキスト", "cafe\u0301", "👩‍👩‍👧x", "🇫🇷🇩🇪", "a\u200bb"} {
		f.Add(s, 5, false)
	}
	f.Fuzz(func(t *testing.T, s string, n int, ascii bool) {
		s = Sanitize(s) // Clip takes plain, valid text
		n %= 64
		g := GlyphsFor(ascii)
		if Width(s) > len(s) {
			t.Fatalf("Width(%q) = %d > %d bytes", s, Width(s), len(s))
		}
		got := Clip(s, n, g)
		if n <= 0 {
			if got != "" {
				t.Fatalf("Clip(%q, %d) = %q", s, n, got)
			}
			return
		}
		if Width(got) > n {
			t.Fatalf("Clip(%q, %d) = %q is %d cells", s, n, got, Width(got))
		}
		if !utf8.ValidString(got) {
			t.Fatalf("Clip(%q, %d) = %q: invalid UTF-8", s, n, got)
		}
		if got != s {
			head, ok := strings.CutSuffix(got, g.Ellipsis)
			if !ok || !strings.HasPrefix(s, head) || Width(s) <= n {
				t.Fatalf("Clip(%q, %d) = %q: not a prefix plus %q", s, n, got, g.Ellipsis)
			}
		}
		if fit := Fit(s, n, ascii, g); Width(fit) != n {
			t.Fatalf("Fit(%q, %d) = %q is %d cells", s, n, fit, Width(fit))
		}
		mid := ClipMiddle(s, n, g)
		if Width(mid) > n || !utf8.ValidString(mid) {
			t.Fatalf("ClipMiddle(%q, %d) = %q is %d cells", s, n, mid, Width(mid))
		}
		if cut := Cut(s, n); !strings.HasPrefix(s, cut) || Width(cut) > n {
			t.Fatalf("Cut(%q, %d) = %q", s, n, cut)
		}
	})
}

func BenchmarkSanitizeSafe(b *testing.B) {
	s := "/usr/sbin/php-fpm: pool www --fpm-config /etc/php/8.2/fpm/php-fpm.conf"
	b.ReportAllocs()
	for b.Loop() {
		_ = Sanitize(s)
	}
}

func BenchmarkSanitizeHostile(b *testing.B) {
	s := "\x1b]2;pwned\x07 evil\u202egnp.exe \xff\n"
	b.ReportAllocs()
	for b.Loop() {
		_ = Sanitize(s)
	}
}

func BenchmarkClipASCII(b *testing.B) {
	s := "/usr/sbin/php-fpm: pool www --fpm-config /etc/php/8.2/fpm/php-fpm.conf"
	g := GlyphsFor(false)
	b.ReportAllocs()
	for b.Loop() {
		_ = Clip(s, 40, g)
	}
}

func BenchmarkClipWide(b *testing.B) {
	s := strings.Repeat("日本語テキスト👍", 8)
	g := GlyphsFor(false)
	b.ReportAllocs()
	for b.Loop() {
		_ = Clip(s, 40, g)
	}
}
