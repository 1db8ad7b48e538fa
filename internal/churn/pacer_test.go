package churn

import (
	"testing"
	"time"
)

// TestPacerCeiling drives the pacer with regular, late and bunched ticks and
// checks it never hands out more than rate*W plus two ticks' worth over any
// window, and all of it when ticks are regular.
func TestPacerCeiling(t *testing.T) {
	for _, rate := range []float64{0.5, 20, 333, 3000} {
		t0 := time.Unix(1000, 0)
		p := pacer{rate: rate, last: t0}
		now := t0
		var got []int // units handed out per step
		var at []time.Time
		for i := range 2000 {
			step := tick
			switch {
			case i%97 == 0:
				step = 7 * tick // a late tick: its credit is capped
			case i%13 == 0:
				step = tick / 5 // ticks bunched together
			}
			now = now.Add(step)
			got = append(got, p.take(now))
			at = append(at, now)
		}
		slack := max(2*rate*tick.Seconds(), 1)
		for i := range got {
			sum := 0
			for j := i; j < len(got); j++ {
				sum += got[j]
				w := at[j].Sub(at[i]).Seconds()
				if float64(sum) > rate*w+slack+1e-9 {
					t.Fatalf("rate %v: %d units in %.3fs from step %d: more than %.2f", rate, sum, w, i, rate*w+slack)
				}
			}
		}
	}
	p := pacer{rate: 3000, last: time.Unix(0, 0)}
	total := 0
	for i := 1; i <= 100; i++ {
		total += p.take(time.Unix(0, 0).Add(time.Duration(i) * tick))
	}
	if total != 3000 {
		t.Errorf("regular ticks for 1s at 3000/s handed out %d", total)
	}
}
