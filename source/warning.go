package source

import (
	"errors"
	"io/fs"
	"syscall"
)

// WarningKind says what part of a poll a Warning is about.
type WarningKind uint8

// Warning kinds.
const (
	// WarnSysctl: a tunable could not be read or parsed; Name is its
	// dotted name ("net.core.somaxconn").
	WarnSysctl WarningKind = iota + 1
	// WarnCounters: /proc/net/netstat or snmp could not be read or parsed;
	// Name is the file's path.
	WarnCounters
	// WarnSockstat: /proc/net/sockstat could not be read or parsed; Name
	// is the file's path.
	WarnSockstat
	// WarnAttribution: the /proc scan failed, so no socket has an owner.
	WarnAttribution
	// WarnNamespace: the namespace could not be entered for the /proc
	// reads; Name is its label.
	WarnNamespace
	// WarnOutOfFDs: tcptop ran out of file descriptors (EMFILE, ENFILE)
	// reading /proc: some processes' sockets could not be looked at, so
	// owners may be missing (they are not taken for gone processes).
	WarnOutOfFDs
	// WarnCloseWaitAge: the CLOSE_WAIT dump with tcp_info failed, so their
	// ages come from tcptop's own polls only.
	WarnCloseWaitAge
	// WarnListenDrops: the LISTEN dump with SKMEMINFO failed, so no
	// listener has its drop counter this poll.
	WarnListenDrops
)

var warningKindNames = [...]string{
	WarnSysctl:       "sysctl",
	WarnCounters:     "counters",
	WarnSockstat:     "sockstat",
	WarnAttribution:  "attribution",
	WarnNamespace:    "namespace",
	WarnOutOfFDs:     "out-of-fds",
	WarnCloseWaitAge: "close-wait-age",
	WarnListenDrops:  "listen-drops",
}

// String names the kind in one lowercase word.
func (k WarningKind) String() string {
	if int(k) < len(warningKindNames) && warningKindNames[k] != "" {
		return warningKindNames[k]
	}
	return "unknown"
}

// Warning is a non-fatal problem of one poll: what it is about (Kind and
// Name) and the cause.
type Warning struct {
	Kind WarningKind
	// Name is the subject: a sysctl's dotted name, a file's path, a
	// namespace's label; "" when the kind needs none.
	Name string
	Err  error
}

// String is the warning as tcptop prints it (text output, JSON
// "warnings"):
//
//	sysctl NAME: ERR
//	counters: PATH: ERR      (counters: ERR when ERR names PATH itself)
//	sockstat: PATH: ERR      (likewise)
//	process attribution: ERR
//	ERR                      (namespace: the error names the namespace)
//	out of file descriptors: attribution incomplete (ERR)
//	CLOSE_WAIT ages from the kernel: ERR
//	per-listener drops: ERR
func (w Warning) String() string {
	msg := "unknown error"
	if w.Err != nil {
		msg = w.Err.Error()
	}
	switch w.Kind {
	case WarnSysctl:
		return "sysctl " + w.Name + ": " + msg
	case WarnCounters:
		return "counters: " + w.subject() + msg
	case WarnSockstat:
		return "sockstat: " + w.subject() + msg
	case WarnAttribution:
		return "process attribution: " + w.subject() + msg
	case WarnOutOfFDs:
		return "out of file descriptors: attribution incomplete (" + msg + ")"
	case WarnNamespace:
		return msg
	case WarnCloseWaitAge:
		return "CLOSE_WAIT ages from the kernel: " + msg
	case WarnListenDrops:
		return "per-listener drops: " + msg
	}
	return w.subject() + msg
}

// subject is "NAME: ", or "" when there is no name or the error already
// names it (an *fs.PathError for that path, as os.Open returns).
func (w Warning) subject() string {
	if w.Name == "" {
		return ""
	}
	if pe, ok := w.Err.(*fs.PathError); ok && pe.Path == w.Name {
		return ""
	}
	return w.Name + ": "
}

// Error makes a Warning usable as an error; it returns String().
func (w Warning) Error() string { return w.String() }

// Unwrap returns the cause.
func (w Warning) Unwrap() error { return w.Err }

// WarningStrings returns the warnings as tcptop prints them, nil for none.
func WarningStrings(ws []Warning) []string {
	if len(ws) == 0 {
		return nil
	}
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.String()
	}
	return out
}

// isOutOfFDs reports whether err is EMFILE or ENFILE: the process or the
// system has no file descriptor left.
func isOutOfFDs(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
