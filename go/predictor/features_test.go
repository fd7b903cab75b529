package predictor

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

var tinyOrder = []string{"tick_ratio", "depth_ratio", "price_dist"}

// A bot that declares another order than the model's is told which two
// orders differ, and its slices never reach the model in the wrong columns.
func TestDeclaredFeatureOrderThatDiffersFromTheModelsIsNamedAndFallsBack(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	botOrder := []string{"depth_ratio", "tick_ratio", "price_dist"}
	h := start(t, Config{ModelDir: model, Features: botOrder, Timeout: 5 * time.Second})
	if st := h.p.Health().State; st != StateReady {
		t.Fatalf("state %s, want ready", st)
	}
	logs := h.log.String()
	if !containsAll(logs, "feature order mismatch", `"bot_features":["depth_ratio","tick_ratio","price_dist"]`,
		`"model_features":["tick_ratio","depth_ratio","price_dist"]`) {
		t.Fatalf("no error log naming both orders:\n%s", logs)
	}
	if got := h.p.Features(); !slices.Equal(got, tinyOrder) {
		t.Fatalf("Features() = %v, want the manifest's %v", got, tinyOrder)
	}

	row := []float32{0.4, -0.3, 1.2} // depth, tick, dist: the bot's order
	d, err := h.p.Decide(ctxT(t), row)
	if !errors.Is(err, ErrFeatureOrder) || d.Approve || d.Source != SourceReject || d.Reason != ReasonFeatureOrder || !errors.Is(d.Err, ErrFeatureOrder) {
		t.Fatalf("Decide = %+v, %v; want a rejection with reason feature_order and its error", d, err)
	}
	if h.p.Approve([]float32{0.9, 0.9, 0.1}, 0.5) {
		t.Fatal("Approve approved with a feature-order mismatch (the heuristic would have)")
	}
	// What monitoring/sigmagate.rules.yml's SigmagateInputRejected reads.
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_fallbacks_total", map[string]string{"reason": ReasonFeatureOrder}); v != 2 {
		t.Errorf("fallbacks_total{reason=feature_order} = %v after 2 refused decisions", v)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_predictions_total", map[string]string{"source": string(SourceReject)}); v != 2 {
		t.Errorf("predictions_total{source=reject} = %v after 2 refused decisions", v)
	}
	if msg := d.Err.Error(); !containsAll(msg, "[depth_ratio tick_ratio price_dist]", "[tick_ratio depth_ratio price_dist]") {
		t.Fatalf("error does not name both orders: %s", msg)
	}
	if _, err := h.p.Predict(row); !errors.Is(err, ErrFeatureOrder) {
		t.Fatalf("Predict error %v, want ErrFeatureOrder", err)
	}

	// By name, the same values reach the model in its own order.
	want := onnxProbabilities(t, model, [][]float32{{-0.3, 0.4, 1.2}})[0]
	d, err = h.p.DecideNamed(ctxT(t), map[string]float32{"depth_ratio": 0.4, "tick_ratio": -0.3, "price_dist": 1.2})
	if err != nil || d.Source != SourceModel || math.Abs(d.Probability-want) > 1e-6 {
		t.Fatalf("DecideNamed = %+v, %v; want the model's p %v", d, err, want)
	}
}

func TestDecideNamedLaysFeaturesOutInTheModelsOrderAndRefusesMissingOrUnknownNames(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	h := start(t, Config{ModelDir: model, Features: tinyOrder, Timeout: 5 * time.Second})
	if strings.Contains(h.log.String(), "feature order mismatch") {
		t.Fatalf("a matching declared order was reported as a mismatch:\n%s", h.log.String())
	}
	recs := randomRecords(20, 3)
	want := onnxProbabilities(t, model, recs)
	for i, r := range recs {
		named := map[string]float32{}
		for j, n := range h.p.Features() {
			named[n] = r[j]
		}
		d, err := h.p.DecideNamed(ctxT(t), named)
		if err != nil || d.Source != SourceModel || math.Abs(d.Probability-want[i]) > 1e-6 {
			t.Fatalf("record %d: DecideNamed = %+v, %v; want p %v", i, d, err, want[i])
		}
		if d2, err := h.p.Decide(ctxT(t), r); err != nil || d2.Probability != d.Probability {
			t.Fatalf("record %d: Decide %v (%v) and DecideNamed %v differ", i, d2.Probability, err, d.Probability)
		}
	}
	for _, c := range []struct {
		in   map[string]float32
		want string
	}{
		{map[string]float32{"tick_ratio": 0.1, "depth_ratio": 0.2}, `feature "price_dist" is missing`},
		{map[string]float32{"tick_ratio": 0.1, "depth_ratio": 0.2, "price_dist": 0.3, "vwap": 1}, `unknown feature(s) ["vwap"]`},
	} {
		d, err := h.p.DecideNamed(ctxT(t), c.in)
		if !errors.Is(err, ErrInvalidInput) || d.Source != SourceReject || d.Approve || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("DecideNamed(%v) = %+v, %v; want ErrInvalidInput saying %s", c.in, d, err, c.want)
		}
	}
}

func TestConfigFeaturesMustBeDistinctNames(t *testing.T) {
	for _, f := range [][]string{{}, {"a", "a"}, {"a", ""}} {
		if _, err := (Config{ModelDir: "m", Features: f}).withDefaults(); err == nil || !strings.Contains(err.Error(), "Config.Features") {
			t.Errorf("Features %q: err %v, want a Config.Features error", f, err)
		}
	}
}
