// Package stats holds the one percentile definition that the predictor's
// benchmarks, simbot, gatebench and gatecheck report, so that their p50 and
// p99 figures can be compared.
package stats

import (
	"math"
	"time"
)

// Percentile is the nearest-rank q-quantile of sorted (ascending): the
// smallest value with at least a share q of the sample at or below it. q <= 0
// gives the minimum, q >= 1 the maximum, an empty sample 0.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Micros is d in microseconds, the unit every latency report uses.
func Micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
