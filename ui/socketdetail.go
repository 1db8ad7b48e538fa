package ui

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/present"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/themes"
)

// socketDetail is the level under a socket row (Enter): the socket's
// identity, queues and timer from the snapshot, and its tcp_info from an
// exact lookup (id and cookie) at every refresh while it is open, with
// sparklines and a verdict of what limits the flow. It is a table level
// that draws itself (a panel) instead of a table.
type socketDetail struct {
	c     *Common
	sock  source.Socket // as the snapshot that opened it had it
	watch model.SocketWatch
	err   error // the last lookup's error
	snap  *model.Snapshot
	// fds are the owners' fd numbers for the socket, read once when the
	// detail opens (nil until the answer comes, or without Actions).
	fds map[int32][]int
}

// fdsMsg is the answer of the owners' fd-number scan.
type fdsMsg struct {
	cookie uint64
	fds    map[int32][]int
}

// detailMsg is a lookup's answer.
type detailMsg struct {
	id  source.SocketID
	det *source.Detail
	err error
}

func newSocketDetail(c *Common, sk source.Socket) *socketDetail {
	d := &socketDetail{c: c, sock: sk}
	d.watch.ID = sk.ID()
	return d
}

func (*socketDetail) name() string { return "Socket" }

// data is empty: the detail is drawn by render.
func (d *socketDetail) data(snap *model.Snapshot, _ int, _ format.Glyphs) tableData {
	d.snap = snap
	return tableData{empty: ""}
}

func (*socketDetail) drill(*model.Snapshot, int, format.Glyphs) *level { return nil }
func (*socketDetail) find(*model.Subject) int                          { return -1 }
func (*socketDetail) note(*themes.Styles, *model.Snapshot, format.Glyphs) string {
	return ""
}

// lookup asks for the socket off the UI goroutine; nil without Actions.
func (d *socketDetail) lookup() tea.Cmd {
	a := d.c.Actions
	if a == nil || d.watch.Gone {
		return nil
	}
	id := d.watch.ID
	return func() tea.Msg {
		det, err := a.Lookup(id)
		return detailMsg{id: id, det: det, err: err}
	}
}

// fdLookup asks for the owners' fd numbers off the UI goroutine (an
// on-demand scan of their fd directories for this one inode); nil without
// Actions or an inode.
func (d *socketDetail) fdLookup() tea.Cmd {
	a := d.c.Actions
	if a == nil || d.sock.Inode == 0 || len(d.sock.Owners) == 0 || d.sock.OwnerInferred {
		return nil
	}
	pids, inode, cookie := append([]int32(nil), d.sock.Owners...), d.sock.Inode, d.sock.Cookie
	return func() tea.Msg { return fdsMsg{cookie: cookie, fds: a.SocketFDs(pids, inode)} }
}

// ownerText names the owners, each with its fd numbers when known:
// "nginx[10] fd 7,9".
func (d *socketDetail) ownerText(refs []model.ProcRef) string {
	if len(refs) == 0 {
		return model.UnknownName
	}
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = present.ProcRef(r.Name, r.PID)
		if fds := d.fds[r.PID]; len(fds) > 0 {
			nums := make([]string, len(fds))
			for j, fd := range fds {
				nums[j] = strconv.Itoa(fd)
			}
			parts[i] += " fd " + strings.Join(nums, ",")
		}
	}
	return strings.Join(parts, " ")
}

// answer records a lookup's answer.
func (d *socketDetail) answer(m detailMsg) {
	if m.id != d.watch.ID {
		return
	}
	d.err = m.err
	switch {
	case m.err == nil && m.det != nil:
		d.watch.Add(*m.det)
	case isGone(m.err):
		d.watch.Gone = true
	}
}

// current is the freshest view of the socket: the last lookup, else the
// snapshot's.
func (d *socketDetail) current() (*source.Socket, *source.Detail) {
	if last := d.watch.Last(); last != nil {
		return &last.Socket, last
	}
	return &d.sock, nil
}

// render draws the detail in width x height.
func (d *socketDetail) render(width, height int) []string {
	st, g := &d.c.Styles, d.c.Glyphs
	sk, det := d.current()
	var out []string
	add := func(s string) { out = append(out, fitStyled(s, width)) }
	kv := func(k, v string) string { return st.Dim.Render(k+" ") + v }
	title := st.Title.Render("SOCKET "+sk.Local.String()+" "+g.Arrow+" "+sk.Remote.String()) + "  " + stateStyled(st, sk.State)
	title += st.Dim.Render("  [esc] back")
	if d.c.actionsOn() {
		title += st.Dim.Render("  [" + d.c.Keys.Kill.Help().Key + "] kill")
	}
	add(title)
	owners := "-"
	inferred := ""
	if d.snap != nil && d.snap.Sample != nil && d.snap.Sample.Attributed {
		refs := make([]model.ProcRef, 0, len(d.sock.Owners))
		for _, pid := range d.sock.Owners {
			name := "?"
			if p := d.snap.Sample.Procs[pid]; p != nil {
				name = p.Name
			}
			refs = append(refs, model.ProcRef{PID: pid, Name: name})
		}
		owners = d.ownerText(refs)
		if d.sock.OwnerInferred {
			inferred = " (inferred)"
		}
	}
	netns := ""
	if d.snap != nil {
		netns = format.Sanitize(d.snap.Netns)
	}
	add(kv("cookie", "0x"+strconv.FormatUint(sk.Cookie, 16)) + "  " + kv("inode", strconv.Itoa(int(sk.Inode))) +
		"  " + kv("uid", strconv.Itoa(int(sk.UID))) + "  " + kv("netns", netns))
	// The owners on their own line: with their fd numbers they are long.
	add(kv("owners", owners+inferred))
	age := "-"
	if d.snap != nil {
		if a := socketAge(d.snap, &d.sock); a != "" {
			age = a
		}
	}
	add(kv("recv-q", strconv.Itoa(int(sk.RecvQ))) + "  " + kv("send-q", strconv.Itoa(int(sk.SendQ))) +
		"  " + kv("timer", timerText(sk)) + "  " + kv("age", age))
	switch {
	case d.watch.Gone:
		add(st.Warn.Render("the socket is gone (closed, or destroyed)"))
	case d.err != nil:
		add(st.Warn.Render("lookup failed: " + format.Sanitize(d.err.Error())))
	case d.c.Actions == nil:
		add(st.Dim.Render("no live kernel (a replay): tcp_info only as the snapshot had it"))
	}
	v := d.watch.Verdict()
	if det == nil && d.c.Actions == nil {
		v = model.Verdict{Limit: model.LimitUnknown, Text: "no lookups without a live kernel"}
	}
	add(st.Header.Render("limited by: ") + v.Text)
	in := sk.Info
	if in == nil {
		add(st.Dim.Render("no tcp_info: " + noInfoReason(sk.State)))
		return out
	}
	ser := d.watch.Series()
	sparkW := max(0, min(30, width-52))
	spark := func(series []int) string {
		if sparkW < 4 || len(series) < 2 {
			return ""
		}
		return "  " + format.Sparkline(series, sparkW, g)
	}
	na := st.Dim.Render("n/a on this kernel")
	gated := func(f source.InfoField, s string) string {
		if in.Has(f) {
			return s
		}
		return na
	}
	row := func(s, sp string) { add(padCells(s, 50) + sp) }
	row(kv("rtt", us(in.RTT))+" "+kv("var", us(in.RTTVar))+" "+kv("min", gated(source.InfoMinRTT, us(in.MinRTT)))+" "+kv("rto", us(in.RTO)), spark(ser.RTT))
	row(kv("cwnd", strconv.Itoa(int(in.SndCwnd)))+" "+kv("ssthresh", ssthresh(in.SndSsthresh))+" "+kv("mss", strconv.Itoa(int(in.SndMSS)))+" "+kv("in flight", strconv.Itoa(int(in.Unacked))), spark(ser.Cwnd))
	row(kv("delivery", gated(source.InfoDeliveryRate, rate(in.DeliveryRate)))+" "+kv("pacing", gated(source.InfoPacingRate, rate(in.PacingRate))), spark(ser.DeliveryRate))
	row(kv("retrans now", strconv.Itoa(int(in.Retransmits)))+" "+kv("total", strconv.Itoa(int(in.TotalRetrans)))+" "+kv("lost", strconv.Itoa(int(in.Lost)))+" "+kv("backoff", strconv.Itoa(int(in.Backoff))), spark(ser.Retrans))
	add(kv("bytes sent", gated(source.InfoBytesSent, bytesU(in.BytesSent))) + "  " + kv("acked", gated(source.InfoBytesAcked, bytesU(in.BytesAcked))) +
		"  " + kv("received", gated(source.InfoBytesAcked, bytesU(in.BytesReceived))) + "  " + kv("retransmitted", gated(source.InfoBytesSent, bytesU(in.BytesRetrans))))
	if in.Has(source.InfoLimited) {
		add(kv("busy", usDur(in.BusyTime)) + "  " + kv("rwnd-limited", usDur(in.RwndLimited)+limitShare(in.RwndLimited, in.BusyTime)) +
			"  " + kv("sndbuf-limited", usDur(in.SndbufLimited)+limitShare(in.SndbufLimited, in.BusyTime)))
	} else {
		add(kv("limited", na))
	}
	add(kv("last send", format.Millis(in.LastDataSent)+" ago") + "  " + kv("receive", format.Millis(in.LastDataRecv)+" ago") + "  " + kv("ack", format.Millis(in.LastAckRecv)+" ago"))
	wins := kv("snd_wnd", gated(source.InfoSndWnd, strconv.Itoa(int(in.SndWnd)))) + "  " + kv("rcv_wnd", gated(source.InfoRcvWnd, strconv.Itoa(int(in.RcvWnd))))
	add(wins + "  " + kv("notsent", gated(source.InfoNotsent, strconv.Itoa(int(in.NotsentBytes)))))
	if det != nil {
		line := kv("congestion", format.Sanitize(cmpStr(det.Cong, "-")))
		if m := det.SkMem; m != nil {
			line += "  " + kv("rmem", bytesU(uint64(m.RmemAlloc))+"/"+bytesU(uint64(m.RcvBuf))) + "  " + kv("wmem", bytesU(uint64(m.WmemQueued))+"/"+bytesU(uint64(m.SndBuf)))
			if m.HasDrops {
				line += "  " + kv("drops", strconv.Itoa(int(m.Drops)))
			}
		}
		add(line)
		if b := det.BBR; b != nil {
			add(kv("bbr bw", rate(b.BW)) + "  " + kv("min_rtt", us(b.MinRTT)) + "  " +
				kv("gains", fmt.Sprintf("pacing %.2f cwnd %.2f", float64(b.PacingGain)/256, float64(b.CwndGain)/256)))
		}
		add(st.Dim.Render(fmt.Sprintf("%d lookups, the last %s ago", len(d.watch.Samples), format.Short(time.Since(det.Time)))))
	}
	if len(out) > height {
		out = out[:height]
	}
	return out
}

func isGone(err error) bool { return err != nil && errors.Is(err, source.ErrGone) }

func noInfoReason(st source.State) string {
	switch st {
	case source.TimeWait:
		return "a TIME_WAIT socket is a minisocket without it"
	case source.SynRecv:
		return "a request socket is not a full socket yet"
	case source.Listen:
		return "a listener sends no data"
	}
	return "the kernel sent none"
}

func stateStyled(st *themes.Styles, s source.State) string {
	switch s {
	case source.TimeWait:
		return st.TimeWait.Render(s.String())
	case source.CloseWait:
		return st.CloseWait.Render(s.String())
	}
	return s.String()
}

func us(v uint32) string {
	if v >= 10000 {
		return strconv.FormatFloat(float64(v)/1000, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(float64(v)/1000, 'f', 2, 64) + " ms"
}

func usDur(v uint64) string { return format.Short(time.Duration(v) * time.Microsecond) }

func limitShare(part, busy uint64) string {
	if busy == 0 || part == 0 {
		return ""
	}
	return " (" + format.Percent(float64(part)/float64(busy)) + ")"
}

func rate(bps uint64) string { return format.Bytes(int64(min(bps, 1<<62))) + "/s" }

func bytesU(v uint64) string { return format.Bytes(int64(min(v, 1<<62))) }

// ssthresh: the kernel's "infinite" initial value means not set yet.
func ssthresh(v uint32) string {
	if v >= 0x7fffffff {
		return "-"
	}
	return strconv.Itoa(int(v))
}

func cmpStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// padCells pads a styled string to w cells (never cuts).
func padCells(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}
