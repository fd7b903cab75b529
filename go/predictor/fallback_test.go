package predictor

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/defaults"
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

func TestHeuristicConfidenceStaysAProbabilityOnOutOfRangeInput(t *testing.T) {
	names := []string{featTick, featDepth, featDist}
	for _, f := range [][]float32{{1.5, 1.4, 0}, {-3, 2, 0}, {1, 1, 0}} {
		conf, ok := FallbackDecision(names, f, 0.65)
		if conf < 0 || conf > 1 || !ok {
			t.Errorf("%v: confidence %v, approve %v; want a confidence in [0, 1] that still approves", f, conf, ok)
		}
	}
	if conf, _ := FallbackDecision(names, []float32{0.2, 0.4, 0}, 0.65); math.Abs(conf-0.3) > 1e-7 {
		t.Errorf("in-range confidence changed: %v", conf)
	}
}

func TestFallbackPolicyConfig(t *testing.T) {
	fn := func(FallbackInput) (bool, float64) { return true, 1 }
	for _, c := range []struct {
		cfg  Config
		want FallbackPolicy
	}{
		{Config{ModelDir: "m"}, FallbackHeuristic},
		{Config{ModelDir: "m", Fallback: FallbackReject}, FallbackReject},
		{Config{ModelDir: "m", FallbackFunc: fn}, FallbackCustom},
		{Config{ModelDir: "m", Fallback: FallbackCustom, FallbackFunc: fn}, FallbackCustom},
	} {
		got, err := c.cfg.withDefaults()
		if err != nil || got.Fallback != c.want {
			t.Errorf("%q with func %v: %q, %v; want %q", c.cfg.Fallback, c.cfg.FallbackFunc != nil, got.Fallback, err, c.want)
		}
	}
	for _, c := range []Config{
		{ModelDir: "m", Fallback: FallbackCustom},
		{ModelDir: "m", Fallback: FallbackReject, FallbackFunc: fn},
		{ModelDir: "m", Fallback: "approve-all"},
	} {
		if _, err := c.withDefaults(); err == nil || !strings.Contains(err.Error(), "Config.Fallback") {
			t.Errorf("%+v: err %v", c, err)
		}
	}
}

// outage returns a predictor whose sidecar cannot start: every decision is
// the fallback's (reason child_down), with no replica.
func outage(t *testing.T, cfg Config) *Predictor {
	t.Helper()
	cfg.Command = []string{filepath.Join(t.TempDir(), "no-such-python")}
	cfg.ModelDir, cfg.Logger, cfg.StartTimeout = t.TempDir(), discardLogger(), time.Second
	cfg.RestartBackoffMin, cfg.RestartBackoffMax = time.Second, time.Second
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestOutageFallbackPolicies(t *testing.T) {
	rec := []float32{0.9, 0.8, 0.1} // the heuristic approves it
	ctx := context.Background()

	d, err := outage(t, Config{}).Decide(ctx, rec)
	if err != nil || d.Source != SourceHeuristic || !d.Approve || d.Reason != ReasonChildDown {
		t.Errorf("default policy: %+v, %v; want the heuristic's approval", d, err)
	}

	p := outage(t, Config{Fallback: FallbackReject})
	d, err = p.Decide(ctx, rec)
	if err != nil || d.Source != SourceReject || d.Approve || d.Probability != 0 || d.Reason != ReasonChildDown || d.Err == nil {
		t.Errorf("reject policy: %+v, %v", d, err)
	}
	if p.Approve(rec, 0.1) {
		t.Error("reject policy approved")
	}

	var got FallbackInput
	var mu sync.Mutex
	p = outage(t, Config{FallbackFunc: func(in FallbackInput) (bool, float64) {
		mu.Lock()
		got = in
		mu.Unlock()
		return in.Features[2] < 0.5, 7 // an out-of-range confidence is clamped
	}})
	d, err = p.DecideThreshold(ctx, rec, 0.6)
	mu.Lock()
	defer mu.Unlock()
	if err != nil || d.Source != SourceCustom || !d.Approve || d.Probability != 1 ||
		got.Threshold != 0.6 || got.Reason != ReasonChildDown || !slices.Equal(got.Names, defaultFeatures) || !slices.Equal(got.Features, rec) {
		t.Errorf("custom policy: %+v, %v; the function saw %+v", d, err, got)
	}
	// Invalid input never reaches the function: it is rejected.
	got = FallbackInput{}
	mu.Unlock()
	d, err = p.Decide(ctx, []float32{1, 2})
	mu.Lock()
	if !errors.Is(err, ErrInvalidInput) || d.Source != SourceReject || d.Approve || got.Features != nil {
		t.Errorf("custom policy on bad input: %+v, %v; function saw %+v", d, err, got)
	}
}

func TestPredictorDefaultsAreTheProjectDefaults(t *testing.T) {
	c, err := Config{ModelDir: "m"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultThreshold != defaults.DefaultThreshold || DefaultDecideThreshold != defaults.DefaultThreshold {
		t.Errorf("default threshold %v, project default %v", c.DefaultThreshold, defaults.DefaultThreshold)
	}
	if !slices.Equal(defaultFeatures, defaults.DefaultFeatures) {
		t.Errorf("default features %v, project default %v", defaultFeatures, defaults.DefaultFeatures)
	}
}
