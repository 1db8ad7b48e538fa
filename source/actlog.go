package source

import (
	"errors"
	"log/syslog"
	"os"
	"sync"
)

// ActionLog writes one line per action (a destroy, a signal) to the
// system log through the local syslog socket (/dev/log), as
// "tcptop[PID]: LINE" at auth.notice: who changed what on the machine
// belongs where the machine's administrators look. When there is no
// syslog socket it says so once (Missing) and drops the lines.
type ActionLog struct {
	mu      sync.Mutex
	w       *syslog.Writer
	err     error
	dialed  bool
	warned  bool
	dial    func() (*syslog.Writer, error)
	devLog  string
	written int
}

// NewActionLog returns a log that dials the local syslog socket at its
// first line.
func NewActionLog() *ActionLog {
	return &ActionLog{devLog: "/dev/log", dial: func() (*syslog.Writer, error) {
		return syslog.New(syslog.LOG_AUTH|syslog.LOG_NOTICE, "tcptop")
	}}
}

// Log writes one line. It returns a warning to show once when the line
// could not be logged ("" otherwise, and after the first warning).
func (l *ActionLog) Log(line string) string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.dialed {
		l.dialed = true
		if _, err := os.Stat(l.devLog); err != nil {
			l.err = errors.New("no system log socket at " + l.devLog + ": actions are not logged")
		} else {
			l.w, l.err = l.dial()
			if l.err != nil {
				l.err = errors.New("system log: " + l.err.Error() + ": actions are not logged")
			}
		}
	}
	if l.w != nil {
		if err := l.w.Notice(line); err == nil {
			l.written++
			return ""
		} else if l.err == nil {
			l.err = errors.New("system log: " + err.Error())
		}
	}
	if l.err != nil && !l.warned {
		l.warned = true
		return l.err.Error()
	}
	return ""
}

// Close closes the syslog connection.
func (l *ActionLog) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil {
		return l.w.Close()
	}
	return nil
}
