package source_test

import (
	"slices"
	"testing"

	"github.com/tcptop/tcptop/source"
)

func TestParseNsfsMounts(t *testing.T) {
	mountinfo := `22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
25 22 0:23 / /sys rw,nosuid shared:6 - sysfs sysfs rw
512 28 0:4 net:[4026532281] /run/netns/blue rw shared:250 - nsfs nsfs rw
513 28 0:4 net:[4026532281] /run/netns/blue rw shared:250 - nsfs nsfs rw
514 28 0:4 net:[4026532400] /run/docker/netns/1a2b3c4d5e6f rw - nsfs nsfs rw
515 28 0:4 net:[4026532401] /var/run/netns/cni-with\040space rw shared:1 master:2 - nsfs nsfs rw
516 28 0:4 mnt:[4026532500] /run/mnt-ns rw - nsfs nsfs rw
517 28 0:4 uts:[4026532501] /run/uts-ns rw - nsfs nsfs rw
518 28 0:4 net:[4026532402] /run/tab\011and\134backslash rw - nsfs nsfs rw
519 28 0:50 / /run/netns rw - tmpfs tmpfs rw
520 28 0:4 net:[4026532403] /run/netns/bad\9 rw - nsfs nsfs rw
no separator here nsfs net:[1] /x
521 28 0:4 net:[4026532404] /short
`
	got := source.ParseNsfsMounts([]byte(mountinfo))
	want := []string{
		"/run/netns/blue", // once, though mounted twice
		"/run/docker/netns/1a2b3c4d5e6f",
		"/var/run/netns/cni-with space", // optional fields before the separator
		"/run/tab\tand\\backslash",
		`/run/netns/bad\9`, // not an octal escape: kept as is
	}
	if !slices.Equal(got, want) {
		t.Errorf("ParseNsfsMounts =\n%q\nwant\n%q", got, want)
	}
	if got := source.ParseNsfsMounts(nil); len(got) != 0 {
		t.Errorf("empty mountinfo: %q", got)
	}
}
