package model

import (
	"slices"
	"strings"
	"testing"
)

func TestKernelTunables(t *testing.T) {
	got := KernelTunables(map[string]string{
		"net.core.somaxconn":       "4096",
		"net.ipv4.tcp_syn_retries": "6",
		"net.ipv4.zz_other":        "1",
	})
	names := make([]string, len(got))
	for i, k := range got {
		names[i] = k.Name
	}
	want := append(TunableNames(), "net.ipv4.zz_other")
	if !slices.Equal(names, want) {
		t.Fatalf("order:\n%q\nwant\n%q", names, want)
	}
	for _, k := range got {
		switch k.Name {
		case "net.core.somaxconn":
			if !k.Readable || k.Value != "4096" || !strings.Contains(k.Meaning, "restart") {
				t.Errorf("somaxconn: %+v", k)
			}
		case "net.ipv4.tcp_tw_reuse":
			if k.Readable || k.Value != "" {
				t.Errorf("an unread tunable should be marked: %+v", k)
			}
		case "net.ipv4.zz_other":
			if !k.Readable || k.Meaning != "" {
				t.Errorf("extra: %+v", k)
			}
		}
	}
	// Every tunable the issue names has a meaning.
	for _, n := range []string{"net.ipv4.tcp_syn_retries", "net.ipv4.tcp_synack_retries", "net.ipv4.tcp_syncookies",
		"net.ipv4.tcp_abort_on_overflow", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_max_tw_buckets"} {
		if TunableMeaning(n) == "" {
			t.Errorf("%s has no meaning", n)
		}
	}
}

func TestKernelCounters(t *testing.T) {
	values := map[string]int64{
		"InSegs": 900, "ListenOverflows": 42, "AttemptFails": 0, "ActiveOpens": 100,
		"RetransSegs": 7, "ZeroThing": 0, "TWRecycled": 0, "ListenDrops": 42,
	}
	rates := map[string]Rate{
		"InSegs": 5, "ListenOverflows": 2, "AttemptFails": 0, "ActiveOpens": 0,
		"RetransSegs": 0, "ZeroThing": 0, "TWRecycled": 0, "ListenDrops": 2,
	}
	got := KernelCounters(values, rates)
	var names []string
	for _, c := range got {
		names = append(names, c.Name)
	}
	// Moving (named first, then by name), non-zero, zero.
	want := []string{"ListenOverflows", "ListenDrops", "InSegs", "ActiveOpens", "RetransSegs", "TWRecycled", "AttemptFails", "ZeroThing"}
	if !slices.Equal(names, want) {
		t.Fatalf("order:\n%q\nwant\n%q", names, want)
	}
	if c := got[0]; !c.HasRate || c.Rate != 2 || c.Value != 42 || c.Meaning == "" || !c.Alarming || got[2].Alarming {
		t.Errorf("ListenOverflows: %+v", c)
	}
	// Without rates (the first snapshot), non-zero values come first.
	got = KernelCounters(values, nil)
	if got[0].Name != "ListenOverflows" || got[0].HasRate || got[len(got)-1].Name != "ZeroThing" {
		t.Errorf("no rates: %+v", got)
	}
	for _, n := range []string{"ListenOverflows", "ListenDrops", "TCPTimeWaitOverflow", "TWRecycled", "TCPAbortOnData",
		"TCPAbortOnClose", "AttemptFails", "ActiveOpens", "PassiveOpens", "RetransSegs"} {
		if CounterMeaning(n) == "" {
			t.Errorf("%s has no meaning", n)
		}
	}
	if len(KeyCounterNames()) == 0 || CounterMeaning("InSegs") != "" {
		t.Error("KeyCounterNames / CounterMeaning")
	}
}
