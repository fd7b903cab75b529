//go:build unix

// POSIX only: the sidecar is hung and killed with POSIX signals.

package predictor

import (
	"bytes"
	"context"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/testutil"
	"github.com/sigmagate/sigmagate/go/manifest"
)

// replicaModel builds one model of tests/fixtures/replica_model.py (train's
// own export) for the family and returns its directory.
func replicaModel(t *testing.T, family string) string {
	t.Helper()
	e := needSidecar(t)
	cmd := exec.Command(e.python, filepath.Join(e.root, "tests", "fixtures", "replica_model.py"),
		"--out", t.TempDir(), "--family", family)
	cmd.Dir = e.root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("replica_model.py: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func waitReplica(t *testing.T, h *harness, version string) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, "the replica of "+version+" verified", func() bool {
		return h.p.Health().Replica.Version == version
	})
}

// sidecarDownUnderLoad runs 64 goroutines of decisions, sends sig to the
// sidecar, and checks that every decision is answered, that the ones the
// sidecar could not answer came from the replica, and that the replica gave
// exactly the probability the sidecar gave for the same record before.
func sidecarDownUnderLoad(t *testing.T, sig syscall.Signal, timeout time.Duration) {
	model := tinyModel(t, "tiny-a", 1)
	h := start(t, Config{ModelDir: model, Timeout: timeout})
	waitReplica(t, h, "tiny-a")
	recs := randomRecords(64, 7)
	want := make([]float64, len(recs))
	for i, r := range recs {
		d, err := h.p.Decide(ctxT(t), r)
		if err != nil || d.Source != SourceModel {
			t.Fatalf("before %v: %+v, %v", sig, d, err)
		}
		want[i] = d.Probability
	}
	var model_, repl, heur, wrong atomic.Int64
	var reasons sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				i := (g + k) % len(recs)
				d, err := h.p.Decide(context.Background(), recs[i])
				if err != nil {
					t.Errorf("Decide: %v", err)
					return
				}
				switch d.Source {
				case SourceModel:
					model_.Add(1)
				case SourceReplica:
					repl.Add(1)
					reasons.Store(d.Reason, true)
					if d.ModelVersion != "tiny-a" {
						t.Errorf("replica answered as version %q", d.ModelVersion)
					}
				default:
					heur.Add(1)
					reasons.Store("heuristic:"+d.Reason, true)
				}
				if math.Abs(d.Probability-want[i]) > 1e-6 {
					if wrong.Add(1) <= 3 {
						t.Errorf("record %d: %s answered %v, the sidecar said %v before", i, d.Source, d.Probability, want[i])
					}
				}
				if d.Source != SourceModel {
					time.Sleep(time.Millisecond) // instant answers: leave the CPU to the restart
				}
			}
		}(g)
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	testutil.WaitFor(t, 10*time.Second, "model answers under load", func() bool { return model_.Load() > 200 })
	old := h.p.Health().PID
	if err := syscall.Kill(old, sig); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "replica answers while the sidecar is down", func() bool { return repl.Load() > 200 })
	testutil.WaitFor(t, 60*time.Second, "a new sidecar", func() bool {
		hl := h.p.Health()
		return hl.State == StateReady && hl.PID != old && hl.PID != 0
	})
	before := model_.Load()
	testutil.WaitFor(t, 10*time.Second, "model answers after the restart", func() bool { return model_.Load() > before+100 })
	close(stop)
	wg.Wait()
	if n := heur.Load(); n > 0 {
		var rs []string
		reasons.Range(func(k, _ any) bool { rs = append(rs, k.(string)); return true })
		t.Errorf("%d decisions came from the heuristic (reasons %v); a verified replica was there", n, rs)
	}
	hl := h.p.Health()
	if hl.ReplicaAnswers == 0 || hl.Fallbacks != 0 {
		t.Errorf("health: %d replica answers, %d heuristic", hl.ReplicaAnswers, hl.Fallbacks)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_predictions_total", map[string]string{"source": "replica"}); v < 200 {
		t.Errorf("predictions_total{source=replica} = %v", v)
	}
	t.Logf("%v: %d model, %d replica, %d heuristic answers", sig, model_.Load(), repl.Load(), heur.Load())
}

func TestSidecarKilledUnderLoadReplicaAnswersWithTheSidecarsProbabilities(t *testing.T) {
	sidecarDownUnderLoad(t, syscall.SIGKILL, 300*time.Millisecond)
	// (the reasons are child_down: the replica answered instantly, no timeout)
}

func TestSidecarStoppedUnderLoadReplicaAnswersWithTheSidecarsProbabilities(t *testing.T) {
	sidecarDownUnderLoad(t, syscall.SIGSTOP, 100*time.Millisecond)
}

func TestReplicaDisagreeingWithTheSidecarIsRefusedAndTheSidecarKeepsServing(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	h := start(t, Config{ModelDir: model, Timeout: 300 * time.Millisecond,
		corruptReplicaCheck: func(_ string, p []float64) { p[len(p)/2] += 1e-5 }})
	testutil.WaitFor(t, 30*time.Second, "the replica check to fail", func() bool {
		return strings.Contains(h.p.Health().Replica.Why, "disagrees with the sidecar")
	})
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_replica_checks_total", map[string]string{"result": "mismatch"}); v != 1 {
		t.Errorf("replica_checks_total{result=mismatch} = %v, want 1", v)
	}
	if !strings.Contains(h.log.String(), "replica REFUSED") {
		t.Error("no error log line for the refused replica")
	}
	rec := randomRecords(1, 9)[0]
	if d, err := h.p.Decide(ctxT(t), rec); err != nil || d.Source != SourceModel {
		t.Fatalf("the sidecar should keep serving: %+v, %v", d, err)
	}
	if err := syscall.Kill(h.p.Health().PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the sidecar seen down", func() bool { return h.p.Health().State != StateReady })
	if d, _ := h.p.Decide(ctxT(t), rec); d.Source != SourceHeuristic {
		t.Fatalf("with no verified replica the heuristic answers, got %+v", d)
	}
}

func TestMLPModelHasNoReplicaAndFallsBackToTheHeuristic(t *testing.T) {
	dir := replicaModel(t, "mlp")
	h := start(t, Config{ModelDir: dir, Timeout: 300 * time.Millisecond})
	testutil.WaitFor(t, 30*time.Second, "the replica refused", func() bool {
		return strings.Contains(h.p.Health().Replica.Why, "no TreeEnsemble")
	})
	if !strings.Contains(h.log.String(), "no replica for this model") {
		t.Error("the reason is not logged")
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_replica_checks_total", map[string]string{"result": "unsupported"}); v != 1 {
		t.Errorf("replica_checks_total{result=unsupported} = %v, want 1", v)
	}
	if err := syscall.Kill(h.p.Health().PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the sidecar seen down", func() bool { return h.p.Health().State != StateReady })
	if d, _ := h.p.Decide(ctxT(t), []float32{0.8, 0.6, 0.1}); d.Source != SourceHeuristic || d.Reason != ReasonChildDown {
		t.Fatalf("MLP with the sidecar down: %+v, want the heuristic", d)
	}
}

func TestNativeModeAnswersFromTheReplicaAndTheSidecarAgreesOnSamples(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	h := start(t, Config{ModelDir: model, Mode: ModeReplica, ReplicaSampleEvery: 10})
	waitReplica(t, h, "tiny-a")
	recs := randomRecords(50, 11)
	for _, r := range recs {
		d, err := h.p.Decide(ctxT(t), r)
		if err != nil || d.Source != SourceReplica || d.Reason != "" || d.ModelVersion != "tiny-a" {
			t.Fatalf("native decision: %+v, %v", d, err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "samples confirmed on the sidecar", func() bool {
		v, _ := metricValue(t, h.reg, "sigmagate_predictor_replica_samples_total", nil)
		return v >= 3
	})
	if rs := h.p.Health().Replica; !rs.Native {
		t.Fatalf("native mode left: %+v", rs)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_replica_answers_total", map[string]string{"reason": "native"}); v != 50 {
		t.Errorf("replica_answers_total{reason=native} = %v, want 50", v)
	}
	// A closed gate approves nothing, in native mode too.
	h.p.Close()
	for _, r := range recs {
		if d, err := h.p.Decide(ctxT(t), r); err != nil || d.Source != SourceReject || d.Approve || d.Reason != ReasonClosed {
			t.Fatalf("native mode after Close: %+v, %v", d, err)
		}
	}
}

// In native mode the shadow scores the features the bot passed, even when
// the bot reuses its buffer once Decide returns.
func TestNativeModesShadowScoresTheFeaturesNotTheReusedBuffer(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	link, _ := shadowDir(t, model) // the live model as its own shadow: every answer agrees
	h := start(t, Config{ModelDir: model, Mode: ModeReplica, ShadowModelDir: link, Shadow: ShadowConfig{Poll: 50 * time.Millisecond}})
	waitReplica(t, h, "tiny-a")
	testutil.WaitFor(t, 60*time.Second, "the shadow model to serve", func() bool { return h.p.Health().Shadow.ModelVersion == "tiny-a" })
	recs := randomRecords(300, 5)
	buf := make([]float32, 3)
	nan := float32(math.NaN())
	for _, r := range recs {
		copy(buf, r)
		if d, err := h.p.Decide(ctxT(t), buf); err != nil || d.Source != SourceReplica {
			t.Fatalf("native decision %+v, %v", d, err)
		}
		buf[0], buf[1], buf[2] = nan, nan, nan // the bot's next use of its buffer
	}
	testutil.WaitFor(t, 30*time.Second, "the shadow to score every decision", func() bool {
		s := h.p.Health().Shadow
		return s.Decisions+s.Dropped+s.ShadowFallbacks >= uint64(len(recs))
	})
	if s := h.p.Health().Shadow; s.Decisions != uint64(len(recs)) || s.Agreements != s.Decisions || s.MaxAbsPDiff > 1e-5 {
		t.Fatalf("shadow of the live model itself: %+v", s)
	}
}

func TestReplicaFollowsAReloadOnlyOnceTheNewVersionServesAndPasses(t *testing.T) {
	a := tinyModel(t, "tiny-a", 1)
	b := tinyModel(t, "tiny-b", 2)
	dir := t.TempDir()
	cur := linkCurrent(t, dir, a)
	h := start(t, Config{ModelDir: cur})
	waitReplica(t, h, "tiny-a")
	linkCurrent(t, dir, b)
	if err := h.p.Reload(); err != nil {
		t.Fatal(err)
	}
	waitReplica(t, h, "tiny-b")
	if v := h.p.ModelVersion(); v != "tiny-b" {
		t.Fatalf("replica tiny-b verified while the sidecar serves %q", v)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_replica_checks_total", map[string]string{"result": "passed"}); v != 2 {
		t.Errorf("replica_checks_total{result=passed} = %v, want 2", v)
	}
}

func TestNativeModeLeavesForTheSidecarOnASampleDisagreement(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	h := start(t, Config{ModelDir: model, Mode: ModeReplica, ReplicaSampleEvery: 1,
		corruptReplicaCheck: func(phase string, p []float64) {
			if phase == "sample" {
				p[0] += 1e-3
			}
		}})
	waitReplica(t, h, "tiny-a")
	rec := randomRecords(1, 12)[0]
	if d, _ := h.p.Decide(ctxT(t), rec); d.Source != SourceReplica {
		t.Fatalf("before the disagreement: %+v", d)
	}
	testutil.WaitFor(t, 10*time.Second, "native mode left", func() bool { return !h.p.Health().Replica.Native })
	if !strings.Contains(h.log.String(), "REPLICA DISAGREES WITH THE SIDECAR") {
		t.Error("no loud log line for the disagreement")
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_replica_sample_mismatches_total", nil); v != 1 {
		t.Errorf("replica_sample_mismatches_total = %v, want 1", v)
	}
	if d, err := h.p.Decide(ctxT(t), rec); err != nil || d.Source != SourceModel {
		t.Fatalf("after the disagreement the sidecar answers: %+v, %v", d, err)
	}
	if why := h.p.Health().Replica.Why; !strings.Contains(why, "native mode left") {
		t.Errorf("Health().Replica.Why = %q", why)
	}
}

// In ModeReplica no decision waits on the sidecar, so only the background
// re-scoring sees it hang: a bot that decided once and then went quiet still
// gets its hung sidecar killed and restarted, while the replica answers.
func TestNativeModeFindsAndRestartsAHungSidecar(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	h := start(t, Config{ModelDir: model, Mode: ModeReplica, Timeout: 300 * time.Millisecond,
		replicaProbeEvery: 100 * time.Millisecond})
	waitReplica(t, h, "tiny-a")
	rec := randomRecords(1, 13)[0]
	if d, _ := h.p.Decide(ctxT(t), rec); d.Source != SourceReplica {
		t.Fatalf("native decision: %+v", d)
	}
	testutil.WaitFor(t, 10*time.Second, "the first decision confirmed on the sidecar", func() bool {
		v, _ := metricValue(t, h.reg, "sigmagate_predictor_replica_samples_total", nil)
		return v >= 1
	})
	old := h.p.Health().PID
	if err := syscall.Kill(old, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if d, _ := h.p.Decide(ctxT(t), rec); d.Source != SourceReplica || time.Since(t0) > 50*time.Millisecond {
		t.Fatalf("decision on a stopped sidecar: %+v after %v", d, time.Since(t0))
	}
	testutil.WaitFor(t, 30*time.Second, "the hung sidecar replaced", func() bool {
		hl := h.p.Health()
		return hl.State == StateReady && hl.PID != old && hl.PID != 0
	})
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_restarts_total", map[string]string{"reason": "unresponsive"}); v < 1 {
		t.Errorf("restarts_total{reason=unresponsive} = %v", v)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_timeouts_total", nil); v < float64(DefaultMaxConsecutiveTimeouts) {
		t.Errorf("timeouts_total = %v, want at least %d", v, DefaultMaxConsecutiveTimeouts)
	}
}

// The replica flags a record outside the training range as the sidecar does:
// a bot that skips such trades keeps that protection in ModeReplica and on
// hedged answers.
func TestReplicaAnswersCarryTheOutOfDistributionFlagAsTheSidecarsDo(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	m, err := manifest.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	inside := make([]float32, len(m.Features))
	for i, f := range m.Features {
		inside[i] = float32(m.FeatureStats[f].Mean)
	}
	outside := slices.Clone(inside)
	outside[0] = float32(m.FeatureStats[m.Features[0]].Max + 1)
	side := start(t, Config{ModelDir: model, HedgeDelay: -1})
	native := start(t, Config{ModelDir: model, Mode: ModeReplica})
	waitReplica(t, native, "tiny-a")
	for _, c := range []struct {
		rec  []float32
		want bool
	}{{inside, false}, {outside, true}, {[]float32{1e38, 1e38, 1e38}, true}} {
		s, err := side.p.Decide(ctxT(t), c.rec)
		if err != nil || s.Source != SourceModel || s.OutOfDistribution != c.want {
			t.Fatalf("sidecar on %v: %+v, %v; want OutOfDistribution %v", c.rec, s, err, c.want)
		}
		r, err := native.p.Decide(ctxT(t), c.rec)
		if err != nil || r.Source != SourceReplica || r.OutOfDistribution != c.want {
			t.Fatalf("replica on %v: %+v, %v; want OutOfDistribution %v", c.rec, r, err, c.want)
		}
	}
}

// A check that failed only because the sidecar did not score the check
// vectors (a stall) is tried again: otherwise every later stall would cost
// decisions the whole Timeout and the heuristic's answer.
func TestAReplicaCheckTheSidecarStalledIsTriedAgain(t *testing.T) {
	var stalls atomic.Int32
	stalls.Store(2)
	cfg := Config{ModelDir: tinyModel(t, "tiny-a", 1)}
	cfg.stallReplicaCheck = func() error {
		if stalls.Add(-1) >= 0 {
			return context.DeadlineExceeded
		}
		return nil
	}
	h := start(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "a failed check", func() bool {
		return strings.Contains(h.p.Health().Replica.Why, "checking again in")
	})
	waitReplica(t, h, "tiny-a")
	for result, want := range map[string]float64{"error": 2, "passed": 1} {
		if v, _ := metricValue(t, h.reg, "sigmagate_predictor_replica_checks_total", map[string]string{"result": result}); v != want {
			t.Errorf("replica_checks_total{result=%s} = %v, want %v", result, v, want)
		}
	}
}

// While a reload's replica is not yet verified (here its check keeps
// stalling) the served version has no replica to hedge with, and the
// previous version's is withdrawn: a stalled sidecar still costs a decision
// only the hedge delay, answered by the fallback, not Timeout.
func TestAStalledSidecarDuringAReloadsReplicaCheckCostsTheHedgeDelay(t *testing.T) {
	a := tinyModel(t, "tiny-a", 1)
	b := tinyModel(t, "tiny-b", 2)
	dir := t.TempDir()
	cur := linkCurrent(t, dir, a)
	var stall atomic.Bool
	cfg := Config{ModelDir: cur, Timeout: 2 * time.Second, HedgeDelay: 5 * time.Millisecond}
	cfg.stallReplicaCheck = func() error {
		if stall.Load() {
			return context.DeadlineExceeded
		}
		return nil
	}
	h := start(t, cfg)
	waitReplica(t, h, "tiny-a")
	stall.Store(true)
	linkCurrent(t, dir, b)
	if err := h.p.Reload(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "tiny-b's replica check stalled", func() bool {
		return h.p.ModelVersion() == "tiny-b" && strings.Contains(h.p.Health().Replica.Why, "checking again in")
	})
	if err := syscall.Kill(h.p.Health().PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(h.p.Health().PID, syscall.SIGCONT) }()
	rec := randomRecords(1, 14)[0]
	t0 := time.Now()
	d, _ := h.p.Decide(ctxT(t), rec)
	if el := time.Since(t0); el > 500*time.Millisecond || d.Reason != ReasonSlow || d.Source != SourceHeuristic {
		t.Fatalf("decision on a stalled sidecar while tiny-b's replica is unverified: %+v after %v", d, el)
	}
	if s := h.p.Health().Hedge; s.FallbackFirst != 1 || s.ReplicaFirst != 0 {
		t.Errorf("hedge status %+v: want the decision counted as fallback_first", s)
	}
}
