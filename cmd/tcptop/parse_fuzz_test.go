package main

import (
	"testing"
	"time"
)

// --record-max-size and --at take user input: any of it is a size or a
// time, or a bounded one-line error; never a panic, a negative size or an
// overflow.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"100M", "2G", "512k", "1048576", "NaN", "Inf", "1e300G", "-1", "", "M"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && n <= 0 {
			t.Fatalf("parseSize(%q) = %d with no error", s, n)
		}
		if err != nil && len(err.Error()) > 400 { // at most 64 bytes of the input, escaped
			t.Fatalf("error of %d bytes", len(err.Error()))
		}
	})
}

func FuzzParseAt(f *testing.F) {
	for _, s := range []string{"15:04:05", "+5m", "2026-12-01T08:00:00Z", "+", "25:61:61", "+-1h", ""} {
		f.Add(s)
	}
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseAt(s, start)
	})
}
