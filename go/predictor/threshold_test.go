package predictor

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// symbolModel copies the committed vectors model into a temporary directory
// and gives its manifest per-symbol thresholds.
func symbolModel(t *testing.T, symbols map[string]float64) string {
	t.Helper()
	return thresholdModel(t, t.TempDir(), nil, symbols)
}

// thresholdModel copies the committed vectors model into dir, setting the
// manifest's fields in set (version, default_threshold…) and its per-symbol
// thresholds.
func thresholdModel(t *testing.T, dir string, set map[string]any, symbols map[string]float64) string {
	t.Helper()
	e := needSidecar(t)
	src := filepath.Join(e.root, "tests", "vectors", "model")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
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
			maps.Copy(m, set)
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

// A sidecar started with --threshold serves that default: symbols without a
// threshold of their own get it, not the manifest's.
func TestASidecarsThresholdFlagIsTheDefaultOfSymbolsWithoutTheirOwn(t *testing.T) {
	model := symbolModel(t, map[string]float64{"BTCUSDT": 0.8})
	h := start(t, Config{ModelDir: model, Args: []string{"--threshold", "0.9"}})
	for sym, want := range map[string]float64{"BTCUSDT": 0.8, "SOLUSDT": 0.9, "": 0.9} {
		if got := h.p.Threshold(sym); got != want {
			t.Errorf("Threshold(%q) = %v, want %v", sym, got, want)
		}
		if d, err := h.p.DecideSymbol(ctxT(t), sym, []float32{0.2, -0.1, 0.5}); err != nil || d.Threshold != want {
			t.Errorf("DecideSymbol(%q): %+v, %v; want threshold %v", sym, d, err, want)
		}
	}
}

// A MaxInFlight so large that it times MaxBatch past an int still lets the
// model answer (the hedged backlog's cap saturates instead of going negative).
func TestAHugeMaxInFlightStillLetsTheModelAnswer(t *testing.T) {
	h := start(t, Config{ModelDir: tinyModel(t, "tiny-a", 1), MaxInFlight: math.MaxInt})
	if d, err := h.p.Decide(ctxT(t), []float32{0.2, -0.1, 0.5}); err != nil || d.Source != SourceModel {
		t.Fatalf("decision with MaxInFlight MaxInt: %+v, %v", d, err)
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

// A decision whose call is out while a reload completes is answered by
// whichever model the sidecar serves by then (or by the replica of either):
// it must be judged by that model's threshold, never by the other one's.
func TestAnswersAcrossReloadsAreJudgedByTheAnsweringModelsThreshold(t *testing.T) {
	models := t.TempDir()
	thresholds := map[string]map[string]float64{ // version → "" (default) and BTCUSDT
		"low":  {"": 0.40, "BTCUSDT": 0.45},
		"high": {"": 0.60, "BTCUSDT": 0.62},
	}
	for v, th := range thresholds {
		thresholdModel(t, filepath.Join(models, v), map[string]any{"version": v, "default_threshold": th[""]},
			map[string]float64{"BTCUSDT": th["BTCUSDT"]})
	}
	current := filepath.Join(models, "current")
	point := func(v string) {
		tmp := current + ".tmp"
		os.Remove(tmp)
		if err := os.Symlink(v, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, current); err != nil {
			t.Fatal(err)
		}
	}
	point("low")
	h := start(t, Config{ModelDir: current})
	if h.p.Health().State != StateReady {
		t.Fatalf("not ready: %+v", h.p.Health())
	}

	var mu sync.Mutex
	var got []Decision
	var symbol []bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				f := []float32{float32(r.Float64()*2 - 1), float32(r.Float64()*2 - 1), float32(r.NormFloat64() * 1.5)}
				bySym := g%2 == 0
				var d Decision
				var err error
				if bySym {
					d, err = h.p.DecideSymbol(ctxT(t), "BTCUSDT", f)
				} else {
					d, err = h.p.Decide(ctxT(t), f)
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got, symbol = append(got, d), append(symbol, bySym)
				mu.Unlock()
			}
		}()
	}
	seen := map[string]bool{}
	for i := range 16 {
		v := []string{"high", "low"}[i%2]
		point(v)
		h.p.Reload()
		deadline := time.Now().Add(10 * time.Second)
		for h.p.ModelVersion() != v && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		seen[h.p.ModelVersion()] = true
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if !seen["low"] || !seen["high"] {
		t.Fatalf("the reloads did not alternate the models: saw %v", seen)
	}
	n := 0
	for i, d := range got {
		if d.Source != SourceModel && d.Source != SourceReplica {
			continue
		}
		n++
		key := ""
		if symbol[i] {
			key = "BTCUSDT"
		}
		want, ok := thresholds[d.ModelVersion][key]
		if !ok || d.Threshold != want || d.Approve != (d.Probability >= d.Threshold) {
			t.Fatalf("decision %d (%s, symbol %v): version %q p %v threshold %v approve %v; that version's threshold is %v",
				i, d.Source, symbol[i], d.ModelVersion, d.Probability, d.Threshold, d.Approve, want)
		}
	}
	if n < 1000 {
		t.Fatalf("only %d model answers in %d decisions", n, len(got))
	}
}

// A threshold that is not a number in [0, 1] would approve every trade
// (below 0) or none (above 1, e.g. 65 meant as 65 %): it is refused as
// invalid input, and counted as such.
func TestAThresholdOutsideZeroToOneIsRefusedNotApplied(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := New(context.Background(), Config{Command: []string{"/nonexistent/sigmagate/python"}, ModelDir: t.TempDir(),
		Registerer: reg, Logger: discardLogger(), RestartBackoffMin: time.Second, RestartBackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	row := []float32{0.9, 0.9, 0.1} // the heuristic approves it at the default threshold
	if !p.Approve(row, math.NaN()) || !p.Approve(row, 0.5) {
		t.Fatal("a valid threshold (NaN: the default) did not approve what the heuristic approves")
	}
	bad := []float64{-1, -0.01, 1.01, 65, math.Inf(1), math.Inf(-1), math.NaN()}
	for _, th := range bad {
		d, err := p.DecideThreshold(context.Background(), row, th)
		if !errors.Is(err, ErrInvalidInput) || d.Approve || d.Source != SourceReject || d.Reason != ReasonBadInput ||
			!strings.Contains(err.Error(), "threshold") {
			t.Errorf("DecideThreshold(%v) = %+v, %v; want a bad_input refusal naming the threshold", th, d, err)
		}
		if !math.IsNaN(th) && p.Approve(row, th) {
			t.Errorf("Approve(%v) approved", th)
		}
	}
	if v, _ := metricValue(t, reg, "sigmagate_predictor_fallbacks_total", map[string]string{"reason": ReasonBadInput}); v != float64(2*len(bad)-1) {
		t.Errorf("fallbacks_total{reason=bad_input} = %v, want %d", v, 2*len(bad)-1)
	}
	if _, err := (Config{ModelDir: "m", DefaultThreshold: math.NaN()}).withDefaults(); err == nil {
		t.Error("Config.DefaultThreshold NaN accepted")
	}
}
