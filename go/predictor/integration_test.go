package predictor

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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
	h := start(t, Config{ModelDir: model, Timeout: 5 * time.Second})
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
	h := start(t, Config{ModelDir: model, DisableReplica: true, Timeout: 5 * time.Second})
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

// load runs Decide in a loop on n goroutines until stop is closed, and
// records what answered.
type load struct {
	model, fallback, slow atomic.Int64
	reasons               sync.Map
	versions              sync.Map
	wg                    sync.WaitGroup
	stop                  chan struct{}
}

func startLoad(t *testing.T, p *Predictor, n int, maxLatency time.Duration) *load {
	l := &load{stop: make(chan struct{})}
	recs := randomRecords(16, 3)
	for g := 0; g < n; g++ {
		l.wg.Add(1)
		go func(g int) {
			defer l.wg.Done()
			for k := 0; ; k++ {
				select {
				case <-l.stop:
					return
				default:
				}
				d, err := p.Decide(context.Background(), recs[(g+k)%len(recs)])
				if err != nil {
					t.Errorf("Decide: %v", err)
					return
				}
				if d.Latency > maxLatency {
					l.slow.Add(1)
				}
				if d.Source == SourceModel {
					l.model.Add(1)
					l.versions.Store(d.ModelVersion, true)
				} else {
					l.fallback.Add(1)
					l.reasons.Store(d.Reason, true)
					time.Sleep(time.Millisecond) // fallback is instant; do not spin
				}
			}
		}(g)
	}
	t.Cleanup(l.end)
	return l
}

func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func TestChildKilledMidFlightFallsBackThenRestartsAndRecovers(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	const timeout = 300 * time.Millisecond
	h := start(t, Config{ModelDir: model, DisableReplica: true, Timeout: timeout})
	l := startLoad(t, h.p, 16, timeout+300*time.Millisecond) // slack for a loaded CI machine
	waitFor(t, 10*time.Second, "model answers under load", func() bool { return l.model.Load() > 100 })
	old := h.p.Health().PID
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "fallback answers after SIGKILL", func() bool { return l.fallback.Load() > 0 })
	waitFor(t, 60*time.Second, "a restarted sidecar", func() bool {
		hl := h.p.Health()
		return hl.State == StateReady && hl.PID != old && hl.PID != 0
	})
	before := l.model.Load()
	waitFor(t, 10*time.Second, "model answers after restart", func() bool { return l.model.Load() > before+100 })
	l.end()
	if n := l.slow.Load(); n > 0 {
		t.Errorf("%d decisions took longer than the timeout", n)
	}
	if _, ok := l.reasons.Load(ReasonChildDown); !ok {
		t.Errorf("no fallback with reason %q", ReasonChildDown)
	}
	if hl := h.p.Health(); hl.Restarts < 1 || hl.FallbacksByReason[ReasonChildDown] == 0 {
		t.Errorf("health after restart: %+v", hl)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_restarts_total", map[string]string{"reason": "exited"}); v < 1 {
		t.Errorf("restarts_total{reason=exited} = %v", v)
	}
	if _, err := os.Stat(filepath.Join("/proc", itoa(old))); err == nil {
		t.Errorf("killed sidecar %d was not reaped", old)
	}
}

func TestChildStoppedTimesOutFallsBackThenIsKilledAndRestarted(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	const timeout = 100 * time.Millisecond
	h := start(t, Config{ModelDir: model, DisableReplica: true, Timeout: timeout, MaxConsecutiveTimeouts: 3})
	rec := randomRecords(1, 4)[0]
	if d, _ := h.p.Decide(ctxT(t), rec); d.Source != SourceModel {
		t.Fatalf("before SIGSTOP: %+v", d)
	}
	old := h.p.Health().PID
	if err := syscall.Kill(old, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	d, _ := h.p.Decide(ctxT(t), rec)
	if d.Source != SourceFallback || d.Reason != ReasonTimeout || !errors.Is(d.Err, ErrTimeout) {
		t.Fatalf("stopped child: %+v", d)
	}
	if el := time.Since(t0); el < timeout || el > timeout+300*time.Millisecond {
		t.Fatalf("fallback after %v, want about the %v timeout", el, timeout)
	}
	if _, err := h.p.Predict(rec); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Predict on a stopped child: err = %v, want ErrTimeout", err)
	}
	h.p.Approve(rec, 0.5) // third timeout in a row: the child is killed
	waitFor(t, 60*time.Second, "the hung sidecar replaced", func() bool {
		hl := h.p.Health()
		return hl.State == StateReady && hl.PID != old && hl.PID != 0
	})
	if _, err := os.Stat(filepath.Join("/proc", itoa(old))); err == nil {
		t.Errorf("stopped sidecar %d still exists", old)
	}
	if d, _ := h.p.Decide(ctxT(t), rec); d.Source != SourceModel {
		t.Fatalf("after restart: %+v", d)
	}
	hl := h.p.Health()
	if hl.Timeouts < 3 || hl.FallbacksByReason[ReasonTimeout] < 3 || hl.Restarts < 1 {
		t.Fatalf("health %+v", hl)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_restarts_total", map[string]string{"reason": "unresponsive"}); v < 1 {
		t.Errorf("restarts_total{reason=unresponsive} = %v", v)
	}
}

func TestReloadUnderLoadFailsNoRequest(t *testing.T) {
	a := tinyModel(t, "tiny-a", 1)
	b := tinyModel(t, "tiny-b", 2)
	dir := t.TempDir()
	cur := linkCurrent(t, dir, a)
	h := start(t, Config{ModelDir: cur, Timeout: 5 * time.Second})
	if v := h.p.ModelVersion(); v != "tiny-a" {
		t.Fatalf("ModelVersion = %q", v)
	}
	l := startLoad(t, h.p, 8, 5*time.Second)
	waitFor(t, 10*time.Second, "load", func() bool { return l.model.Load() > 200 })
	linkCurrent(t, dir, b)
	if err := h.p.Reload(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "tiny-b serving", func() bool { return h.p.ModelVersion() == "tiny-b" })
	n := l.model.Load()
	waitFor(t, 10*time.Second, "load after reload", func() bool { return l.model.Load() > n+200 })
	l.end()
	if f := l.fallback.Load(); f != 0 {
		t.Fatalf("%d requests fell back during the reload", f)
	}
	for _, v := range []string{"tiny-a", "tiny-b"} {
		if _, ok := l.versions.Load(v); !ok {
			t.Errorf("no answer from %s", v)
		}
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_model_info", map[string]string{"version": "tiny-b"}); v != 1 {
		t.Errorf("model_info{version=tiny-b} = %v", v)
	}
}

func TestCloseLeavesNoProcessBehind(t *testing.T) {
	h := start(t, Config{ModelDir: tinyModel(t, "tiny-a", 1)})
	pid := h.p.Health().PID
	if pid == 0 {
		t.Fatal("no pid")
	}
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	assertGroupGone(t, pid)
	if err := h.p.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	d, err := h.p.Decide(ctxT(t), []float32{0.5, 0.5, 0})
	if err != nil || d.Source != SourceFallback || d.Reason != ReasonClosed {
		t.Fatalf("after Close: %+v %v", d, err)
	}
	if _, err := h.p.Predict([]float32{0.5, 0.5, 0}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Predict after Close: %v", err)
	}
	if hl := h.p.Health(); hl.State != StateClosed || hl.PID != 0 {
		t.Fatalf("health after Close: %+v", hl)
	}
}

func TestCloseKillsTheWholeProcessGroupEvenIfSIGTERMIsIgnored(t *testing.T) {
	// A stubborn "sidecar": it handshakes without a model, ignores SIGTERM
	// and SIGHUP, and has a child of its own. Close must SIGKILL the whole
	// group after the grace period.
	e := needSidecar(t)
	script := `
import signal, subprocess, sys, time, msgpack
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
subprocess.Popen(["sleep", "60"])
sys.stdout.buffer.write(msgpack.packb([2, "ready", [{"protocol": 1, "pid": 0, "model": None, "error": "stub"}]]))
sys.stdout.flush()
time.sleep(60)
`
	h := start(t, Config{Command: []string{e.python, "-c", script}, ModelDir: t.TempDir(), KillGrace: 100 * time.Millisecond})
	if s := h.p.Health().State; s != StateNoModel {
		t.Fatalf("state %s, want %s", s, StateNoModel)
	}
	pid := h.p.Health().PID
	t0 := time.Now()
	h.p.Close()
	if el := time.Since(t0); el > 2*time.Second {
		t.Errorf("Close took %v with a 100ms grace", el)
	}
	assertGroupGone(t, pid)
	if !containsAll(h.log.String(), "sidecar ignored SIGTERM; sending SIGKILL") {
		t.Error("Close did not escalate to SIGKILL")
	}
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
	if err != nil || d.Source != SourceFallback || d.Reason != ReasonNoModel || !d.Approve {
		t.Fatalf("no model: %+v %v", d, err)
	}
	if _, err := h.p.Predict([]float32{0.8, 0.6, 0.1}); !errors.Is(err, ErrNoModel) {
		t.Fatalf("Predict with no model: %v", err)
	}
	linkCurrent(t, dir, a)
	waitFor(t, 30*time.Second, "the model picked up", func() bool { return h.p.ModelVersion() == "tiny-a" })
	if d, _ := h.p.Decide(ctxT(t), []float32{0.8, 0.6, 0.1}); d.Source != SourceModel {
		t.Fatalf("after the model appeared: %+v", d)
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
	if err != nil || d.Source != SourceFallback || d.Reason != ReasonChildDown || !d.Approve {
		t.Fatalf("%+v %v", d, err)
	}
	waitFor(t, 5*time.Second, "retries", func() bool { return h.p.Health().Restarts >= 3 })
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
		if !errors.Is(err, ErrInvalidInput) || d.Source != SourceFallback || d.Reason != ReasonBadInput {
			t.Errorf("Decide(%v) = %+v, %v", f, d, err)
		}
		h.p.Approve(f, 0.5)
	}
	// Approve falls back to the heuristic, which still judges a usable slice.
	if !h.p.Approve([]float32{0.9, 0.9, 0.1, 99}, 0.65) {
		t.Error("Approve on a too-long slice did not use the heuristic")
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
	waitFor(t, 5*time.Second, "the child's log line", func() bool {
		return containsAll(h.log.String(), `"component":"sigmagate.infer"`, `"msg":"model loaded"`, `"version":"tiny-a"`)
	})
}

func TestStartTimeoutKillsASilentChildAndRetries(t *testing.T) {
	h := start(t, Config{Command: []string{"sh", "-c", "sleep 60", "sh"}, ModelDir: t.TempDir(),
		StartTimeout: 150 * time.Millisecond})
	waitFor(t, 10*time.Second, "two start timeouts", func() bool {
		v, _ := metricValue(t, h.reg, "sigmagate_predictor_restarts_total", map[string]string{"reason": "start_timeout"})
		return v >= 2
	})
}

func TestGarbageOnStdoutIsAProtocolErrorAndRestarts(t *testing.T) {
	h := start(t, Config{Command: []string{"sh", "-c", "echo 'hello from a library'; sleep 60", "sh"}, ModelDir: t.TempDir()})
	waitFor(t, 10*time.Second, "a protocol restart", func() bool {
		v, _ := metricValue(t, h.reg, "sigmagate_predictor_restarts_total", map[string]string{"reason": "protocol"})
		return v >= 1
	})
	if !containsAll(h.log.String(), "only protocol bytes may go to its stdout") && !containsAll(h.log.String(), "is something printing") {
		t.Fatalf("log does not explain the protocol error:\n%s", h.log.String())
	}
}
