package source

import "testing"

func TestCountingOfRelease(t *testing.T) {
	for rel, want := range map[string]EstabCounting{
		"6.18.44-fc-v973":    EstabWithCloseWait,
		"6.10.0":             EstabWithCloseWait,
		"7.0-rc1":            EstabWithCloseWait,
		"6.9.12-arch1-1":     EstabOnly, // 6.9.y took the fix late: the full dumps tell
		"5.15.0-105-generic": EstabOnly,
		"4.19.0":             EstabOnly,
		"garbage":            EstabWithCloseWait,
	} {
		if got := countingOfRelease(rel); got != want {
			t.Errorf("%q: %v, want %v", rel, got, want)
		}
	}
}
