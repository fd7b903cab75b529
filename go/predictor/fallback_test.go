package predictor

import (
	"math"
	"testing"
)

func TestHeuristicApprovesOnConfidenceAboveThresholdMinusHalfNearVWAP(t *testing.T) {
	l := newLayout([]string{"tick_ratio", "depth_ratio", "price_dist"})
	cases := []struct {
		f         []float32
		threshold float64
		conf      float64
		approve   bool
	}{
		{[]float32{0.4, -0.2, 0.5}, 0.65, 0.3, true},  // 0.3 > 0.15
		{[]float32{0.1, 0.1, 0.5}, 0.65, 0.1, false},  // 0.1 <= 0.15
		{[]float32{0.9, 0.9, -2.0}, 0.65, 0.9, false}, // |price_dist| not < 2
		{[]float32{0.9, 0.9, -1.99}, 0.65, 0.9, true}, // just inside
		{[]float32{-0.5, -0.5, 0}, 1.0, 0.5, false},   // 0.5 is not > 0.5
		{[]float32{-0.5, -0.75, 0}, 1.0, 0.625, true}, // signs do not matter
		{[]float32{0, 0, 0}, 0.4, 0, true},            // threshold below 0.5
		{[]float32{float32(math.NaN()), 0, 0}, 0.4, 0, false},
	}
	for i, c := range cases {
		conf, ok := l.heuristic(c.f, c.threshold)
		if math.Abs(conf-c.conf) > 1e-6 || ok != c.approve {
			t.Errorf("case %d %v@%v: got (%v, %v), want (%v, %v)", i, c.f, c.threshold, conf, ok, c.conf, c.approve)
		}
	}
}

func TestHeuristicFindsFeaturesByNameNotPosition(t *testing.T) {
	// price_dist first: a hard-coded index would read 3.0 as tick_ratio.
	l := newLayout([]string{"price_dist", "volume_spike", "depth_ratio", "tick_ratio"})
	conf, ok := l.heuristic([]float32{3.0, 9, 0.2, 0.4}, 0.65)
	if math.Abs(conf-0.3) > 1e-6 || ok {
		t.Fatalf("got (%v, %v), want (0.3, false: |price_dist| = 3)", conf, ok)
	}
	conf, ok = l.heuristic([]float32{1.0, 9, 0.2, 0.4}, 0.65)
	if math.Abs(conf-0.3) > 1e-6 || !ok {
		t.Fatalf("got (%v, %v), want (0.3, true)", conf, ok)
	}
}

func TestHeuristicDeclinesWhenAFeatureIsMissing(t *testing.T) {
	l := newLayout([]string{"tick_ratio", "price_dist"})
	if _, ok := l.heuristic([]float32{0.9, 0}, 0.1); ok {
		t.Fatal("approved without depth_ratio")
	}
	l = newLayout([]string{"tick_ratio", "depth_ratio", "price_dist"})
	if _, ok := l.heuristic([]float32{0.9, 0.9}, 0.1); ok {
		t.Fatal("approved a short slice")
	}
}
