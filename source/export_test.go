package source

import "log/syslog"

// Test hooks for the external test package.

// SetTap makes d pass every raw netlink datagram it receives to f.
func SetTap(d *Dumper, f func([]byte)) { d.tap = f }

// Update reports whether golden files and fixtures should be rewritten.
func Update() bool { return *update }

// NewActionLogAt returns an ActionLog writing to the syslog socket at path.
func NewActionLogAt(path string) *ActionLog {
	l := NewActionLog()
	l.devLog = path
	l.dial = func() (*syslog.Writer, error) {
		return syslog.Dial("unixgram", path, syslog.LOG_AUTH|syslog.LOG_NOTICE, "tcptop")
	}
	return l
}
