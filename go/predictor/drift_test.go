package predictor

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigmagate/sigmagate/go/internal/drift"
	"github.com/sigmagate/sigmagate/go/internal/testutil"
)

func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := metricValue(t, reg, name, labels)
	return v
}

// The decision path's cost for drift (and an absent shadow): the target is
// under 100 ns per decision.
func BenchmarkDriftObserve(b *testing.B) {
	d := drift.New(DriftConfig{}, discardLogger())
	p := &Predictor{drift: d}
	d.Start()
	defer d.Close()
	d.ModelLoaded("ref-test", testutil.WithReference(b, b.TempDir(), ""))
	f := []float32{0.1, -0.2, 0.7}
	names := []string{"tick_ratio", "depth_ratio", "price_dist"}
	dec := &Decision{Probability: 0.7}
	b.Run("goroutines=1", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			p.monitor(f, true, names, dec)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p.monitor(f, true, names, dec)
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
	model := testutil.WithReference(t, copyModel(t, src), src)
	h := start(t, Config{ModelDir: model, Drift: DriftConfig{Window: 500, Every: 10 * time.Millisecond}})
	testutil.WaitFor(t, 10*time.Second, "the served model's reference", func() bool {
		s := h.p.Health().Drift
		return s.HasReference && s.ModelVersion == "tiny-a"
	})
	r := rand.New(rand.NewPCG(9, 9))
	for range 600 {
		if d, err := h.p.Decide(ctxT(t), testutil.TrainingRow(r, 2)); err != nil || d.Source != SourceModel {
			t.Fatalf("decision %+v %v", d, err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "the PSI alert", func() bool {
		return slices.Contains(h.p.Health().Drift.Alerts, "psi:"+featDist)
	})
	if g := gauge(t, h.reg, "sigmagate_predictor_drift_psi", map[string]string{"feature": featDist}); g <= 0.2 {
		t.Errorf("psi gauge %v", g)
	}
	testutil.WaitFor(t, 5*time.Second, "the warning log", func() bool { return strings.Contains(h.log.String(), "live features drifted") })
}
