package ui

import (
	"flag"

	"github.com/tcptop/tcptop/internal/fixture"

	"github.com/tcptop/tcptop/source"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sample is the fixture poll the goldens are made from.
func sample() *source.Sample { return fixture.Sample() }
