package model

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTextRender(t *testing.T) {
	tx := Text{Words("10.0.0.1"), Arrow, Words("10.0.0.2:80 holds 5; refresh faster"), Key(ActionFaster)}
	if got, want := tx.String(), "10.0.0.1 → 10.0.0.2:80 holds 5; refresh faster"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	keys := func(a Action) string {
		if a == ActionFaster {
			return " (-)"
		}
		return ""
	}
	if got, want := tx.Render(" -> ", keys), "10.0.0.1 -> 10.0.0.2:80 holds 5; refresh faster (-)"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	b, err := json.Marshal(struct{ T Text }{tx})
	if err != nil || string(b) != `{"T":"10.0.0.1 → 10.0.0.2:80 holds 5; refresh faster"}` {
		t.Errorf("JSON %s %v", b, err)
	}
	var back struct{ T Text }
	if err := json.Unmarshal(b, &back); err != nil || back.T.String() != tx.String() {
		t.Errorf("round trip %q %v", back.T.String(), err)
	}
}

// No rule may write a glyph or a monitor key into its words: those are
// Arrow and Key spans, drawn by each front end.
func TestFindingWordsHoldNoGlyphsOrKeys(t *testing.T) {
	for _, tc := range ruleScenarios() {
		for _, f := range tc {
			for _, tx := range append(append([]Text{f.Title}, f.Evidence...), f.Advice...) {
				for _, sp := range tx {
					if sp.Kind != SpanPlain {
						continue
					}
					for _, bad := range []string{"→", "->", "(t)", "(+)", "(-)", "(f)", "(k)"} {
						if strings.Contains(sp.S, bad) {
							t.Errorf("%s: %q holds %q", f.Rule, sp.S, bad)
						}
					}
				}
			}
		}
	}
}

// ruleScenarios are the findings of polls that make every rule fire.
func ruleScenarios() [][]Finding {
	api := "192.0.2.10:443"
	th := DefaultThresholds()
	snaps := []*Snapshot{
		analyze(th, poll{build: toAPI(api, 700, 0, 40000), sysctl: narrow}),
		analyze(th, poll{build: toAPI(api, 90, 0, 41000), sysctl: capTW(100)}),
		analyze(th, poll{sec: 0, build: leaked(20, 12)}, poll{sec: 6, build: leaked(20, 14)}),
		analyze(th, poll{sec: 0, build: server(9, 8, 0), counters: map[string]int64{"ListenOverflows": 1}},
			poll{sec: 1, build: server(9, 8, 0), counters: map[string]int64{"ListenOverflows": 9}}),
		analyze(th, poll{sec: 0, build: server(0, 8, 0), counters: map[string]int64{"ListenOverflows": 1}},
			poll{sec: 1, build: server(0, 8, 0), counters: map[string]int64{"ListenOverflows": 9}}),
		analyze(th, poll{build: both(listeners(8080, 33000), probed("127.0.0.1", 8080, 60, 0))}),
		analyze(th, poll{build: connecting("10.0.0.9:80", 12, 2)}),
	}
	rules := map[string]bool{}
	var out [][]Finding
	for _, s := range snaps {
		out = append(out, s.Findings)
		for _, f := range s.Findings {
			rules[f.Rule] = true
		}
	}
	for _, r := range RuleNames() {
		if !rules[r] {
			panic("ruleScenarios: no scenario makes " + r + " fire")
		}
	}
	return out
}
