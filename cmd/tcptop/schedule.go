package main

import (
	"flag"
	"fmt"
	"time"
)

// defaultFullEvery is how often the monitor and streams dump every socket
// (the ESTABLISHED ones included) with the dump schedule.
const defaultFullEvery = 10 * time.Second

// scheduleFlags registers --full-every.
func scheduleFlags(fs *flag.FlagSet, c *config) {
	c.fullEvery = defaultFullEvery
	fs.Func("full-every", "", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fmt.Errorf("--full-every %q: want a duration such as 10s, or 0", s)
		}
		c.fullEvery = d
		return nil
	})
}

// scheduleFor is the pipeline's FullEvery for a run of count polls: the
// dump schedule for the monitor and the streams; --once, --check and a
// single poll dump everything.
func (c *config) scheduleFor(count int) time.Duration {
	if c.once || c.check || count == 1 {
		return 0
	}
	return c.fullEvery
}
