package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/present"
	"github.com/tcptop/tcptop/themes"
)

// The findings strip under the header and the findings view (f): what the
// rules in model say is wrong, most severe first.

// badgeW is the width of a severity badge (" CRIT ").
const badgeW = 6

// sevStyles returns a severity's badge and text styles.
func sevStyles(st *themes.Styles, s model.Severity) (badge, text lipgloss.Style) {
	switch s {
	case model.Critical:
		// Not reverse (mono's Crit is): reverse is the selection.
		return st.SevCrit, st.Crit.Reverse(false)
	case model.Warning:
		return st.SevWarn, st.Warn
	}
	return st.SevInfo, st.Info
}

// sevLabel is the badge text.
func sevLabel(s model.Severity) string {
	switch s {
	case model.Critical:
		return " CRIT "
	case model.Warning:
		return " WARN "
	}
	return " INFO "
}

// stripLines is how many lines the findings strip may take on a screen of
// height lines: none without findings, at most 3 at 80x24, fewer when the
// screen is short.
func stripLines(n, height int) int {
	limit := 4
	switch {
	case height < 16:
		limit = 1
	case height < 22:
		limit = 2
	case height < 34:
		limit = 3
	}
	return min(n, limit)
}

// renderFindingsStrip draws one line per finding, most severe first; the
// last line says how many more there are when they do not all fit.
// more is the key that opens the findings view ("f").
func renderFindingsStrip(st *themes.Styles, fs []model.Finding, lines, width int, g format.Glyphs, more string) []string {
	out := make([]string, 0, lines)
	for i := 0; i < lines && i < len(fs); i++ {
		f := &fs[i]
		badge, text := sevStyles(st, f.Severity)
		right := ""
		if i == lines-1 && len(fs) > lines {
			right = "  +" + format.Count(len(fs)-lines) + " more (" + more + ")"
		}
		room := width - badgeW - 1 - len(right)
		title := format.Clip(present.FindingText(f.Title, g, nil), room, g)
		line := badge.Render(sevLabel(f.Severity)) + " " + text.Render(title)
		if right != "" {
			line += strings.Repeat(" ", max(0, room-format.Width(title))) + st.Dim.Render(right)
		}
		out = append(out, fitStyled(line, width))
	}
	return out
}

// findingKey names a finding across polls (its title carries counts that
// change).
func findingKey(f *model.Finding) string {
	return f.Rule + "|" + f.Subject.Kind + "|" + f.Subject.String()
}

// subjectText names a finding's subject and where Enter goes.
func subjectText(s model.Subject, g format.Glyphs) string {
	name := present.SubjectText(s, g)
	switch s.Kind {
	case model.SubjectDestination, model.SubjectPeer:
		return s.Kind + " " + name + " (peers)"
	case model.SubjectListener:
		return "listener " + name + " (local ports)"
	case model.SubjectProcess:
		return "process " + name + " (processes)"
	}
	return "the whole host"
}

// docLine is one line of the findings document, before styling.
type docLine struct {
	finding int
	kind    int // lineTitle, lineEvidence, lineAdvice, lineBlank
	text    string
	right   string // the title line's subject
}

const (
	lineTitle = iota
	lineEvidence
	lineAdvice
	lineBlank
)

// findingDoc lays out every finding as a block: the title, the evidence
// (bullets) and the advice (arrows), wrapped to width, a blank line
// between blocks. starts[i] is finding i's first line; starts[len(fs)] is
// the document's length.
func findingDoc(fs []model.Finding, width int, g format.Glyphs, keys *KeyMap) ([]docLine, []int) {
	bullet, arrow := g.Bullet+" ", g.Advice+" "
	indent := strings.Repeat(" ", badgeW+1)
	textW := max(10, width-len(indent)-2)
	var doc []docLine
	starts := make([]int, 0, len(fs)+1)
	for i := range fs {
		f := &fs[i]
		starts = append(starts, len(doc))
		doc = append(doc, docLine{finding: i, kind: lineTitle, text: present.FindingText(f.Title, g, nil), right: subjectText(f.Subject, g)})
		add := func(kind int, mark string, t model.Text) {
			s := present.FindingText(t, g, keys.actionHint)
			for j, l := range strings.Split(ansi.Wrap(s, textW, ""), "\n") {
				p := "  "
				if j == 0 {
					p = mark
				}
				doc = append(doc, docLine{finding: i, kind: kind, text: indent + p + l})
			}
		}
		for _, e := range f.Evidence {
			add(lineEvidence, bullet, e)
		}
		for _, a := range f.Advice {
			add(lineAdvice, arrow, a)
		}
		if i < len(fs)-1 {
			doc = append(doc, docLine{finding: i, kind: lineBlank})
		}
	}
	starts = append(starts, len(doc))
	return doc, starts
}

// findingsView is the f screen: every finding with its evidence and
// advice, scrolled by line, one finding selected (Enter goes to its
// subject in the table).
type findingsView struct {
	c             *Common
	width, height int
	snap          *model.Snapshot

	sel    int
	selKey string
	offset int // first document line on screen
	// clickAt is when the last click selected a finding (double clicks).
	clickAt time.Time
}

func newFindingsView(c *Common) View { return &findingsView{c: c} }

// Name implements View.
func (v *findingsView) Name() string { return "findings" }

// Keys implements View.
func (v *findingsView) Keys() []key.Binding {
	k := &v.c.Keys
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End, k.Enter, k.Back}
}

// ShortHelp implements View.
func (v *findingsView) ShortHelp() []key.Binding {
	k, a := &v.c.Keys, &v.c.Glyphs
	return []key.Binding{
		relabel(k.Up, a.KeyUp+"/"+a.KeyDown, "select"), relabel(k.Enter, "enter", "go to the subject"),
		relabel(k.PageDown, "pgdn", "scroll"), relabel(k.Back, "esc", "back"),
		relabel(k.Kernel, k.Kernel.Help().Key, "kernel"), relabel(k.Quit, "q", "quit"),
	}
}

// SetSize implements View.
func (v *findingsView) SetSize(width, height int) {
	v.width, v.height = width, height
	v.resync()
}

// SetSnapshot implements View.
func (v *findingsView) SetSnapshot(s *model.Snapshot) tea.Cmd {
	v.snap = s
	v.resync()
	return nil
}

// rows is how many document lines the view shows (its height without
// the title line); docWidth the width the document is laid out for.
func (v *findingsView) rows() int     { return max(1, v.height-1) }
func (v *findingsView) docWidth() int { return max(v.width, MinWidth) }

func (v *findingsView) resync() {
	if v.snap != nil {
		v.sync(v.snap.Findings, v.docWidth(), v.rows(), v.c.Glyphs)
	}
}

// Update implements View.
func (v *findingsView) Update(msg tea.Msg) tea.Cmd {
	kp, ok := msg.(tea.KeyPressMsg)
	if !ok || v.snap == nil {
		return nil
	}
	k := &v.c.Keys
	fs, w, rows, g := v.snap.Findings, v.docWidth(), v.rows(), v.c.Glyphs
	switch {
	case key.Matches(kp, k.Enter):
		return v.jump()
	case key.Matches(kp, k.Up):
		v.move(fs, -1, w, rows, g)
	case key.Matches(kp, k.Down):
		v.move(fs, 1, w, rows, g)
	case key.Matches(kp, k.PageUp):
		v.scroll(fs, -max(1, rows-1), w, rows, g)
	case key.Matches(kp, k.PageDown):
		v.scroll(fs, max(1, rows-1), w, rows, g)
	case key.Matches(kp, k.Home):
		v.move(fs, -len(fs), w, rows, g)
	case key.Matches(kp, k.End):
		v.move(fs, len(fs), w, rows, g)
	}
	return nil
}

// jump asks for the selected finding's subject to be shown in the table:
// a destination or peer in the peers view, a listener's port in the
// local-ports view, a process in the processes view.
func (v *findingsView) jump() tea.Cmd {
	fs := v.snap.Findings
	if len(fs) == 0 {
		return nil
	}
	subj := fs[v.sel].Subject
	if _, ok := subjectView(&subj); !ok {
		return request(noticeMsg("this finding is about the whole host: no row to go to"))
	}
	return request(jumpMsg{subject: subj})
}

// mouse implements mouser: a click selects the finding under it (twice:
// goes to its subject), the wheel scrolls.
func (v *findingsView) mouse(msg tea.MouseMsg, _, y int) tea.Cmd {
	if v.snap == nil {
		return nil
	}
	fs, w, rows, g := v.snap.Findings, v.docWidth(), v.rows(), v.c.Glyphs
	switch msg := msg.(type) {
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			v.scroll(fs, -3, w, rows, g)
		case tea.MouseWheelDown:
			v.scroll(fs, 3, w, rows, g)
		}
	case tea.MouseClickMsg:
		doc, _ := findingDoc(fs, w, g, &v.c.Keys)
		if i := v.offset + y - 1; msg.Button == tea.MouseLeft && y >= 1 && i < len(doc) {
			f := doc[i].finding
			now := time.Now()
			double := f == v.sel && now.Sub(v.clickAt) < doubleClick
			v.clickAt = now
			v.sel = f
			v.clamp(fs, w, rows, g, false)
			if double {
				v.clickAt = time.Time{}
				return v.jump()
			}
		}
	}
	return nil
}

// View implements View.
func (v *findingsView) View() []string {
	return v.render(&v.c.Styles, v.snap, v.width, v.height, v.c.Glyphs)
}

// sync follows the selected finding into a new snapshot (by key) and keeps
// the view inside the document.
func (v *findingsView) sync(fs []model.Finding, width, height int, g format.Glyphs) {
	if v.selKey != "" {
		for i := range fs {
			if findingKey(&fs[i]) == v.selKey {
				v.sel = i
				break
			}
		}
	}
	v.clamp(fs, width, height, g, false)
}

// clamp keeps sel and offset valid; reveal brings the selected finding
// wholly into view if it can (else it is shown from its title), without
// reveal only a finding entirely off screen is brought back.
func (v *findingsView) clamp(fs []model.Finding, width, height int, g format.Glyphs, reveal bool) {
	v.sel = max(0, min(v.sel, len(fs)-1))
	v.selKey = ""
	if len(fs) == 0 {
		v.offset = 0
		return
	}
	v.selKey = findingKey(&fs[v.sel])
	_, starts := findingDoc(fs, width, g, &v.c.Keys)
	total := starts[len(starts)-1]
	height = max(1, height)
	start, end := starts[v.sel], starts[v.sel+1]
	if v.sel < len(fs)-1 {
		end-- // the blank line after the block
	}
	// A block not wholly on screen is shown from its title.
	if (reveal && (start < v.offset || end > v.offset+height)) || end <= v.offset || start >= v.offset+height {
		v.offset = start
	}
	v.offset = max(0, min(v.offset, total-height))
}

// move selects the finding d away.
func (v *findingsView) move(fs []model.Finding, d, width, height int, g format.Glyphs) {
	v.sel += d
	v.clamp(fs, width, height, g, true)
}

// scroll moves the view by d lines. When the selected title leaves the
// screen, the selection moves to the first title on it (or, with none, to
// the finding filling it), so Enter never acts on a finding out of sight.
func (v *findingsView) scroll(fs []model.Finding, d, width, height int, g format.Glyphs) {
	if len(fs) == 0 {
		return
	}
	doc, starts := findingDoc(fs, width, g, &v.c.Keys)
	height = max(1, height)
	v.offset = max(0, min(v.offset+d, len(doc)-height))
	if visible := func(i int) bool { return starts[i] >= v.offset && starts[i] < v.offset+height }; !visible(v.sel) {
		v.sel = doc[v.offset].finding
		for i := range fs {
			if visible(i) {
				v.sel = i
				break
			}
		}
	}
	v.clamp(fs, width, height, g, false)
}

// render draws the view: a title line and height-1 lines of the document.
func (v *findingsView) render(st *themes.Styles, snap *model.Snapshot, width, height int, g format.Glyphs) []string {
	fs := snap.Findings
	var counts []string
	for _, s := range []model.Severity{model.Critical, model.Warning, model.Info} {
		n := 0
		for i := range fs {
			if fs[i].Severity == s {
				n++
			}
		}
		if n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, s))
		}
	}
	title := st.Title.Render(fmt.Sprintf("FINDINGS %d", len(fs)))
	if len(counts) > 0 {
		title += st.Dim.Render("  " + strings.Join(counts, ", "))
	}
	if snap.History != nil {
		title += st.Dim.Render("  watched for " + format.Age(snap.Watching))
	}
	rows := height - 1
	doc, _ := findingDoc(fs, width, g, &v.c.Keys)
	start := min(v.offset, len(doc))
	end := min(len(doc), start+rows)
	title += st.Dim.Render(scrollText(start, end, len(doc)))
	out := []string{fitStyled(title, width)}
	if len(fs) == 0 {
		msg := "  no findings: no rule sees anything wrong"
		if snap.History == nil {
			msg = "  findings are not computed for this snapshot"
		}
		return append(out, fitStyled(st.Dim.Render(msg), width))
	}
	for _, l := range doc[start:end] {
		f := &fs[l.finding]
		switch l.kind {
		case lineTitle:
			badge, text := sevStyles(st, f.Severity)
			right := g.Arrow + " " + l.right
			room := width - badgeW - 1
			titleText := l.text
			if tw, rw := format.Width(titleText), format.Width(right); tw+2+rw <= room {
				titleText += strings.Repeat(" ", room-tw-rw) + right
			}
			titleText = format.Clip(titleText, room, g)
			if l.finding == v.sel {
				out = append(out, badge.Render(sevLabel(f.Severity))+" "+st.Selected.Render(format.Fit(titleText, room, false, format.Glyphs{})))
				continue
			}
			out = append(out, fitStyled(badge.Render(sevLabel(f.Severity))+" "+text.Render(titleText), width))
		case lineEvidence:
			out = append(out, fitStyled(l.text, width))
		case lineAdvice:
			out = append(out, fitStyled(st.Header.Render(l.text), width))
		default:
			out = append(out, strings.Repeat(" ", width))
		}
	}
	return out
}

// scrollText says which lines of a scrolled document are on screen, when
// not all of them are: "  lines 22-42 of 61".
func scrollText(start, end, total int) string {
	if start == 0 && end >= total {
		return ""
	}
	return fmt.Sprintf("  lines %d-%d of %d", start+1, end, total)
}

// peerIndex is the row of the peer a destination or peer subject names:
// a peer subject's key, or for a destination the outgoing peer to its
// remote end.
func peerIndex(peers []model.Peer, s *model.Subject) int {
	want := s.Peer
	if s.Kind == model.SubjectDestination {
		want = model.PeerKey{Remote: s.Dest.Remote}
	}
	for i := range peers {
		if peers[i].Key == want {
			return i
		}
	}
	return -1
}

// portIndex is the row of a listener subject's port.
func portIndex(ports []model.PortRow, s *model.Subject) int {
	if !s.Listener.IsValid() {
		return -1
	}
	for i := range ports {
		if ports[i].Port == s.Listener.Port() {
			return i
		}
	}
	return -1
}

// processIndex is the row of a process subject: the same pid and, when
// both are known, the same start time (a reused pid is another process).
func processIndex(rows []model.ProcessRow, s *model.Subject) int {
	for i := range rows {
		if k := rows[i].Key; k.PID == s.Proc.PID && (k.Start == s.Proc.Start || k.Start == 0 || s.Proc.Start == 0) {
			return i
		}
	}
	return -1
}

// subjectView is the table view (an index into topLevels) that lists a
// subject (false for the host).
func subjectView(s *model.Subject) (int, bool) {
	switch s.Kind {
	case model.SubjectDestination, model.SubjectPeer:
		return topPeers, true
	case model.SubjectListener:
		return topPorts, true
	case model.SubjectProcess:
		return topProcesses, true
	}
	return 0, false
}
