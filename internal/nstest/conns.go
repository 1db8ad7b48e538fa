package nstest

import (
	"net"
	"testing"

	"github.com/tcptop/tcptop/source"
)

// Conns holds loopback TCP connections made inside a namespace: both
// ends of each stay open (ESTABLISHED) until the test ends or a test
// closes one.
type Conns struct {
	t  testing.TB
	ns *source.Namespace
	ln net.Listener
	// Held are the connections' ends, client then server for each.
	Held []net.Conn
}

// NewConns returns an empty Conns of ns whose listener (made at the
// first Dial, on 127.0.0.1) and connections close when the test ends.
func NewConns(t testing.TB, ns *source.Namespace) *Conns {
	c := &Conns{t: t, ns: ns}
	t.Cleanup(func() {
		for _, h := range c.Held {
			h.Close()
		}
		if c.ln != nil {
			c.ln.Close()
		}
	})
	return c
}

// Dial opens n more connections (the listener's first, then each
// accepted before the next).
func (c *Conns) Dial(n int) {
	c.t.Helper()
	err := c.ns.Do(func() error {
		var err error
		if c.ln == nil {
			if c.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				return err
			}
		}
		for range n {
			cl, err := net.Dial("tcp", c.ln.Addr().String())
			if err != nil {
				return err
			}
			s, err := c.ln.Accept()
			if err != nil {
				cl.Close()
				return err
			}
			c.Held = append(c.Held, cl, s)
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
}
