package ui

import (
	"strconv"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/themes"
)

// The local ports view folds the ports connect() handed out into one
// "ephemeral" row (model.LocalPortGroups); Enter on it lists them.

// portCell is a port row's PORT cell: the port, or "1,204 ephemeral".
func portCell(r *model.PortRow) string {
	if r.Ephemeral {
		return format.Count(r.Ports) + " ephemeral"
	}
	return strconv.Itoa(int(r.Port))
}

// portWidth is the PORT column's width: 5, or the ephemeral row's cell.
func portWidth(rows []model.PortRow) int {
	w := 5
	for i := range rows {
		if rows[i].Ephemeral {
			w = max(w, format.Width(portCell(&rows[i])))
		}
	}
	return w
}

// portDrill is the level under a local port's row: the ephemeral ports
// for the ephemeral row, the listener(s) for a listening port.
func portDrill(snap *model.Snapshot, r *model.PortRow) *level {
	switch {
	case r.Ephemeral:
		return &level{kind: &ephemeralPortsLevel{}, label: "ephemeral"}
	case r.Listening:
		return portListeners(snap, r.Port)
	}
	return nil
}

// ephemeralPortsLevel lists the ports the ephemeral row folds.
type ephemeralPortsLevel struct{ ports []model.PortRow }

func (*ephemeralPortsLevel) name() string { return "Ephemeral ports" }

func (l *ephemeralPortsLevel) data(snap *model.Snapshot, width int, g format.Glyphs) tableData {
	l.ports = snap.EphemeralPorts()
	return portsData(snap, l.ports, width, g)
}

func (*ephemeralPortsLevel) drill(*model.Snapshot, int, format.Glyphs) *level { return nil }

func (l *ephemeralPortsLevel) find(s *model.Subject) int { return portIndex(l.ports, s) }

func (*ephemeralPortsLevel) note(*themes.Styles, *model.Snapshot, format.Glyphs) string { return "" }
