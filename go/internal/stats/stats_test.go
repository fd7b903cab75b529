package stats

import (
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	d := make([]time.Duration, 1000)
	for i := range d {
		d[i] = time.Duration(i+1) * time.Microsecond
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 500}, {0.9, 900}, {0.99, 990}, {0.999, 999}, {1, 1000}, {2, 1000}} {
		if got := Percentile(d, c.q); got != c.want*time.Microsecond {
			t.Errorf("Percentile(1..1000 µs, %v) = %v, want %v µs", c.q, got, c.want)
		}
	}
	// Two values: the median is the lower one (half the sample is at or below it).
	if got := Percentile([]time.Duration{1, 2}, 0.5); got != 1 {
		t.Errorf("median of {1, 2} = %v, want 1", got)
	}
	if Percentile(nil, 0.5) != 0 {
		t.Error("an empty sample must give 0")
	}
	if Micros(1500*time.Nanosecond) != 1.5 {
		t.Error("Micros(1.5 µs)")
	}
}
