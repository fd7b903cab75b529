package predictor

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ShadowStatus compares the shadow model with the live one on the same
// decisions (Health().Shadow, and shadow-report.json).
type ShadowStatus struct {
	Active       bool      `json:"active"` // a shadow model is being scored
	Path         string    `json:"path"`   // the shadow model's directory
	ModelVersion string    `json:"shadow_version"`
	LiveVersion  string    `json:"live_version"` // of the last decision compared
	StartedAt    time.Time `json:"started_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Decisions both models answered; the figures below are over these.
	Decisions          uint64  `json:"decisions"`
	Agreements         uint64  `json:"agreements"` // same approve/reject at the live threshold
	AgreementRate      float64 `json:"agreement_rate"`
	LiveApprovalRate   float64 `json:"live_approval_rate"`
	ShadowApprovalRate float64 `json:"shadow_approval_rate"`
	MeanPDiff          float64 `json:"mean_p_diff"`     // shadow − live
	MeanAbsPDiff       float64 `json:"mean_abs_p_diff"` // |shadow − live|
	MaxAbsPDiff        float64 `json:"max_abs_p_diff"`
	// Dropped: the shadow queue was full; ShadowFallbacks: the shadow
	// sidecar could not answer (down, timeout, no model). Neither is compared.
	Dropped         uint64 `json:"dropped"`
	ShadowFallbacks uint64 `json:"shadow_fallbacks"`
	// Final is true in the report written when scoring stopped.
	Final      bool   `json:"final"`
	ReportFile string `json:"-"`
}

type shadowJob struct {
	f         []float32
	names     []string // the live call's layout: f's feature names
	p         float64
	threshold float64
	approve   bool
	version   string
}

// shadowRun is one shadow model's sidecar, its workers and its tallies.
type shadowRun struct {
	w        *shadowWatcher
	target   string
	pred     *Predictor
	ctx      context.Context
	cancel   context.CancelFunc
	queue    chan shadowJob
	quit     chan struct{}
	wg       sync.WaitGroup
	dropped  atomic.Uint64
	stopped  sync.Once
	started  time.Time
	nicedPID int // touched only by the watcher goroutine

	mu                                  sync.Mutex
	n, agree, liveYes, shadowYes, fails uint64
	sumDiff, sumAbs, maxAbs             float64
	liveVersion                         string
}

// dispatch sends what has queued every ShadowConfig.Every, all at once (one
// goroutine per decision, so the shadow predictor coalesces them into one
// batch), and waits for the answers before the next round.
func (r *shadowRun) dispatch() {
	defer r.wg.Done()
	t := time.NewTicker(r.w.cfg.Every)
	defer t.Stop()
	var batch []shadowJob
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
		}
		batch = batch[:0]
	drain:
		for len(batch) < DefaultMaxBatch {
			select {
			case j := <-r.queue:
				batch = append(batch, j)
			default:
				break drain
			}
		}
		var wg sync.WaitGroup
		for _, j := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.score(j)
			}()
		}
		wg.Wait()
	}
}

func (r *shadowRun) score(j shadowJob) {
	// By name: the candidate may take the features in another order than the
	// live model (or lack one of them, which refuses the job like bad input).
	named := make(map[string]float32, len(j.names))
	for i, n := range j.names {
		named[n] = j.f[i]
	}
	d, _ := r.pred.decideNamed(r.ctx, named, explicitBar(j.threshold))
	r.mu.Lock()
	defer r.mu.Unlock()
	if d.Source != SourceModel {
		r.fails++
		r.w.m.fallbacks.Inc()
		return
	}
	r.n++
	if d.Approve == j.approve {
		r.agree++
		r.w.m.agreements.Inc()
	}
	if j.approve {
		r.liveYes++
	}
	if d.Approve {
		r.shadowYes++
	}
	diff := d.Probability - j.p
	r.sumDiff += diff
	r.sumAbs += math.Abs(diff)
	r.maxAbs = math.Max(r.maxAbs, math.Abs(diff))
	r.liveVersion = j.version
	r.w.m.decisions.Inc()
	r.w.m.absDiff.Observe(math.Abs(diff))
}

func (r *shadowRun) status() ShadowStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := ShadowStatus{Active: true, Path: r.target, ModelVersion: r.pred.ModelVersion(), LiveVersion: r.liveVersion,
		StartedAt: r.started, UpdatedAt: time.Now().UTC(), Decisions: r.n, Agreements: r.agree,
		MaxAbsPDiff: r.maxAbs, Dropped: r.dropped.Load(), ShadowFallbacks: r.fails, ReportFile: r.w.report}
	if r.n > 0 {
		n := float64(r.n)
		s.AgreementRate, s.LiveApprovalRate, s.ShadowApprovalRate = float64(r.agree)/n, float64(r.liveYes)/n, float64(r.shadowYes)/n
		s.MeanPDiff, s.MeanAbsPDiff = r.sumDiff/n, r.sumAbs/n
	}
	return s
}

// stop ends scoring: the workers finish their decision, the shadow sidecar
// stops, and the final report is written.
func (r *shadowRun) stop() {
	r.stopped.Do(func() {
		close(r.quit)
		r.cancel()
		r.wg.Wait()
		r.writeReport(true)
		r.pred.Close()
	})
}

// writeReport replaces shadow-report.json atomically (a temporary file
// renamed over it), so the deploy script never reads half a report.
func (r *shadowRun) writeReport(final bool) {
	s := r.status()
	s.Final = final
	if err := writeJSONAtomic(r.w.report, s); err != nil {
		r.w.p.log.Warn("cannot write the shadow report", "file", r.w.report, "err", err)
	}
}

func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("shadow report: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("shadow report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("shadow report: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("shadow report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("shadow report: %w", err)
	}
	return nil
}

type shadowMetrics struct {
	decisions, agreements, dropped, fallbacks prometheus.Counter
	active                                    prometheus.Gauge
	absDiff                                   prometheus.Histogram
}

func newShadowMetrics() *shadowMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "sigmagate_predictor_shadow_" + name, Help: help})
	}
	return &shadowMetrics{
		decisions:  c("decisions_total", "Live model decisions the shadow model also answered."),
		agreements: c("agreements_total", "Of those, decisions where the shadow approved or rejected like the live model."),
		dropped:    c("dropped_total", "Decisions not compared because the shadow queue was full."),
		fallbacks:  c("fallbacks_total", "Decisions the shadow sidecar could not answer (not compared)."),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sigmagate_predictor_shadow_active",
			Help: "1 while a shadow model is scored."}),
		absDiff: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sigmagate_predictor_shadow_abs_p_diff",
			Help:    "|shadow probability − live probability| per compared decision.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1}}),
	}
}

func (m *shadowMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.decisions, m.agreements, m.dropped, m.fallbacks, m.active, m.absDiff}
}
