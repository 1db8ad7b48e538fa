package output

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
)

// writeEBPF is the text output's eBPF section: with the programs loaded,
// what they counted (peers, connecting processes, listeners; rates over
// the last interval, the rest since they loaded) and what they lost;
// not loaded, the one line saying why; nothing when the snapshot has no
// eBPF section at all.
func writeEBPF(b *strings.Builder, snap *model.Snapshot, top int, loc *time.Location, g format.Glyphs) {
	v := snap.EBPF
	if v == nil {
		return
	}
	if !v.Loaded {
		reason := v.Reason
		if reason == "" {
			reason = "not loaded"
		}
		fmt.Fprintf(b, "\nEBPF  %s\n", format.Sanitize(strings.Join(strings.Fields(reason), " ")))
		return
	}
	fmt.Fprintf(b, "\nEBPF  loaded %s", v.Since.In(loc).Format("2006-01-02 15:04:05 MST"))
	if v.UntrackedCloses > 0 {
		fmt.Fprintf(b, "  %d closes of connections opened before it", v.UntrackedCloses)
	}
	b.WriteString("  (rates over the last interval, other counts since it loaded)\n")
	if l := v.Lost; l.PeersFull+l.ProcsFull+l.Storage > 0 {
		fmt.Fprintf(b, "  LOST  %d peer-map full, %d process-map full, %d socket storage: the counts below miss these events\n",
			l.PeersFull, l.ProcsFull, l.Storage)
	}
	if len(v.Peers) > 0 {
		n := min(top, len(v.Peers))
		fmt.Fprintf(b, "  %-3s %-22s %-22s %7s %7s %7s %5s %7s %7s %7s %7s\n",
			"DIR", "REMOTE", "LOCAL", "OPEN/s", "CLOSE/s", "RETR/s", "RST", "REFUSED", "TIMEOUT", "LIFE50", "LIFE90")
		for _, p := range v.Peers[:n] {
			fmt.Fprintf(b, "  %-3s %-22s %-22s %7s %7s %7s %5d %7d %7d %7s %7s\n", p.Direction,
				format.Clip(p.Remote, 22, g), format.Clip(p.Local, 22, g),
				format.Rate(float64(p.OpensPerSec)), format.Rate(float64(p.ClosesPerSec)), format.Rate(float64(p.RetransPerSec)),
				p.Total.ResetsSent+p.Total.ResetsReceived, p.Total.ConnectRefused, p.Total.ConnectTimedOut,
				lifeText(p.LifeP50MS), lifeText(p.LifeP90MS))
		}
		if len(v.Peers) > n {
			fmt.Fprintf(b, "  ... %d more peers\n", len(v.Peers)-n)
		}
	}
	if len(v.Processes) > 0 {
		n := min(top, len(v.Processes))
		fmt.Fprintf(b, "  %7s %-15s %-22s %7s %7s %7s %7s %7s %9s\n",
			"PID", "CONNECTED", "TO", "OPEN/s", "OPENS", "CLOSES", "FAILED", "NO_PORT", "MEAN LIFE")
		for _, p := range v.Processes[:n] {
			fmt.Fprintf(b, "  %7d %s %-22s %7s %7d %7d %7d %7d %9s\n", p.PID,
				format.Pad(format.Clip(format.Sanitize(p.Name), 15, g), 15, false), format.Clip(p.Remote, 22, g),
				format.Rate(float64(p.OpensPerSec)), p.Opens, p.Closes, p.Failed, p.NoPort, lifeText(p.MeanLifeMS))
		}
		if len(v.Processes) > n {
			fmt.Fprintf(b, "  ... %d more processes\n", len(v.Processes)-n)
		}
	}
	if len(v.Listeners) > 0 {
		fmt.Fprintf(b, "  %-22s %10s %11s %14s\n", "LISTENER", "OVERFLOWS", "OVERFLOWS/s", "SYNACK RETR/s")
		for _, l := range v.Listeners {
			fmt.Fprintf(b, "  %-22s %10d %11s %14s\n", format.Clip(l.Local, 22, g), l.Overflows,
				format.Rate(float64(l.OverflowsPerSec)), format.Rate(float64(l.SynAckRetransSec)))
		}
	}
}

// lifeText is a connection lifetime in ms ("-" for none): "0.5ms",
// "12ms", "1.5s".
func lifeText(ms float64) string {
	switch {
	case ms <= 0:
		return "-"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	}
	return format.Millis(uint32(min(ms, 1<<31)))
}
