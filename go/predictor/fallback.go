package predictor

import (
	"fmt"
	"math"
)

// FallbackPolicy says what answers a decision that neither the sidecar nor
// its verified replica can (Config.Fallback): an outage — no sidecar, no
// model, a timeout, an error answer — or a sidecar slower than the hedge
// delay, with no replica (an MLP model, DisableReplica, or before the
// served version's replica is verified).
type FallbackPolicy string

const (
	// FallbackHeuristic (the default): the bot's pre-sigmagate heuristic.
	// An outage then trades as the bot did before the model, rather than
	// stopping it; the heuristic approves far more than the model (75 %
	// against 4.9 % of candidates on the recorded data), which is why the
	// alert rules page on a lasting fallback rate.
	FallbackHeuristic FallbackPolicy = "heuristic"
	// FallbackReject: approve nothing until the model answers again.
	FallbackReject FallbackPolicy = "reject"
	// FallbackCustom: Config.FallbackFunc decides.
	FallbackCustom FallbackPolicy = "custom"
)

// FallbackInput is what a FallbackFunc gets: a valid feature slice (never
// NaN, ±Inf or the wrong length: invalid input is rejected before any
// fallback) laid out as Names, the threshold asked for, and why the model
// could not answer (a Reason* constant).
type FallbackInput struct {
	Features  []float32
	Names     []string
	Threshold float64
	Reason    string
}

// FallbackFunc is a custom fallback (Config.FallbackFunc). Its confidence is
// reported as Decision.Probability, clamped to [0, 1]. It runs on the
// caller's goroutine, concurrently: it must be safe for that and fast.
type FallbackFunc func(in FallbackInput) (approve bool, confidence float64)

// fallbackPolicy resolves Config.Fallback and Config.FallbackFunc.
func (c *Config) fallbackPolicy() error {
	switch {
	case c.Fallback == "" && c.FallbackFunc != nil:
		c.Fallback = FallbackCustom
	case c.Fallback == "":
		c.Fallback = FallbackHeuristic
	}
	switch c.Fallback {
	case FallbackHeuristic, FallbackReject:
		if c.FallbackFunc != nil {
			return fmt.Errorf("predictor: Config.FallbackFunc is set but Config.Fallback is %q; leave Fallback empty or set it to %q", c.Fallback, FallbackCustom)
		}
	case FallbackCustom:
		if c.FallbackFunc == nil {
			return fmt.Errorf("predictor: Config.Fallback is %q but Config.FallbackFunc is nil", FallbackCustom)
		}
	default:
		return fmt.Errorf("predictor: Config.Fallback %q is none of %q, %q, %q", c.Fallback, FallbackHeuristic, FallbackReject, FallbackCustom)
	}
	return nil
}

// The heuristic the bot used before sigmagate, kept as the default fallback
// for whenever the model cannot answer in time. It names the features it needs;
// their positions come from the model's feature list (see featureLayout).
const (
	featTick  = "tick_ratio"
	featDepth = "depth_ratio"
	featDist  = "price_dist"

	// maxFallbackPriceDist: the heuristic never takes a trade whose price is
	// two or more standard deviations from VWAP.
	maxFallbackPriceDist = 2.0
	// fallbackThresholdOffset: the heuristic's confidence lives on a lower
	// scale than a calibrated probability, so it is compared to threshold − 0.5.
	fallbackThresholdOffset = 0.5
)

// featureLayout is where the heuristic's features sit in a feature slice.
type featureLayout struct {
	names             []string
	tick, depth, dist int // -1 when the model has no such feature
}

func newLayout(names []string) featureLayout {
	l := featureLayout{names: append([]string(nil), names...), tick: -1, depth: -1, dist: -1}
	for i, n := range names {
		switch n {
		case featTick:
			l.tick = i
		case featDepth:
			l.depth = i
		case featDist:
			l.dist = i
		}
	}
	return l
}

// heuristic returns the fallback's confidence, (|tick_ratio| + |depth_ratio|)/2
// capped at 1 (both ratios lie in [-1, 1] on real data; the cap keeps an
// out-of-range input from reporting a confidence no probability can have),
// and its decision: confidence > threshold − 0.5 and |price_dist| < 2.
// Without all three features, or with a non-finite one, it declines: a trade
// the bot cannot judge is a trade it does not take.
func (l featureLayout) heuristic(features []float32, threshold float64) (confidence float64, approve bool) {
	if l.tick < 0 || l.depth < 0 || l.dist < 0 ||
		l.tick >= len(features) || l.depth >= len(features) || l.dist >= len(features) {
		return 0, false
	}
	tick, depth, dist := float64(features[l.tick]), float64(features[l.depth]), float64(features[l.dist])
	for _, v := range []float64{tick, depth, dist} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, false
		}
	}
	confidence = min((math.Abs(tick)+math.Abs(depth))/2, 1)
	return confidence, confidence > threshold-fallbackThresholdOffset && math.Abs(dist) < maxFallbackPriceDist
}

// FallbackDecision applies the fallback heuristic to features laid out as
// names, exactly as the Predictor does when the model cannot answer.
func FallbackDecision(names []string, features []float32, threshold float64) (confidence float64, approve bool) {
	return newLayout(names).heuristic(features, threshold)
}
