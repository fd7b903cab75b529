//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigmagate/sigmagate/go/predictor"
)

// pipeLimits gives gatebench's own client the predictor's batching and
// pipelining limits, so that the echo floor is driven exactly as sigmagate is.
var pipeLimits = limits{maxBatch: predictor.DefaultMaxBatch, maxInFlight: predictor.DefaultMaxInFlight}

// sigmagateTarget is sigmagate as the bot uses it: predictor → infer.
type sigmagateTarget struct {
	p        *predictor.Predictor
	reg      *prometheus.Registry
	newTook  time.Duration
	versions sync.Map // model version → *atomic.Int64 answers
	// wantFallback: every answer is expected from the fallback (no sidecar).
	wantFallback bool
	// wantReplica: every answer is expected from the in-process replica.
	wantReplica bool
}

func newPredictor(ctx context.Context, cfg predictor.Config, logw io.Writer) (*sigmagateTarget, error) {
	cfg.Logger = slog.New(slog.NewJSONHandler(logw, nil))
	// The predictor's own metrics registry: its batch-size histogram gives the mean batch.
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	start := time.Now()
	p, err := predictor.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("predictor.New: %w", err)
	}
	return &sigmagateTarget{p: p, reg: reg, newTook: time.Since(start)}, nil
}

// batchStats reads the records and batches the predictor has sent from its
// sigmagate_predictor_batch_size histogram (sum = records, count = batches).
func (s *sigmagateTarget) batchStats() (records, batches int64) {
	mfs, err := s.reg.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		if mf.GetName() != "sigmagate_predictor_batch_size" {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			records += int64(h.GetSampleSum())
			batches += int64(h.GetSampleCount())
		}
	}
	return records, batches
}

func newSigmagateTarget(ctx context.Context, o *options, model string, logw io.Writer) (*sigmagateTarget, error) {
	cfg := predictor.Config{
		Command:  []string{o.python, "-m", "infer"},
		Dir:      o.root,
		ModelDir: model,

		MaxInFlight: o.maxInFlight,
		ReadSpin:    o.readSpin,
	}
	t, err := newPredictor(ctx, cfg, logw)
	if err != nil {
		return nil, err
	}
	if h := t.p.Health(); h.State != predictor.StateReady {
		_ = t.p.Close()
		return nil, fmt.Errorf("sidecar not ready after predictor.New (state %s: %s)", h.State, h.LastError)
	}
	return t, nil
}

// newFallbackTarget is a predictor whose sidecar cannot start (its Python does
// not exist), so every decision comes from the fallback heuristic through the
// same public Decide path the bot calls: what the bot pays with no model.
func newFallbackTarget(ctx context.Context, o *options, logw io.Writer) (*sigmagateTarget, error) {
	cfg := predictor.Config{
		Command:      []string{filepath.Join(o.root, "build", "bench", "no-such-python")},
		Dir:          o.root,
		ModelDir:     o.model,
		StartTimeout: 200 * time.Millisecond,
	}
	t, err := newPredictor(ctx, cfg, logw)
	if err != nil {
		return nil, err
	}
	t.wantFallback = true
	return t, nil
}

func (s *sigmagateTarget) pid() int { return s.p.Health().PID }

func (s *sigmagateTarget) call(ctx context.Context, rec []float32) error {
	d, err := s.p.Decide(ctx, rec)
	if err != nil {
		return err
	}
	if s.wantReplica && d.Source != predictor.SourceReplica {
		return fmt.Errorf("expected a replica decision, got one from %s (%s)", d.Source, d.Reason)
	}
	if s.wantFallback {
		if d.Source != predictor.SourceHeuristic {
			return fmt.Errorf("expected a heuristic decision, got one from %s", d.Source)
		}
		return nil
	}
	if d.Source != predictor.SourceModel && d.Reason == predictor.ReasonCanceled {
		return ctx.Err() // the measurement window closed: not a fallback the bot would see
	}
	if d.Source != predictor.SourceModel && !s.wantReplica {
		return fmt.Errorf("%w (%s): %v", errFallback, d.Reason, d.Err)
	}
	n, ok := s.versions.Load(d.ModelVersion)
	if !ok {
		n, _ = s.versions.LoadOrStore(d.ModelVersion, new(atomic.Int64))
	}
	n.(*atomic.Int64).Add(1)
	return nil
}

func (s *sigmagateTarget) versionCounts() map[string]int64 {
	out := map[string]int64{}
	s.versions.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

func (s *sigmagateTarget) close() error { return s.p.Close() }

// ReloadResult is the reload benchmark: the same load without and with reloads.
type ReloadResult struct {
	Reloads     int `json:"reloads"`
	ReloadsOK   int `json:"reloads_ok"`
	Concurrency int `json:"concurrency"`
	// IntervalMS is the pause after each reload is confirmed.
	IntervalMS float64 `json:"interval_ms"`
	Baseline   Result  `json:"baseline"`
	During     Result  `json:"during"`
	// ReloadMS: from Reload() to the predictor reporting the new version.
	ReloadMS          Percentiles       `json:"reload_ms"`
	Versions          map[string]int64  `json:"versions"`
	FallbacksByReason map[string]uint64 `json:"fallbacks_by_reason"`
	FirstError        string            `json:"first_error,omitempty"`
}

// measureReload flips the `current` symlink between two model directories
// and calls Reload() o.reloads times while o.reloadConc goroutines decide.
func measureReload(ctx context.Context, o *options, recs [][]float32, log *slog.Logger) (*ReloadResult, error) {
	if err := pointLink(o.reloadLink, o.reloadA); err != nil {
		return nil, err
	}
	logw, err := stderrFile(o.logPath("reload.log"))
	if err != nil {
		return nil, err
	}
	defer logw.Close()
	t, err := newSigmagateTarget(ctx, o, o.reloadLink, logw)
	if err != nil {
		return nil, err
	}
	defer t.close()
	res := &ReloadResult{Reloads: o.reloads, Concurrency: o.reloadConc, IntervalMS: float64(o.reloadEvery.Microseconds()) / 1e3}
	res.Baseline = measure(ctx, "sigmagate", t, o.reloadConc, plan{warmup: o.warmup, duration: o.duration}, recs)
	before := t.versionCounts()
	fallbacksBefore := t.p.Health().FallbacksByReason

	loadCtx, stopLoad := context.WithCancel(ctx)
	during := make(chan Result, 1)
	go func() {
		during <- measure(loadCtx, "sigmagate", t, o.reloadConc, plan{duration: time.Hour}, recs)
	}()
	// Let the load start before the first reload.
	time.Sleep(100 * time.Millisecond)
	var took []time.Duration
	dirs := []string{o.reloadB, o.reloadA}
	for i := range o.reloads {
		dir := dirs[i%2]
		want := filepath.Base(dir)
		if err := pointLink(o.reloadLink, dir); err != nil {
			res.FirstError = err.Error()
			break
		}
		start := time.Now()
		if err := t.p.Reload(); err != nil {
			res.FirstError = fmt.Sprintf("reload %d: %v", i+1, err)
			break
		}
		if err := waitVersion(ctx, t.p, want, 30*time.Second); err != nil {
			res.FirstError = fmt.Sprintf("reload %d: %v", i+1, err)
			break
		}
		took = append(took, time.Since(start))
		res.ReloadsOK++
		// Space the reloads so that the load runs between them as well as across them.
		select {
		case <-time.After(o.reloadEvery):
		case <-ctx.Done():
		}
	}
	stopLoad()
	res.During = <-during
	p := percentiles(took)
	// percentiles reports microseconds; the reload figures read better in ms.
	res.ReloadMS = Percentiles{P50: p.P50 / 1e3, P90: p.P90 / 1e3, P99: p.P99 / 1e3, P999: p.P999 / 1e3, Max: p.Max / 1e3, Mean: p.Mean / 1e3}
	res.Versions = t.versionCounts()
	for k, n := range before {
		res.Versions[k] -= n
	}
	res.FallbacksByReason = t.p.Health().FallbacksByReason
	for k, n := range fallbacksBefore {
		res.FallbacksByReason[k] -= n
	}
	// Calls cut off when a measurement window closes end as "canceled"; the bot never sees those.
	delete(res.FallbacksByReason, predictor.ReasonCanceled)
	log.Info("reload", "reloads_ok", res.ReloadsOK, "failures", res.During.Failures, "fallbacks", res.During.Fallbacks,
		"p99_us", res.During.LatencyUS.P99, "baseline_p99_us", res.Baseline.LatencyUS.P99)
	if res.FirstError != "" {
		return res, errors.New(res.FirstError)
	}
	return res, nil
}

func waitVersion(ctx context.Context, p *predictor.Predictor, want string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for p.ModelVersion() != want {
		if time.Now().After(deadline) {
			return fmt.Errorf("version %q not served within %v (serving %q, last error %q)", want, limit, p.ModelVersion(), p.Health().LastError)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}

// pointLink atomically re-points a symlink, as a deploy does: a new link, then rename.
func pointLink(link, target string) error {
	tmp := fmt.Sprintf("%s.tmp.%d", link, os.Getpid())
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("symlink %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("point %s at %s: %w", link, target, err)
	}
	return nil
}
