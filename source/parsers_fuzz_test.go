package source

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for the parsers of kernel and system text that the wave
// added: nsfs mounts (mountinfo), sockstat6, cgroup paths and the runtime
// names in them, /etc/passwd and /proc/PID/stat's comm. Each must take
// any input without panicking and return what it promises.

func FuzzParseNsfsMounts(f *testing.F) {
	f.Add([]byte("519 28 0:4 net:[4026532412] /run/netns/blue rw,nosuid - nsfs nsfs rw\n"))
	f.Add([]byte("1 2 3:4 / / rw - ext4 /dev/sda rw\n\n  \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range ParseNsfsMounts(b) {
			if p == "" || strings.ContainsRune(p, '\n') {
				t.Fatalf("mount point %q", p)
			}
		}
	})
}

func FuzzParseSockstat6(f *testing.F) {
	f.Add([]byte("TCP6: inuse 12\nUDP6: inuse 3\n"))
	f.Add([]byte("TCP6: inuse -1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = parseSockstat6(b)
	})
}

func FuzzCgroupLabels(f *testing.F) {
	f.Add([]byte("1:name=systemd:/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope\n0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-abc.scope\n"))
	f.Add([]byte("0::/docker/\n12:cpu:/libpod-\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range CgroupPaths(b) {
			l := LabelsFromCgroup(p)
			if !utf8.ValidString(l.Name()) {
				// Names reach a terminal only through format.Sanitize,
				// but a label built from valid text must stay valid.
				if utf8.ValidString(p) {
					t.Fatalf("label %q from valid path %q is not UTF-8", l.Name(), p)
				}
			}
		}
	})
}

func FuzzParsePasswd(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/usr/sbin/nologin\n#comment\n"))
	f.Add([]byte("a:b:c\n::::\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for uid, name := range parsePasswd(b) {
			if name == "" {
				t.Fatalf("uid %d with an empty name", uid)
			}
		}
	})
}

func FuzzParseStatComm(f *testing.F) {
	f.Add([]byte("123 (nginx: worker) S 1 2 3"))
	f.Add([]byte("123 (a) b) c) S"))
	f.Add([]byte("("))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = parseStatComm(b)
	})
}
