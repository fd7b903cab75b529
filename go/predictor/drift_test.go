package predictor

import (
	"encoding/json"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigmagate/sigmagate/go/manifest"
)

// The training distribution of the drift tests: the bot's three features.
func trainingRow(r *rand.Rand, shift float64) []float32 {
	return []float32{float32(r.Float64()*2 - 1), float32(r.Float64()*2 - 1), float32(r.NormFloat64()*1.5 + shift)}
}

// decileBins mirrors train/publish/reference.py: deciles of the sample, duplicate
// edges merged, true shares per bin.
func decileBins(xs []float64) manifest.Bins {
	s := slices.Clone(xs)
	slices.Sort(s)
	var edges []float64
	for q := 0; q <= 10; q++ {
		e := s[min(len(s)-1, int(math.Ceil(float64(q)/10*float64(len(s))))-1+boolInt(q == 0))]
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	counts := make([]int, len(edges)-1)
	for _, x := range s {
		counts[binOf(edges, x)]++
	}
	fr := make([]float64, len(counts))
	for i, c := range counts {
		fr[i] = float64(c) / float64(len(s))
	}
	return manifest.Bins{Edges: edges, Fractions: fr}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := metricValue(t, reg, name, labels)
	return v
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// withReference writes into dir a manifest.json (copied from src when given,
// else a minimal valid one) whose reference block is built from rows drawn
// with a fixed seed, and returns dir.
func withReference(t testing.TB, dir, src string) string {
	t.Helper()
	raw := map[string]any{"schema": 1, "version": "ref-test", "features": []string{featTick, featDepth, featDist},
		"default_threshold": 0.65, "serve_variant": "fp32",
		"variants": map[string]any{"fp32": map[string]any{"file": "model.onnx", "accepted": true}}}
	if src != "" {
		b, err := os.ReadFile(filepath.Join(src, manifest.FileName))
		if err != nil {
			t.Fatal(err)
		}
		raw = map[string]any{}
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(1, 0))
	cols := make([][]float64, 3)
	for range 20000 {
		for i, x := range trainingRow(r, 0) {
			cols[i] = append(cols[i], float64(x))
		}
	}
	feats := map[string]manifest.Bins{}
	for i, f := range []string{featTick, featDepth, featDist} {
		feats[f] = decileBins(cols[i])
	}
	raw["reference"] = manifest.Reference{Features: feats, ApprovalRate: 0.35, ApprovalThreshold: 0.65, Rows: 20000}
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type driftRig struct {
	d   *drift
	reg *prometheus.Registry
	log *logBuffer
}

func newDriftRig(t *testing.T) *driftRig {
	t.Helper()
	rig := &driftRig{reg: prometheus.NewRegistry(), log: &logBuffer{}}
	rig.d = newDrift(DriftConfig{Window: 2000, Every: 5 * time.Millisecond, WarnEvery: time.Hour},
		slog.New(slog.NewJSONHandler(rig.log, nil)))
	for _, c := range rig.d.m.collectors() {
		rig.reg.MustRegister(c)
	}
	rig.d.start()
	t.Cleanup(rig.d.close)
	rig.d.modelLoaded("ref-test", withReference(t, t.TempDir(), ""))
	waitFor(t, 5*time.Second, "the reference to load", func() bool { return rig.d.snapshot().HasReference })
	return rig
}

// feed sends n decisions drawn with seed, price_dist shifted by shift σ-units,
// and waits until a full window has been evaluated.
func (rig *driftRig) feed(t *testing.T, seed uint64, shift float64, n int) DriftStatus {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	for range n {
		rig.d.observe(trainingRow(r, shift), r.Float64()*0.3+0.5)
	}
	var s DriftStatus
	waitFor(t, 5*time.Second, "a full window", func() bool {
		s = rig.d.snapshot()
		return s.Decisions == 2000 && !s.EvaluatedAt.IsZero() && s.Dropped == 0
	})
	time.Sleep(20 * time.Millisecond) // a few more evaluations: the warning must stay one line
	return rig.d.snapshot()
}

func TestDriftShiftedFeedRaisesPSIWarningAndGauge(t *testing.T) {
	rig := newDriftRig(t)
	s := rig.feed(t, 42, 1.5, 3000)
	if !slices.Contains(s.Alerts, "psi:"+featDist) {
		t.Fatalf("alerts %v, want psi:%s (PSI %v)", s.Alerts, featDist, s.PSI)
	}
	if g := gauge(t, rig.reg, "sigmagate_predictor_drift_psi", map[string]string{"feature": featDist}); g <= 0.2 {
		t.Errorf("psi gauge for %s = %v, want > 0.2", featDist, g)
	}
	if g := gauge(t, rig.reg, "sigmagate_predictor_drift_alert", nil); g != 1 {
		t.Errorf("alert gauge = %v, want 1", g)
	}
	if s.PSI[featTick] > 0.05 || s.PSI[featDepth] > 0.05 {
		t.Errorf("unshifted features have PSI %v", s.PSI)
	}
	if n := strings.Count(rig.log.String(), "live features drifted"); n != 1 {
		t.Errorf("%d drift warnings logged, want exactly 1 (rate-limited):\n%s", n, rig.log.String())
	}
}

func TestDriftUnshiftedFeedStaysQuiet(t *testing.T) {
	rig := newDriftRig(t)
	s := rig.feed(t, 43, 0, 3000)
	if len(s.Alerts) != 0 {
		t.Fatalf("alerts %v on an unshifted feed (PSI %v, OOD %v)", s.Alerts, s.PSI, s.OODShare)
	}
	for f, v := range s.PSI {
		if v > 0.05 {
			t.Errorf("PSI of %s = %v on an unshifted feed", f, v)
		}
	}
	if g := gauge(t, rig.reg, "sigmagate_predictor_drift_alert", nil); g != 0 {
		t.Errorf("alert gauge = %v, want 0", g)
	}
	if strings.Contains(rig.log.String(), "live features drifted") {
		t.Errorf("drift warning on an unshifted feed:\n%s", rig.log.String())
	}
}

func TestDriftCountsOutOfRangeValuesAndApprovalCollapse(t *testing.T) {
	rig := newDriftRig(t)
	r := rand.New(rand.NewPCG(5, 5))
	for range 2000 {
		row := trainingRow(r, 0)
		row[0] = 3 // tick_ratio never leaves [-1, 1] in training
		rig.d.observe(row, 0.1)
	}
	var s DriftStatus
	waitFor(t, 5*time.Second, "a full window", func() bool {
		s = rig.d.snapshot()
		return s.Decisions == 2000 && len(s.Alerts) > 0
	})
	if s.OODShare[featTick] != 1 || !slices.Contains(s.Alerts, "ood:"+featTick) || !slices.Contains(s.Alerts, "approval") {
		t.Fatalf("want tick_ratio fully OOD and an approval alert, got OOD %v alerts %v approval %v", s.OODShare, s.Alerts, s.ApprovalRate)
	}
}

// The decision path's cost for drift (and an absent shadow): the target is
// under 100 ns per decision.
func BenchmarkDriftObserve(b *testing.B) {
	d := newDrift(DriftConfig{}, discardLogger())
	p := &Predictor{drift: d}
	d.start()
	defer d.close()
	d.modelLoaded("ref-test", withReference(b, b.TempDir(), ""))
	f := []float32{0.1, -0.2, 0.7}
	dec := &Decision{Probability: 0.7}
	b.Run("goroutines=1", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			p.monitor(f, dec)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p.monitor(f, dec)
			}
		})
	})
}

// copyModel copies a model directory (a fresh, writable version directory
// of the same name) so a test can edit its manifest.
func copyModel(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestDriftOfServedModelRaisesWarningOnShiftedLiveFeed(t *testing.T) {
	src := tinyModel(t, "tiny-a", 1)
	model := withReference(t, copyModel(t, src), src)
	h := start(t, Config{ModelDir: model, Drift: DriftConfig{Window: 500, Every: 10 * time.Millisecond}})
	waitFor(t, 10*time.Second, "the served model's reference", func() bool {
		s := h.p.Health().Drift
		return s.HasReference && s.ModelVersion == "tiny-a"
	})
	r := rand.New(rand.NewPCG(9, 9))
	for range 600 {
		if d, err := h.p.Decide(ctxT(t), trainingRow(r, 2)); err != nil || d.Source != SourceModel {
			t.Fatalf("decision %+v %v", d, err)
		}
	}
	waitFor(t, 10*time.Second, "the PSI alert", func() bool {
		return slices.Contains(h.p.Health().Drift.Alerts, "psi:"+featDist)
	})
	if g := gauge(t, h.reg, "sigmagate_predictor_drift_psi", map[string]string{"feature": featDist}); g <= 0.2 {
		t.Errorf("psi gauge %v", g)
	}
	waitFor(t, 5*time.Second, "the warning log", func() bool { return strings.Contains(h.log.String(), "live features drifted") })
}

func TestDriftWarningIsRateLimitedPerAlertSoANewKindIsLoggedAtOnce(t *testing.T) {
	last := map[string]time.Time{}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at     time.Duration
		alerts []string
		want   bool
	}{
		{0, []string{"approval"}, true},
		{10 * time.Second, []string{"approval"}, false},                  // the same drift, within a minute
		{20 * time.Second, []string{"approval", "psi:price_dist"}, true}, // a new kind: at once
		{30 * time.Second, []string{"psi:price_dist"}, false},            // both warned within a minute
		{90 * time.Second, []string{"approval", "psi:price_dist"}, true}, // a minute later: again
		{95 * time.Second, nil, false},
	}
	for i, s := range steps {
		if got := due(last, s.alerts, t0.Add(s.at), time.Minute); got != s.want {
			t.Fatalf("step %d (%v at %v): warn %v, want %v", i, s.alerts, s.at, got, s.want)
		}
	}
}
