package source

// Test hooks for the external test package.

// SetTap makes d pass every raw netlink datagram it receives to f.
func SetTap(d *Dumper, f func([]byte)) { d.tap = f }

// Update reports whether golden files and fixtures should be rewritten.
func Update() bool { return *update }
