package format

import (
	"fmt"
	"strconv"
	"time"
)

// Duration formats a span in seconds for prose, rounded to the nearest
// unit shown: "2.2 s" (one decimal below 10 s), "45 s" (below 2 minutes),
// "3m20s" (below 2 hours), "2h05m"; negative is "0 s".
func Duration(sec float64) string {
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

// Age formats how long something has existed, compactly for a column and
// never more than has elapsed (whole units are cut, not rounded): "0.8s",
// "45s", "3m20s", "2h05m" (below 48 hours), "3d04h"; negative is "0s".
func Age(d time.Duration) string {
	s := d.Seconds()
	switch {
	case d < 0:
		return "0s"
	case d < 10*time.Second:
		return strconv.FormatFloat(s, 'f', 1, 64) + "s"
	case d < 2*time.Minute:
		return strconv.Itoa(int(s)) + "s"
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm%02ds", int(s)/60, int(s)%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(s)/3600, int(s)%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", int(s)/86400, int(s)%86400/3600)
}

// Short formats an interval the way it is typed on the command line:
// "500ms", "1s", "2.5s", "5m", "1h".
func Short(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// Millis formats a kernel timer in milliseconds: "850ms" below a second,
// else seconds with one decimal, "59.1s".
func Millis(ms uint32) string {
	if ms < 1000 {
		return strconv.FormatUint(uint64(ms), 10) + "ms"
	}
	return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) + "s"
}
