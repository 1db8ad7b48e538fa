package source

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite golden files and recorded fixtures")

// readRecording splits a recording: datagrams, each prefixed by its length (u32 LE).
func readRecording(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for len(b) >= 4 {
		n := int(binary.LittleEndian.Uint32(b))
		if 4+n > len(b) {
			t.Fatalf("%s: truncated recording", path)
		}
		out = append(out, b[4:4+n])
		b = b[4+n:]
	}
	return out
}

// TestParseRecordedDumps parses netlink datagrams recorded from real dumps
// (see TestRecordDumps) and compares with golden JSON.
func TestParseRecordedDumps(t *testing.T) {
	files, _ := filepath.Glob("../testdata/netlink/*.bin")
	if len(files) == 0 {
		t.Fatal("no recordings in testdata/netlink (run go test ./source -run Record -update as root)")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var socks []Socket
			done := false
			for _, dg := range readRecording(t, f) {
				var err error
				socks, done, err = parseDiagDatagram(dg, 0, socks)
				if err != nil {
					t.Fatal(err)
				}
			}
			socks = dedupeByCookie(socks, &idxTable{})
			if !done {
				t.Error("recording ends without NLMSG_DONE")
			}
			got, err := json.MarshalIndent(socks, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := f[:len(f)-len(".bin")] + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(want) != string(got)+"\n" {
				t.Errorf("parse of %s differs from %s (run with -update after checking)", f, golden)
			}
			// The same datagrams twice (as a dump under churn may repeat
			// sockets) dedupe to the same sockets, in first-seen order.
			once := len(socks)
			twice := socks
			for _, dg := range readRecording(t, f) {
				twice, _, _ = parseDiagDatagram(dg, 0, twice)
			}
			if len(twice) != 2*once {
				t.Fatalf("re-parse: %d sockets, want %d", len(twice), 2*once)
			}
			deduped := dedupeByCookie(twice, &idxTable{})
			if len(deduped) != once {
				t.Errorf("dedupe kept %d of %d sockets, want %d", len(deduped), len(twice), once)
			}
			for i := range deduped {
				if deduped[i].Cookie != socks[i].Cookie {
					t.Fatalf("dedupe changed the order at %d", i)
				}
			}
		})
	}
}

func TestParseDiagErrors(t *testing.T) {
	ne := binary.NativeEndian
	// An NLMSG_ERROR carrying -ENOENT (no tcp_diag for the family).
	msg := make([]byte, 20)
	ne.PutUint32(msg[0:], 20)
	ne.PutUint16(msg[4:], 2)
	ne.PutUint32(msg[16:], uint32(0xfffffffe)) // -2
	if _, _, err := parseDiagDatagram(msg, 0, nil); err == nil || !isNoDiag(err) {
		t.Errorf("ENOENT error message: %v", err)
	}
	// A length field that runs past the datagram.
	bad := make([]byte, 16)
	ne.PutUint32(bad[0:], 400)
	if _, _, err := parseDiagDatagram(bad, 0, nil); err == nil {
		t.Error("overlong message accepted")
	}
	// A short inet_diag_msg.
	short := make([]byte, 16+10)
	ne.PutUint32(short[0:], 26)
	ne.PutUint16(short[4:], sockDiagByFamily)
	if _, _, err := parseDiagDatagram(short, 0, nil); err == nil {
		t.Error("short inet_diag_msg accepted")
	}
}

func TestParseSocketLink(t *testing.T) {
	for in, want := range map[string]uint32{"socket:[12345]": 12345, "socket:[4294967295]": 4294967295} {
		if got, ok := parseSocketLink([]byte(in)); !ok || got != want {
			t.Errorf("%q: %d %v", in, got, ok)
		}
	}
	for _, in := range []string{"socket:[]", "socket:[4294967296]", "pipe:[1]", "socket:[12a]", "/dev/null", ""} {
		if _, ok := parseSocketLink([]byte(in)); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestParseStatStart(t *testing.T) {
	line := "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	if v, ok := parseStatStart([]byte(line)); !ok || v != 98765 {
		t.Errorf("starttime = %d %v, want 98765", v, ok)
	}
	if _, ok := parseStatStart([]byte("1 (x) S 1 2")); ok {
		t.Error("short stat line accepted")
	}
}

func FuzzParseDiagDatagram(f *testing.F) {
	files, _ := filepath.Glob("../testdata/netlink/*.bin")
	for _, file := range files {
		for _, dg := range readRecording(f, file) {
			f.Add(dg)
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		socks, _, _ := parseDiagDatagram(b, 0, nil)
		if len(socks) > len(b)/(sizeofNlMsghdr+sizeofDiagMsg) {
			t.Fatalf("%d sockets from %d bytes", len(socks), len(b))
		}
		deduped := dedupeByCookie(slices.Clone(socks), &idxTable{})
		seen := map[uint64]bool{}
		for _, s := range deduped {
			if seen[s.Cookie] {
				t.Fatalf("cookie %d twice after dedupe", s.Cookie)
			}
			seen[s.Cookie] = true
		}
		if len(seen) != len(deduped) {
			t.Fatal("dedupe lost a cookie")
		}
	})
}

// FuzzParseInfoReplies: answers to exact requests are read without a
// panic, each counted at most once, never more than a datagram can hold.
func FuzzParseInfoReplies(f *testing.F) {
	files, _ := filepath.Glob("../testdata/netlink/*.bin")
	for _, file := range files {
		for _, dg := range readRecording(f, file) {
			f.Add(dg, uint32(0), uint32(1<<31))
		}
	}
	f.Add([]byte{}, uint32(1), uint32(64))
	f.Fuzz(func(t *testing.T, b []byte, first, last uint32) {
		out := map[uint64]TCPInfo{}
		n, _ := parseInfoReplies(b, first, last, out)
		if n > len(b)/sizeofNlMsghdr || len(out) > n {
			t.Fatalf("%d answers, %d infos from %d bytes", n, len(out), len(b))
		}
	})
}

func FuzzParseStatStart(f *testing.F) {
	f.Add([]byte("1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseStatStart(b)
		parseSocketLink(b)
		atoiPID(b)
	})
}

// TestParseSKMemInfo: SK_MEMINFO_DROPS is read from a full attribute, and
// a cut one leaves the drops unknown.
func TestParseSKMemInfo(t *testing.T) {
	msg := func(n int) []byte {
		b := make([]byte, sizeofDiagMsg, sizeofDiagMsg+4+4*n)
		b[0], b[1] = unix.AF_INET, uint8(Listen)
		attr := make([]byte, 4+4*n)
		binary.NativeEndian.PutUint16(attr[0:], uint16(len(attr)))
		binary.NativeEndian.PutUint16(attr[2:], inetDiagSKMemInfo)
		for i := range n {
			binary.NativeEndian.PutUint32(attr[4+4*i:], uint32(100+i))
		}
		return append(b, attr...)
	}
	s, ok := parseDiagMsg(msg(9))
	if !ok || !s.DropsKnown || s.Drops != 108 {
		t.Errorf("9 vars: drops %d known %v, want 108 true", s.Drops, s.DropsKnown)
	}
	if s, _ := parseDiagMsg(msg(8)); s.DropsKnown {
		t.Errorf("8 vars (no SK_MEMINFO_DROPS): drops known")
	}
}
