package source_test

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

func TestActionLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	l := source.NewActionLogAt(path)
	defer l.Close()
	if w := l.Log("destroyed 1 socket"); w != "" {
		t.Fatalf("warning %q with a log socket", w)
	}
	buf := make([]byte, 1024)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); !strings.Contains(got, "tcptop[") || !strings.HasSuffix(strings.TrimSpace(got), "destroyed 1 socket") {
		t.Errorf("syslog line %q", got)
	}

	missing := source.NewActionLogAt(filepath.Join(t.TempDir(), "nolog"))
	w := missing.Log("x")
	if !strings.Contains(w, "no system log socket") {
		t.Errorf("first line without a log socket: warning %q", w)
	}
	if w := missing.Log("y"); w != "" {
		t.Errorf("the missing log is said once, got %q again", w)
	}
}
