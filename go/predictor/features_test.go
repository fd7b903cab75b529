//go:build unix

// POSIX only: the sidecar is killed with a POSIX signal.

package predictor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigmagate/sigmagate/go/internal/testutil"
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

// fakeSwapPredictor runs the Go fake sidecar that reloads into a model with
// another feature order while the first call is out (runFakeSidecar).
func fakeSwapPredictor(t *testing.T, features []string) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), log: &testutil.LogBuffer{}}
	p, err := New(context.Background(), Config{
		Command: []string{os.Args[0], "-test.run=^$"}, ModelDir: t.TempDir(), Features: features,
		Env:    []string{"SIGMAGATE_TEST_FAKE_SIDECAR=1", "SIGMAGATE_TEST_FAKE_SWAP=1"},
		Logger: slog.New(slog.NewJSONHandler(h.log, nil)), Registerer: h.reg, StartTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if st := p.Health().State; st != StateReady {
		t.Fatalf("fake sidecar: state %s", st)
	}
	h.p = p
	return h
}

// A reload that changes the feature order can land between a call's layout
// and its answer: that answer was scored in the wrong columns and must not
// decide. A positional call is refused like any slice in the wrong order.
func TestAnAnswerFromAModelWithAnotherFeatureOrderIsNeverUsed(t *testing.T) {
	for _, declared := range [][]string{nil, tinyOrder} {
		t.Run(fmt.Sprintf("Config.Features=%v", declared), func(t *testing.T) {
			h := fakeSwapPredictor(t, declared)
			// tick 0.7, depth 0.2: the swapped model would read 0.7 as depth.
			d, err := h.p.Decide(ctxT(t), []float32{0.7, 0.2, 0.1})
			if !errors.Is(err, ErrFeatureOrder) || d.Source != SourceReject || d.Approve || d.Reason != ReasonFeatureOrder {
				t.Fatalf("Decide answered across the order change: %+v, %v", d, err)
			}
			if !containsAll(err.Error(), "swapped", "[depth_ratio tick_ratio price_dist]", "[tick_ratio depth_ratio price_dist]") {
				t.Fatalf("error does not name the model and both orders: %v", err)
			}
			if v, _ := metricValue(t, h.reg, "sigmagate_predictor_fallbacks_total", map[string]string{"reason": ReasonFeatureOrder}); v != 1 {
				t.Errorf("fallbacks_total{reason=feature_order} = %v, want 1", v)
			}
		})
	}
}

// By name, the call is laid out again for the model that is now served and
// answered by it.
func TestDecideNamedIsAskedAgainInTheNewOrderAfterAReloadChangedIt(t *testing.T) {
	h := fakeSwapPredictor(t, tinyOrder)
	d, err := h.p.DecideNamed(ctxT(t), map[string]float32{"tick_ratio": 0.7, "depth_ratio": 0.2, "price_dist": 0.1})
	// The fake answers p = the record's first value: depth_ratio in the new order.
	if err != nil || d.Source != SourceModel || d.ModelVersion != "swapped" || math.Abs(d.Probability-0.2) > 1e-6 {
		t.Fatalf("DecideNamed = %+v, %v; want the swapped model's answer on depth_ratio 0.2", d, err)
	}
}

// While the sidecar restarts, a declared order that is not the model's is
// still refused: the model's replica would misread the slice as the sidecar
// would. With no model at all, the replica of the last one is not asked
// either; the fallback reads the features by name.
func TestDeclaredOrderMismatchIsRefusedInEveryStateAndTheReplicaNeverMisreadsIt(t *testing.T) {
	swapped := tinyModelOrdered(t, "tiny-swap", 1, fakeSwappedOrder)
	models := t.TempDir()
	cur := linkCurrent(t, models, swapped)
	h := start(t, Config{ModelDir: cur, Features: tinyOrder, Timeout: 2 * time.Second, HedgeDelay: 20 * time.Millisecond})
	waitReplica(t, h, "tiny-swap")

	row := []float32{0.9, 0.9, 0.1} // tick, depth, dist: what the heuristic approves
	if err := syscall.Kill(h.p.Health().PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sawDown := false
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		st := h.p.Health().State
		d, err := h.p.Decide(ctxT(t), row)
		if d.Source == SourceReplica || !errors.Is(err, ErrFeatureOrder) || d.Approve {
			t.Fatalf("state %s: Decide = %+v, %v; want a feature_order refusal", st, d, err)
		}
		if st != StateReady {
			sawDown = true
		} else if sawDown {
			break
		}
	}
	if !sawDown {
		t.Fatal("never saw the sidecar down after SIGKILL")
	}

	// Now no model: current names nothing, and the sidecar restarts without one.
	linkCurrent(t, models, filepath.Join(models, "missing"))
	if err := syscall.Kill(h.p.Health().PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "state no_model", func() bool { return h.p.Health().State == StateNoModel })
	d, err := h.p.Decide(ctxT(t), row)
	if err != nil || d.Source == SourceReplica || d.Source != SourceHeuristic || d.Reason != ReasonNoModel {
		t.Fatalf("no model: Decide = %+v, %v; want the heuristic, not tiny-swap's replica", d, err)
	}
}
