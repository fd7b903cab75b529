//go:build unix

// POSIX only: the sidecar is hung with POSIX signals (SIGSTOP, SIGCONT).

package predictor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/testutil"
)

func TestAdaptiveHedgeDelayIsAMultipleOfTheP99WithinFloorAndCap(t *testing.T) {
	for _, c := range []struct{ p99, want time.Duration }{
		{0, HedgeDelayFloor},
		{100 * time.Microsecond, HedgeDelayFloor},
		{time.Millisecond, 4 * time.Millisecond},
		{3 * time.Millisecond, 12 * time.Millisecond},
		{time.Second, HedgeDelayCap},
	} {
		if got := hedgeDelayFor(c.p99); got != c.want {
			t.Errorf("hedgeDelayFor(%v) = %v, want %v", c.p99, got, c.want)
		}
	}
	if HedgeDelayCap >= 100*time.Millisecond || HedgeDelayFloor >= HedgeDelayCap {
		t.Fatalf("floor %v, cap %v", HedgeDelayFloor, HedgeDelayCap)
	}
}

func TestHedgeDelayFollowsTheRecentLatencies(t *testing.T) {
	cfg, err := Config{ModelDir: "m"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	h := newHedger(&cfg)
	if h.current() != HedgeDelayCap {
		t.Fatalf("before any latency the delay is %v, want the cap", h.current())
	}
	// 0.6 % at 3 ms, the rest at 1 ms: p99 = 1 ms (nearest rank), delay 4 ms.
	for i := range latencyRing {
		d := time.Millisecond
		if i%200 == 0 {
			d = 3 * time.Millisecond
		}
		h.observe(d)
	}
	if len(h.kick) != 1 {
		t.Fatal("a full ring did not ask for a recompute")
	}
	<-h.kick
	h.recompute(nil)
	if h.current() != 4*time.Millisecond {
		t.Fatalf("delay %v, want 4ms", h.current())
	}
	fixed, _ := Config{ModelDir: "m", HedgeDelay: 7 * time.Millisecond}.withDefaults()
	if h := newHedger(&fixed); h.current() != 7*time.Millisecond {
		t.Fatalf("fixed delay %v", h.current())
	}
	off, _ := Config{ModelDir: "m", HedgeDelay: -1}.withDefaults()
	if h := newHedger(&off); h.current() != 0 || !h.off {
		t.Fatalf("negative HedgeDelay: delay %v off %v", h.current(), h.off)
	}
	if _, err := (Config{ModelDir: "m", HedgeDelay: time.Second, Timeout: time.Second}).withDefaults(); err == nil {
		t.Fatal("HedgeDelay >= Timeout accepted")
	}
}

// stopUnderLoad runs 64 goroutines of decisions against a sidecar, SIGSTOPs
// it for stop, SIGCONTs it, and returns every decision's latency while it
// was stopped and counts by source.
type stopRun struct {
	lat                []time.Duration // decisions made while the sidecar was stopped
	model, repl, heur  int64
	maxLatency         time.Duration
	pid, pidAfter      int
	reasonsNotSlow     []string // source/reason of answers not the model's for another reason than slow
	restarts, timeouts uint64
}

func stopUnderLoad(t testing.TB, p *Predictor, stop time.Duration) stopRun {
	recs := randomRecords(64, 11)
	var model, repl, heur atomic.Int64
	var stopped atomic.Bool
	var mu sync.Mutex
	var run stopRun
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var mine []time.Duration
			var reasons []string
			defer func() {
				mu.Lock()
				run.lat = append(run.lat, mine...)
				run.reasonsNotSlow = append(run.reasonsNotSlow, reasons...)
				mu.Unlock()
			}()
			for k := 0; ; k++ {
				select {
				case <-done:
					return
				default:
				}
				t0 := time.Now()
				d, err := p.Decide(context.Background(), recs[(g+k)%len(recs)])
				el := time.Since(t0)
				if err != nil {
					t.Errorf("Decide: %v", err)
					return
				}
				switch d.Source {
				case SourceModel:
					model.Add(1)
				case SourceReplica:
					repl.Add(1)
				default:
					heur.Add(1)
				}
				if d.Source != SourceModel && d.Reason != ReasonSlow && len(reasons) < 3 {
					reasons = append(reasons, string(d.Source)+"/"+d.Reason)
				}
				if stopped.Load() {
					mine = append(mine, el)
				}
				if d.Source != SourceModel {
					// Paced like a bot: instant replica answers in a tight loop
					// would measure the test's own CPU saturation (64 runnable
					// goroutines on 2 cores), not the predictor.
					time.Sleep(time.Millisecond)
				}
			}
		}(g)
	}
	testutil.WaitFor(t, 10*time.Second, "model answers under load", func() bool { return model.Load() > 2000 })
	run.pid = p.Health().PID
	before := p.Health()
	if err := syscall.Kill(run.pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped.Store(true)
	time.Sleep(stop)
	stopped.Store(false)
	if err := syscall.Kill(run.pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	m0 := model.Load()
	testutil.WaitFor(t, 10*time.Second, "model answers after SIGCONT", func() bool { return model.Load() > m0+2000 })
	close(done)
	wg.Wait()
	after := p.Health()
	run.model, run.repl, run.heur = model.Load(), repl.Load(), heur.Load()
	run.pidAfter = after.PID
	run.restarts, run.timeouts = after.Restarts-before.Restarts, after.Timeouts-before.Timeouts
	slices.Sort(run.lat)
	if len(run.lat) > 0 {
		run.maxLatency = run.lat[len(run.lat)-1]
	}
	return run
}

func TestSidecarStoppedThreeSecondsHedgesEveryDecisionWithinTheDelay(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	h := start(t, Config{ModelDir: model}) // the default 5 s Timeout
	waitReplica(t, h, "tiny-a")
	run := stopUnderLoad(t, h.p, 3*time.Second)
	hl := h.p.Health()
	t.Logf("SIGSTOP 3s, 64 goroutines: %d decisions while stopped, max %v, p99 %v; %d model, %d replica, %d heuristic; hedge %+v",
		len(run.lat), run.maxLatency, pct(run.lat, 0.99), run.model, run.repl, run.heur, hl.Hedge)
	if len(run.lat) < 1000 {
		t.Fatalf("only %d decisions while the sidecar was stopped", len(run.lat))
	}
	if run.maxLatency > 100*time.Millisecond {
		t.Errorf("a decision took %v while the sidecar was stopped; the hedge delay is %v", run.maxLatency, hl.Hedge.Delay)
	}
	if run.heur != 0 || hl.Fallbacks != 0 {
		t.Errorf("%d heuristic decisions (health %d) with a verified replica", run.heur, hl.Fallbacks)
	}
	if len(run.reasonsNotSlow) > 0 {
		t.Errorf("answers not the model's with reasons %v, want only %q", run.reasonsNotSlow, ReasonSlow)
	}
	if run.pidAfter != run.pid || run.restarts != 0 || run.timeouts != 0 {
		t.Errorf("a 3 s stop under a 5 s Timeout: pid %d→%d, %d restarts, %d timeouts", run.pid, run.pidAfter, run.restarts, run.timeouts)
	}
	// Every hedged call is answered once the sidecar resumes, and agrees.
	testutil.WaitFor(t, 10*time.Second, "every hedged call answered late", func() bool {
		s := h.p.Health().Hedge
		return s.LateAgree+s.LateDisagree+s.Unanswered >= s.ReplicaFirst
	})
	s := h.p.Health().Hedge
	if s.ReplicaFirst < 1000 || s.LateAgree < s.ReplicaFirst || s.LateDisagree != 0 || s.Unanswered != 0 || s.MaxAbsDP > 1e-6 {
		t.Errorf("hedge status %+v: want every late answer to agree", s)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_hedge_late_total", map[string]string{"agree": "true"}); v != float64(s.LateAgree) || v == 0 {
		t.Errorf("hedge_late_total{agree=true} = %v, health %d", v, s.LateAgree)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_hedge_total", map[string]string{"outcome": "replica_first"}); v != float64(s.ReplicaFirst) {
		t.Errorf("hedge_total{outcome=replica_first} = %v, health %d", v, s.ReplicaFirst)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_hedge_total", map[string]string{"outcome": "sidecar_first"}); v < 2000 {
		t.Errorf("hedge_total{outcome=sidecar_first} = %v", v)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_replica_answers_total", map[string]string{"reason": ReasonSlow}); v != float64(s.ReplicaFirst+s.Skipped) {
		t.Errorf("replica_answers_total{reason=slow} = %v, health %d hedged + %d skipped", v, s.ReplicaFirst, s.Skipped)
	}
	// A 3 s stop at 64 goroutines owes the sidecar more than MaxBatch ×
	// MaxInFlight hedged answers: past that the replica answers at once.
	if s.Skipped == 0 {
		t.Errorf("no decision skipped the stopped sidecar: %+v", s)
	}
}

// With no replica to hedge with (DisableReplica here; an MLP, or a reload
// whose replica is still being verified) a stopped sidecar costs a decision
// the hedge delay too: the fallback answers then, not after Timeout.
func TestSidecarStoppedWithNoReplicaTakesTheFallbackWithinTheDelay(t *testing.T) {
	h := start(t, Config{ModelDir: tinyModel(t, "tiny-a", 1), DisableReplica: true}) // the default 5 s Timeout
	run := stopUnderLoad(t, h.p, 3*time.Second)
	hl := h.p.Health()
	t.Logf("SIGSTOP 3s, no replica, 64 goroutines: %d decisions while stopped, max %v, p99 %v; %d model, %d heuristic; hedge %+v",
		len(run.lat), run.maxLatency, pct(run.lat, 0.99), run.model, run.heur, hl.Hedge)
	if len(run.lat) < 1000 {
		t.Fatalf("only %d decisions while the sidecar was stopped", len(run.lat))
	}
	if run.maxLatency > 100*time.Millisecond {
		t.Errorf("a decision took %v while the sidecar was stopped; the hedge delay is %v", run.maxLatency, hl.Hedge.Delay)
	}
	if run.repl != 0 || run.heur == 0 || len(run.reasonsNotSlow) > 0 {
		t.Errorf("%d replica and %d heuristic answers, other reasons %v: want the heuristic, reason %q", run.repl, run.heur, run.reasonsNotSlow, ReasonSlow)
	}
	if run.pidAfter != run.pid || run.restarts != 0 || run.timeouts != 0 {
		t.Errorf("a 3 s stop under a 5 s Timeout: pid %d→%d, %d restarts, %d timeouts", run.pid, run.pidAfter, run.restarts, run.timeouts)
	}
	s := hl.Hedge
	if s.FallbackFirst == 0 || s.Skipped == 0 || s.ReplicaFirst != 0 || s.LateAgree+s.LateDisagree != 0 {
		t.Errorf("hedge status %+v: want fallback_first and skipped, nothing compared with a replica", s)
	}
	if n := hl.FallbacksByReason[ReasonSlow]; n != s.FallbackFirst+s.Skipped {
		t.Errorf("fallbacks with reason slow %d, want fallback_first %d + skipped %d", n, s.FallbackFirst, s.Skipped)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_hedge_total", map[string]string{"outcome": "fallback_first"}); v != float64(s.FallbackFirst) {
		t.Errorf("hedge_total{outcome=fallback_first} = %v, health %d", v, s.FallbackFirst)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_fallbacks_total", map[string]string{"reason": ReasonSlow}); v != float64(hl.FallbacksByReason[ReasonSlow]) {
		t.Errorf("fallbacks_total{reason=slow} = %v, health %d", v, hl.FallbacksByReason[ReasonSlow])
	}
}

func TestHedgedCallsNeverAnsweredStillKillTheHungSidecar(t *testing.T) {
	for _, replica := range []bool{true, false} {
		t.Run(fmt.Sprintf("replica=%v", replica), func(t *testing.T) {
			model := tinyModel(t, "tiny-a", 1)
			const timeout = 300 * time.Millisecond
			h := start(t, Config{ModelDir: model, Timeout: timeout, HedgeDelay: 5 * time.Millisecond, DisableReplica: !replica})
			want := SourceHeuristic
			if replica {
				want = SourceReplica
				waitReplica(t, h, "tiny-a")
			}
			rec := randomRecords(1, 4)[0]
			old := stopAfterAModelAnswer(t, h, rec)
			for i := 0; i < 3; i++ { // one caller, never waiting more than the delay
				t0 := time.Now()
				d, _ := h.p.Decide(ctxT(t), rec)
				if d.Source != want || d.Reason != ReasonSlow || !errors.Is(d.Err, ErrSlow) || time.Since(t0) > 50*time.Millisecond {
					t.Fatalf("decision %d on a stopped sidecar: %+v after %v", i, d, time.Since(t0))
				}
			}
			testutil.WaitFor(t, 60*time.Second, "the hung sidecar replaced", func() bool {
				hl := h.p.Health()
				return hl.State == StateReady && hl.PID != old && hl.PID != 0
			})
			if v, _ := metricValue(t, h.reg, "sigmagate_predictor_restarts_total", map[string]string{"reason": "unresponsive"}); v < 1 {
				t.Errorf("restarts_total{reason=unresponsive} = %v", v)
			}
			// Each call is counted once, by the deadline that gave up on it, not
			// again when the killed session fails it.
			s := h.p.Health()
			if s.Hedge.Unanswered != 3 || s.Timeouts < 3 || (s.Fallbacks != 0) == replica {
				t.Errorf("health after the kill: %+v", s)
			}
			if o := h.p.h.outstanding.Load(); o != 0 {
				t.Errorf("%d hedged calls still counted outstanding after the kill, want 0", o)
			}
		})
	}
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// BenchmarkDecideDuringSidecarStop reports the decision latency at 64
// goroutines while the sidecar is SIGSTOPped for 3 s, with hedging (the
// default) and without it (HedgeDelay < 0, so the replica answers only at
// the Timeout, here 200 ms). Runs under `make bench` only.
func BenchmarkDecideDuringSidecarStop(b *testing.B) {
	for _, hedge := range []time.Duration{0, -1} {
		b.Run(fmt.Sprintf("hedge=%v", hedge >= 0), func(b *testing.B) {
			e := needSidecar(b)
			p, err := New(context.Background(), Config{
				Command: []string{e.python, "-m", "infer"}, Dir: e.root, ModelDir: tinyModel(b, "tiny-a", 1),
				Logger: discardLogger(), HedgeDelay: hedge, Timeout: 200 * time.Millisecond, MaxConsecutiveTimeouts: 1 << 30,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			testutil.WaitFor(b, 30*time.Second, "the replica verified", func() bool { return p.Health().Replica.Version != "" })
			for i := 0; i < b.N; i++ {
				run := stopUnderLoad(b, p, 3*time.Second)
				b.ReportMetric(float64(pct(run.lat, 0.99).Microseconds()), "p99-µs")
				b.ReportMetric(float64(pct(run.lat, 0.999).Microseconds()), "p99.9-µs")
				b.ReportMetric(float64(run.maxLatency.Microseconds()), "max-µs")
				b.ReportMetric(float64(run.heur), "heuristic")
			}
		})
	}
}

// Hedging is off only when asked for: with no replica the fallback is what
// a hedged decision gets, so a delay is in force all the same.
func TestHedgeDelayIsZeroOnlyWhenHedgingIsOff(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want bool // a delay is in force
	}{
		{Config{}, true}, {Config{HedgeDelay: 5 * time.Millisecond}, true},
		{Config{DisableReplica: true}, true}, {Config{DisableReplica: true, HedgeDelay: 5 * time.Millisecond}, true},
		{Config{HedgeDelay: -1}, false}, {Config{DisableReplica: true, HedgeDelay: -1}, false},
	} {
		if got := newHedger(&c.cfg).status().Delay; (got > 0) != c.want {
			t.Errorf("%+v: Delay %v, want in force %v", c.cfg, got, c.want)
		}
	}
}
