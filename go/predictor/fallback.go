package predictor

import "math"

// The heuristic the bot used before sigmagate, kept as the fallback for
// whenever the model cannot answer in time. It names the features it needs;
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

// heuristic returns the fallback's confidence, (|tick_ratio| + |depth_ratio|)/2,
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
	confidence = (math.Abs(tick) + math.Abs(depth)) / 2
	return confidence, confidence > threshold-fallbackThresholdOffset && math.Abs(dist) < maxFallbackPriceDist
}

// FallbackDecision applies the fallback heuristic to features laid out as
// names, exactly as the Predictor does when the model cannot answer.
func FallbackDecision(names []string, features []float32, threshold float64) (confidence float64, approve bool) {
	return newLayout(names).heuristic(features, threshold)
}
