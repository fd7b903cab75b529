package predictor

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/testutil"
)

// randomRecords spans the bot's ranges and beyond, so that both classes and
// out-of-range values are exercised.
func randomRecords(n int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([][]float32, n)
	for i := range out {
		out[i] = []float32{float32(r.Float64()*2.4 - 1.2), float32(r.Float64()*2.4 - 1.2), float32(r.NormFloat64() * 2)}
	}
	return out
}

func TestDecisionsEqualOnnxruntimeOnSameFeatures(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	// Hedging off: this is the sidecar's path, and on a loaded test host
	// the replica would answer the slow ones (with the same p).
	h := start(t, Config{ModelDir: model, Timeout: 5 * time.Second, HedgeDelay: -1})
	recs := randomRecords(300, 1)
	want := onnxProbabilities(t, model, recs)
	thresholds := []float64{0.2, 0.5, 0.65, 0.8}

	// Concurrently, so that records with different thresholds share batches.
	var wg sync.WaitGroup
	errs := make(chan string, len(recs)*2)
	for i := range recs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			th := thresholds[i%len(thresholds)]
			d, err := h.p.DecideThreshold(ctxT(t), recs[i], th)
			if err != nil || d.Source != SourceModel {
				errs <- "record answered by " + string(d.Source) + ": " + d.Reason
				return
			}
			if math.Abs(d.Probability-want[i]) > 1e-6 {
				errs <- "probability differs from onnxruntime"
			}
			if d.Approve != (want[i] >= th) {
				errs <- "approve differs from p >= threshold"
			}
			if d.ModelVersion != "tiny-a" {
				errs <- "wrong version " + d.ModelVersion
			}
			pp, err := h.p.Predict(recs[i])
			if err != nil || math.Abs(float64(pp[1])-want[i]) > 1e-6 || math.Abs(float64(pp[0]+pp[1])-1) > 1e-6 {
				errs <- "Predict differs from onnxruntime"
			}
			if h.p.Approve(recs[i], th) != (want[i] >= th) {
				errs <- "Approve differs from p >= threshold"
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	hl := h.p.Health()
	if hl.Fallbacks != 0 || hl.ModelVersion != "tiny-a" || hl.Threshold != 0.65 {
		t.Fatalf("health %+v", hl)
	}
	if d, _ := h.p.Decide(ctxT(t), recs[0]); d.Threshold != 0.65 {
		t.Fatalf("Decide used threshold %v, want the manifest's 0.65", d.Threshold)
	}
}

func TestThousandConcurrentGoroutinesAreCoalescedIntoBatches(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	// Hedging off: 1,000 goroutines on a small host are slower than a hedge delay.
	h := start(t, Config{ModelDir: model, DisableReplica: true, HedgeDelay: -1, Timeout: 5 * time.Second})
	recs := randomRecords(50, 2)
	want := onnxProbabilities(t, model, recs)
	const goroutines, each = 1000, 20
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < each; k++ {
				i := (g + k) % len(recs)
				d, err := h.p.Decide(context.Background(), recs[i])
				if err != nil || d.Source != SourceModel || math.Abs(d.Probability-want[i]) > 1e-6 {
					bad.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d of %d decisions were not the model's correct answer (health %+v)", n, goroutines*each, h.p.Health())
	}
	records, batches := metricValue(t, h.reg, "sigmagate_predictor_batch_size", nil)
	if records != goroutines*each {
		t.Fatalf("sent %v records, want %d", records, goroutines*each)
	}
	if float64(batches) > records/4 {
		t.Fatalf("%d batches for %v records: concurrent requests were not coalesced", batches, records)
	}
	t.Logf("%v records in %d batches (mean %.1f)", records, batches, records/float64(batches))
}

func TestMissingModelAnswersFromFallbackThenPicksUpTheModel(t *testing.T) {
	a := tinyModel(t, "tiny-a", 1)
	dir := t.TempDir()
	h := start(t, Config{ModelDir: filepath.Join(dir, "current"), Timeout: time.Second,
		RestartBackoffMin: 50 * time.Millisecond, RestartBackoffMax: 200 * time.Millisecond})
	if s := h.p.Health().State; s != StateNoModel {
		t.Fatalf("state %s, want %s", s, StateNoModel)
	}
	d, err := h.p.Decide(ctxT(t), []float32{0.8, 0.6, 0.1})
	if err != nil || d.Source != SourceHeuristic || d.Reason != ReasonNoModel || !d.Approve {
		t.Fatalf("no model: %+v %v", d, err)
	}
	if _, err := h.p.Predict([]float32{0.8, 0.6, 0.1}); !errors.Is(err, ErrNoModel) {
		t.Fatalf("Predict with no model: %v", err)
	}
	// The retries' failed reloads say what answers meanwhile: no previous model does.
	testutil.WaitFor(t, 10*time.Second, "a failed reload logged", func() bool {
		return strings.Contains(h.log.String(), "reload failed; it has no model, so the fallback answers")
	})
	if strings.Contains(h.log.String(), "the previous model keeps serving") {
		t.Errorf("a sidecar that never had a model is logged as keeping its previous one:\n%s", h.log.String())
	}
	failed := h.p.Health()
	if failed.LastError == "" || failed.LastErrorAt.IsZero() {
		t.Fatalf("failed reloads left no LastError/LastErrorAt: %+v", failed)
	}
	linkCurrent(t, dir, a)
	testutil.WaitFor(t, 30*time.Second, "the model picked up", func() bool { return h.p.ModelVersion() == "tiny-a" })
	if d, _ := h.p.Decide(ctxT(t), []float32{0.8, 0.6, 0.1}); d.Source != SourceModel {
		t.Fatalf("after the model appeared: %+v", d)
	}
	// The error stays as a record; its time says it is over.
	if hl := h.p.Health(); hl.State != StateReady || hl.LastError == "" || !hl.LastErrorAt.Before(hl.LoadedAt) {
		t.Fatalf("after recovery: state %s, LastError %q at %v, loaded at %v", hl.State, hl.LastError, hl.LastErrorAt, hl.LoadedAt)
	}
}

func TestMissingPythonAnswersFromFallbackAndKeepsRetrying(t *testing.T) {
	t0 := time.Now()
	h := start(t, Config{Command: []string{"/nonexistent/sigmagate/python", "-m", "infer"}, ModelDir: t.TempDir(),
		RestartBackoffMin: 10 * time.Millisecond, RestartBackoffMax: 20 * time.Millisecond})
	if el := time.Since(t0); el > 2*time.Second {
		t.Fatalf("New took %v with no Python", el)
	}
	d, err := h.p.Decide(ctxT(t), []float32{0.8, 0.6, 0.1})
	if err != nil || d.Source != SourceHeuristic || d.Reason != ReasonChildDown || !d.Approve {
		t.Fatalf("%+v %v", d, err)
	}
	testutil.WaitFor(t, 5*time.Second, "retries", func() bool { return h.p.Health().Restarts >= 3 })
	if hl := h.p.Health(); hl.LastError == "" {
		t.Fatalf("no LastError in %+v", hl)
	}
}

func TestInvalidInputIsRejectedAndNeverSentToTheSidecar(t *testing.T) {
	h := start(t, Config{ModelDir: tinyModel(t, "tiny-a", 1), DisableReplica: true})
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	bad := [][]float32{{nan, 0, 0}, {0, inf, 0}, {0, 0, -inf}, {0.5, 0.5}, {0.5, 0.5, 0, 0}, nil}
	for _, f := range bad {
		if _, err := h.p.Predict(f); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("Predict(%v): err = %v, want ErrInvalidInput", f, err)
		}
		d, err := h.p.Decide(ctxT(t), f)
		if !errors.Is(err, ErrInvalidInput) || d.Source != SourceReject || d.Approve || d.Probability != 0 || d.Reason != ReasonBadInput {
			t.Errorf("Decide(%v) = %+v, %v", f, d, err)
		}
		h.p.Approve(f, 0.5)
	}
	// Invalid input fails closed: the heuristic would approve this slice.
	if h.p.Approve([]float32{0.9, 0.9, 0.1, 99}, 0.65) {
		t.Error("Approve approved a too-long slice")
	}
	if h.p.Approve([]float32{nan, 0.9, 0.1}, 0.65) {
		t.Error("Approve approved a NaN record")
	}
	if _, n := metricValue(t, h.reg, "sigmagate_predictor_batch_size", nil); n != 0 {
		t.Fatalf("%d batches reached the sidecar", n)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_fallbacks_total", map[string]string{"reason": "bad_input"}); v != float64(3*len(bad)+2) {
		t.Fatalf("fallbacks_total{reason=bad_input} = %v", v)
	}
}

func TestSidecarStderrIsForwardedToTheLogger(t *testing.T) {
	h := start(t, Config{ModelDir: tinyModel(t, "tiny-a", 1)})
	testutil.WaitFor(t, 5*time.Second, "the child's log line", func() bool {
		return containsAll(h.log.String(), `"component":"sigmagate.infer"`, `"msg":"model loaded"`, `"version":"tiny-a"`)
	})
}

func TestStartTimeoutKillsASilentChildAndRetries(t *testing.T) {
	h := start(t, Config{Command: []string{"sh", "-c", "sleep 60", "sh"}, ModelDir: t.TempDir(),
		StartTimeout: 150 * time.Millisecond})
	testutil.WaitFor(t, 10*time.Second, "two start timeouts", func() bool {
		v, _ := metricValue(t, h.reg, "sigmagate_predictor_restarts_total", map[string]string{"reason": "start_timeout"})
		return v >= 2
	})
}

func TestGarbageOnStdoutIsAProtocolErrorAndRestarts(t *testing.T) {
	h := start(t, Config{Command: []string{"sh", "-c", "echo 'hello from a library'; sleep 60", "sh"}, ModelDir: t.TempDir()})
	testutil.WaitFor(t, 10*time.Second, "a protocol restart", func() bool {
		v, _ := metricValue(t, h.reg, "sigmagate_predictor_restarts_total", map[string]string{"reason": "protocol"})
		return v >= 1
	})
	if !containsAll(h.log.String(), "only protocol bytes may go to its stdout") && !containsAll(h.log.String(), "is something printing") {
		t.Fatalf("log does not explain the protocol error:\n%s", h.log.String())
	}
}
