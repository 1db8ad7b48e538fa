// Package format turns values into the short strings people read, the same
// way in every front end: counts with thousands separators, percentages,
// rates, durations and byte sizes; display widths, clipping and padding in
// terminal cells; the glyph set for UTF-8 and ASCII terminals; and
// Sanitize, which makes any string that came from the system harmless on a
// terminal.
//
// The package is pure: no I/O, no styles, no global state. Text here is
// plain text: widths are measured in terminal cells over grapheme clusters
// (a CJK character or an emoji is 2 cells, a combining mark 0), and escape
// sequences are not recognised. Styling belongs to the caller (ui, themes),
// applied after the text is clipped and padded.
//
// Strings from the system (process names, command lines, paths, error
// text) go through Sanitize exactly once, at the edge, before they are
// measured, clipped or printed.
package format
