package format

import (
	"fmt"
	"math"
	"strconv"
)

// Count formats n with a comma every three digits: "999", "1,234",
// "-1,234,567".
func Count(n int) string { return Count64(int64(n)) }

// Count64 is Count for an int64.
func Count64(n int64) string {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	return string(groupDigits(make([]byte, 0, 27), d))
}

// groupDigits appends d (an optionally signed run of decimal digits) to
// dst with a comma between groups of three.
func groupDigits(dst, d []byte) []byte {
	if len(d) > 0 && d[0] == '-' {
		dst = append(dst, '-')
		d = d[1:]
	}
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, c)
	}
	return dst
}

// Percent formats a fraction (0.25) as a whole percentage ("25%"), rounded
// half up; a non-zero fraction under half a percent is "<1%" so it does not
// read as nothing. This is the form of the findings' prose.
func Percent(f float64) string {
	if f > 0 && f < 0.005 {
		return "<1%"
	}
	return strconv.Itoa(int(f*100+0.5)) + "%"
}

// PercentFine formats a fraction with a tenth of a percent below 10%, for
// gauges and tables where small shares matter: "0%", "<0.1%" (under 0.1%,
// negative values included), "2.5%", "61%" (from 10% on, rounded half to
// even).
func PercentFine(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.001:
		return "<0.1%"
	case f < 0.1:
		return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(f*100, 'f', 0, 64) + "%"
}

// PerSec formats a signed per-second rate for prose: whole when the rate is
// whole or at least 10 (rounded half away from zero), else one decimal:
// "+12/s", "-3/s", "+0.5/s", "+0/s".
func PerSec(r float64) string {
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

// PerSecColumn formats a signed per-second rate for a table column, where
// a fixed number of decimals keeps the column steady: "" when |r| < 0.05
// (nothing moved), one decimal below 10 ("+2.0/s", "-0.5/s"), else whole,
// rounded half to even ("+10/s", "+12/s" for 12.5).
func PerSecColumn(r float64) string {
	a := math.Abs(r)
	switch {
	case a < 0.05:
		return ""
	case a < 10:
		return fmt.Sprintf("%+.1f/s", r)
	}
	return fmt.Sprintf("%+.0f/s", r)
}

// Rate formats a non-negative per-second amount without sign or unit: one
// decimal below 10 unless whole ("2.5", "3"), else whole with thousands
// separators ("1,234"), rounded half away from zero.
func Rate(r float64) string {
	if r < 10 && r != math.Trunc(r) {
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	return Count(int(math.Round(r)))
}

// byteUnits are the binary units Bytes uses, each 1024 times the last.
var byteUnits = [...]string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// Bytes formats a size in binary units: "0 B", "512 B", "1.5 KiB",
// "12 MiB", "1,023 KiB", "-2.0 GiB". A value shows one decimal while it is
// under 10 of its unit, else it is whole (rounded half up); it moves to the
// next unit when it would round to 1,024 or more.
func Bytes(n int64) string {
	neg := n < 0
	u := uint64(n)
	if neg {
		u = -u // two's complement: also right for math.MinInt64
	}
	var b []byte
	if neg {
		b = append(b, '-')
	}
	if u < 1024 {
		b = strconv.AppendUint(b, u, 10)
		return string(append(b, " B"...))
	}
	v := float64(u)
	k := 1
	for v/math.Pow(1024, float64(k)) >= 1024-0.5 && k < len(byteUnits)-1 {
		k++
	}
	x := v / math.Pow(1024, float64(k))
	if tenths := math.Floor(x*10 + 0.5); tenths < 100 {
		b = strconv.AppendFloat(b, tenths/10, 'f', 1, 64)
	} else {
		var d [20]byte
		b = groupDigits(b, strconv.AppendUint(d[:0], uint64(math.Floor(x+0.5)), 10))
	}
	b = append(b, ' ')
	return string(append(b, byteUnits[k]...))
}
