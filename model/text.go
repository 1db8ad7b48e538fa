package model

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Text is one line a finding says (its title, an evidence line, an advice
// item): words, with the few parts that each front end draws its own way
// kept typed. The model never puts a glyph or a key of the monitor into its
// text: an arrow between two endpoints is an Arrow span (drawn "→" or
// "->"), a hint to press a key is a Key span naming an Action (the monitor
// draws its key, e.g. "(t)"; the text and JSON outputs leave it out).
type Text []Span

// Span is a part of a Text.
type Span struct {
	Kind SpanKind
	// S is the words of a Plain span.
	S string
	// Action is what a Key span would have the user do.
	Action Action
}

// SpanKind says how a span is drawn.
type SpanKind uint8

// Span kinds.
const (
	// SpanPlain is words, drawn as they are.
	SpanPlain SpanKind = iota
	// SpanArrow points from one endpoint to another (" → ").
	SpanArrow
	// SpanKey is a hint that a key of the monitor does Action.
	SpanKey
)

// Action names something the user can do in the monitor; the monitor's key
// map says which key does it.
type Action string

// Actions that findings point to.
const (
	ActionSortTimeWait Action = "sort-time-wait"
	ActionFaster       Action = "faster-refresh"
)

// Plain makes a Text of words only.
func Plain(s string) Text { return Text{{Kind: SpanPlain, S: s}} }

// Arrow is the span between two endpoints ("a → b").
var Arrow = Span{Kind: SpanArrow}

// Key is the span hinting at the key that does a.
func Key(a Action) Span { return Span{Kind: SpanKey, Action: a} }

// Words is a Plain span.
func Words(s string) Span { return Span{Kind: SpanPlain, S: s} }

// lines makes one plain Text per string (evidence and advice lists).
func lines(ss ...string) []Text {
	out := make([]Text, len(ss))
	for i, s := range ss {
		out[i] = Plain(s)
	}
	return out
}

// Render draws the text with arrow for Arrow spans (e.g. " → " or " -> ")
// and key(a) for Key spans (" (t)", or "" to leave the hint out).
func (t Text) Render(arrow string, key func(Action) string) string {
	if len(t) == 1 && t[0].Kind == SpanPlain {
		return t[0].S
	}
	var b strings.Builder
	for _, s := range t {
		switch s.Kind {
		case SpanPlain:
			b.WriteString(s.S)
		case SpanArrow:
			b.WriteString(arrow)
		case SpanKey:
			if key != nil {
				b.WriteString(key(s.Action))
			}
		}
	}
	return b.String()
}

// ArrowUTF8 is how String and JSON draw an Arrow span.
const ArrowUTF8 = " → "

// String is the text as the batch outputs and JSON show it: a UTF-8 arrow,
// no key hints.
func (t Text) String() string { return t.Render(ArrowUTF8, nil) }

// MarshalJSON writes the text as one string (String), with <, > and &
// as they are, as tcptop's JSON writes every other string.
func (t Text) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(t.String()); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads a string as plain words.
func (t *Text) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = Plain(s)
	return nil
}
