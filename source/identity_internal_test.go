package source

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestHungUserLookupDoesNotStallPolls: a user-name lookup that never
// answers (NSS asking an unanswering systemd-userdb socket took 45 s per
// process) holds up neither the poll nor anything else: the uid is shown
// as a number until the name is known, and each uid is asked for once
// (issue 20 item 3).
func TestHungUserLookupDoesNotStallPolls(t *testing.T) {
	passwd := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(passwd, []byte("alice:x:4242:4242::/home/alice:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	asked := make(chan string, 10)
	a := NewAttributor("/proc")
	a.users = newUserNames(passwd, func(uid string) (string, error) {
		asked <- uid
		<-release // hung
		return "named-" + uid, nil
	})
	me := int32(os.Getpid())
	uid := strconv.Itoa(os.Getuid())
	for poll := range 3 {
		t0 := time.Now()
		procs := a.details(map[int32]struct{}{me: {}}, nil, time.Now())
		if took := time.Since(t0); took > time.Second {
			t.Fatalf("poll %d took %v", poll, took)
		}
		if p := procs[me]; p == nil || p.User != uid {
			t.Fatalf("poll %d: user %q, want the uid %s while the lookup hangs", poll, p.User, uid)
		}
	}
	if got := <-asked; got != uid {
		t.Fatalf("asked for %s", got)
	}
	select {
	case again := <-asked:
		t.Fatalf("asked again for %s", again)
	default:
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if p := a.details(map[int32]struct{}{me: {}}, nil, time.Now())[me]; p.User == "named-"+uid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the name never replaced the uid")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A uid /etc/passwd lists never waits for NSS.
	if n := a.users.name(4242); n != "alice" {
		t.Errorf("uid 4242: %q, want alice from the passwd file", n)
	}
}

// FuzzFormatCmdline: a cut command line never ends inside a UTF-8
// sequence and never exceeds MaxCmdline plus its marker.
func FuzzFormatCmdline(f *testing.F) {
	f.Add([]byte("a\x00b\x00é"), true)
	f.Add([]byte("\xe2\x82"), true)
	f.Fuzz(func(t *testing.T, b []byte, cut bool) {
		if len(b) > MaxCmdline {
			b = b[:MaxCmdline]
		}
		s, _, _ := formatCmdline(b, cut)
		if len(s) > MaxCmdline+len(CmdlineCut) {
			t.Fatalf("%d bytes", len(s))
		}
		if cut {
			body := strings.TrimSuffix(s, CmdlineCut)
			if i := strings.LastIndexAny(body, "\x00"); i >= 0 {
				t.Fatalf("NUL kept at %d", i)
			}
			if len(b) > 0 && utf8.ValidString(string(b)) && !utf8.ValidString(body) {
				t.Fatalf("valid input cut inside a character: %q", body)
			}
		}
	})
}
