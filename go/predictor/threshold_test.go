package predictor

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// symbolModel copies the committed vectors model into a temporary directory
// and gives its manifest per-symbol thresholds.
func symbolModel(t *testing.T, symbols map[string]float64) string {
	t.Helper()
	e := needSidecar(t)
	src := filepath.Join(e.root, "tests", "vectors", "model")
	dir := t.TempDir()
	files, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range files {
		f := e.Name()
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "manifest.json" {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			m["symbol_thresholds"] = symbols
			if b, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestThresholdIsTheServedModelsPerSymbolThreshold(t *testing.T) {
	model := symbolModel(t, map[string]float64{"BTCUSDT": 0.8, "ETHUSDT": 0.55})
	h := start(t, Config{ModelDir: model, DefaultThreshold: 0.7})
	if h.p.Health().State != StateReady {
		t.Fatalf("not ready: %+v", h.p.Health())
	}
	for sym, want := range map[string]float64{"BTCUSDT": 0.8, "ETHUSDT": 0.55, "SOLUSDT": 0.65, "": 0.65} {
		if got := h.p.Threshold(sym); got != want {
			t.Errorf("Threshold(%q) = %v, want %v (manifest default_threshold 0.65)", sym, got, want)
		}
	}
	rec := []float32{0.2, -0.1, 0.5}
	for _, sym := range []string{"BTCUSDT", "ETHUSDT", "SOLUSDT"} {
		d, err := h.p.DecideSymbol(ctxT(t), sym, rec)
		if err != nil || d.Source != SourceModel {
			t.Fatalf("DecideSymbol(%s): %+v, %v", sym, d, err)
		}
		if d.Threshold != h.p.Threshold(sym) || d.Approve != (d.Probability >= d.Threshold) {
			t.Errorf("DecideSymbol(%s) = %+v, want threshold %v", sym, d, h.p.Threshold(sym))
		}
	}
	// The manifest's created time, 2026-01-01T00:00:00Z.
	v, _ := metricValue(t, h.reg, "sigmagate_predictor_model_created_timestamp_seconds", map[string]string{"version": "vectors-1"})
	if want := float64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()); v != want {
		t.Errorf("model_created_timestamp_seconds = %v, want %v", v, want)
	}
}

func TestThresholdWithNoModelServedIsConfigDefaultThreshold(t *testing.T) {
	h := start(t, Config{ModelDir: filepath.Join(t.TempDir(), "missing"), DefaultThreshold: 0.7, StartTimeout: 30 * time.Second})
	if got := h.p.Threshold("BTCUSDT"); got != 0.7 {
		t.Fatalf("Threshold with no model = %v, want Config.DefaultThreshold 0.7 (state %s)", got, h.p.Health().State)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_model_created_timestamp_seconds", nil); v != 0 || math.IsNaN(v) {
		t.Errorf("model_created_timestamp_seconds has a sample with no model: %v", v)
	}
}
