// Package drift compares a served model's live decisions with its training
// distribution (the manifest's reference block): per-feature PSI, the share
// of out-of-range values and the approval rate over a sliding window, as
// Prometheus gauges and a rate-limited warning.
package drift

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigmagate/sigmagate/go/defaults"
)

// Config tunes live drift monitoring: the live window of model decisions
// is compared with the served model's manifest `reference` (its training
// distribution). The zero value is the documented defaults.
type Config struct {
	// Window is how many recent model decisions are compared. Default 5000:
	// enough that PSI's sampling noise (≈ bins/Window ≈ 0.002) sits far below
	// the 0.2 alarm, short enough to follow a market that changes within
	// minutes. Negative disables drift monitoring.
	Window int
	// PSI is the per-feature population stability index above which a
	// feature has drifted. Default 0.2, the usual "significant shift" line.
	PSI float64
	// OOD is the share of the window outside a feature's training [min, max]
	// above which the window is out of distribution. Default 0.05.
	OOD float64
	// ApprovalLow and ApprovalHigh bound the live approval rate as a multiple
	// of the training one (manifest reference.approval_rate). Defaults 0.5, 2.
	ApprovalLow, ApprovalHigh float64
	// Every is how often the window is evaluated. Default 1s.
	Every time.Duration
	// WarnEvery rate-limits the drift warning log: a warning is logged when
	// an alert appears that was not warned about within WarnEvery (so a new
	// kind of drift is reported at once, a lasting one once per WarnEvery).
	// Default 1m.
	WarnEvery time.Duration
	// MinDecisions is how many decisions the window needs before it is
	// judged. Default Window: a market's features wander over minutes, and a
	// part-filled window (after a start or a new model) would raise alarms
	// a full one does not.
	MinDecisions int
}

func (c Config) withDefaults() Config {
	if c.Window == 0 {
		c.Window = defaults.DriftWindow
	}
	if c.PSI == 0 {
		c.PSI = defaults.DriftPSI
	}
	if c.OOD == 0 {
		c.OOD = defaults.DriftOOD
	}
	if c.ApprovalLow == 0 {
		c.ApprovalLow = defaults.DriftApprovalLow
	}
	if c.ApprovalHigh == 0 {
		c.ApprovalHigh = defaults.DriftApprovalHigh
	}
	if c.Every <= 0 {
		c.Every = defaults.DriftEvery
	}
	if c.WarnEvery <= 0 {
		c.WarnEvery = defaults.DriftWarnEvery
	}
	if c.MinDecisions <= 0 {
		c.MinDecisions = c.Window
	}
	return c
}

// Status is the last evaluation of the live window (the predictor's Health().Drift).
type Status struct {
	ModelVersion string // the model whose reference the window is compared with
	HasReference bool   // false: the manifest has no reference block (an older model)
	Decisions    int    // decisions in the window
	Dropped      uint64 // records the monitor could not keep up with (skipped, not queued)
	// Per feature, in the model's order.
	PSI      map[string]float64
	OODShare map[string]float64
	// ApprovalRate is the window's share with p >= ReferenceThreshold.
	ApprovalRate          float64
	ReferenceApprovalRate float64
	ReferenceThreshold    float64
	// Alerts lists what crossed a threshold ("psi:price_dist", "ood:tick_ratio",
	// "approval"); empty while the window is too small to judge.
	Alerts      []string
	EvaluatedAt time.Time
}

// maxFeatures bounds the features a record carries, so a record is a
// fixed-size value and the decision path never allocates for drift. Every
// feature train accepts fits: a model has at most this many.
const maxFeatures = len(defaults.KnownFeatures)

type record struct {
	f [maxFeatures]float32
	p float32
}

type reference struct {
	version   string
	bins      [][]float64 // per feature in model order: edges; nil when not in the reference
	expected  [][]float64 // per feature: training shares
	names     []string
	approval  float64
	threshold float64
}

// Monitor receives records from the decision path through a ring (ring.go:
// one atomic add and a few atomic stores are all the decision path pays) and
// keeps the sliding window and the statistics in its own goroutine.
type Monitor struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	ring    *ring
	models  chan model // latest wins: capacity 1
	dropped atomic.Uint64
	status  atomic.Pointer[Status]
	done    chan struct{}
	stop    chan struct{}
	once    sync.Once
}

type model struct{ version, path string }

// New returns the monitor for cfg (its zero fields the defaults), or nil
// when cfg.Window is negative; every method of a nil Monitor does nothing.
func New(cfg Config, log *slog.Logger) *Monitor {
	cfg = cfg.withDefaults()
	if cfg.Window < 0 {
		return nil
	}
	d := &Monitor{cfg: cfg, log: log, m: newMetrics(cfg.MinDecisions), ring: newRing(ringSize),
		models: make(chan model, 1), done: make(chan struct{}), stop: make(chan struct{})}
	d.status.Store(&Status{})
	return d
}

// Observe is the decision path's hook: O(1), no allocation, never blocks.
func (d *Monitor) Observe(features []float32, p float64) {
	if d == nil {
		return
	}
	d.ring.put(features, float32(p))
}

// The ring holds ringSize records: its drain after every quarter of it
// (ring.full) keeps up with 1.6 M decisions/s as long as the drift
// goroutine gets a core for ~1 ms every 4096 decisions, more than the
// in-process replica answers on two cores; beyond that records are dropped
// and counted, never waited for. An idle bot's process is woken only by the
// evaluation tick (Every, 1 s).
const ringSize = 16384

// ModelLoaded tells the monitor which model serves now; its manifest is read
// in the monitor's goroutine, never under the predictor's lock.
func (d *Monitor) ModelLoaded(version, path string) {
	if d == nil {
		return
	}
	for {
		select {
		case d.models <- model{version, path}:
			return
		default:
			select { // replace a pending, older model
			case <-d.models:
			default:
			}
		}
	}
}

// Collectors are the monitor's Prometheus metrics, for the caller to register.
func (d *Monitor) Collectors() []prometheus.Collector {
	if d == nil {
		return nil
	}
	return d.m.collectors()
}

// Start runs the monitor's goroutine; Close stops it.
func (d *Monitor) Start() {
	if d != nil {
		go d.run()
	}
}

func (d *Monitor) Close() {
	if d == nil {
		return
	}
	d.once.Do(func() { close(d.stop) })
	<-d.done
}

// Snapshot is the last evaluation, with the records dropped so far.
func (d *Monitor) Snapshot() Status {
	if d == nil {
		return Status{}
	}
	s := *d.status.Load()
	s.Dropped = d.dropped.Load()
	return s
}

// The drift goroutine: it drains the ring into the window, starts a new
// window when the served model changes, and evaluates it (and warns) on
// every tick.

func (d *Monitor) run() {
	defer close(d.done)
	w := newWindow(d.cfg.Window)
	var ref *reference
	lastWarn := map[string]time.Time{} // per alert
	tick := time.NewTicker(d.cfg.Every)
	defer tick.Stop()
	var cursor uint64
	drain := func() {
		var lost uint64
		cursor, lost = d.ring.drain(cursor, func(r record) {
			if ref != nil {
				w.push(ref, r)
			}
		})
		d.dropped.Add(lost)
	}
	for {
		select {
		case <-d.stop:
			return
		case mdl := <-d.models:
			if ref != nil && ref.version == mdl.version {
				continue // the same model again (a restarted sidecar): keep the window
			}
			drain() // what the previous model decided belongs to its window
			ref = loadReference(mdl, d.log)
			w.reset(ref)
			d.status.Store(&Status{ModelVersion: mdl.version, HasReference: ref.bins != nil})
		case <-d.ring.full:
			drain()
		case now := <-tick.C:
			drain()
			if ref == nil {
				continue
			}
			s := w.evaluate(ref, d.cfg, now)
			d.m.set(s, d.cfg.MinDecisions)
			d.status.Store(&s)
			if due(lastWarn, s.Alerts, now, d.cfg.WarnEvery) {
				d.m.warnings.Inc()
				d.log.Warn("live features drifted from the model's training data; consider retraining",
					"model_version", s.ModelVersion, "alerts", s.Alerts, "decisions", s.Decisions,
					"psi", s.PSI, "ood_share", s.OODShare, "approval_rate", s.ApprovalRate,
					"reference_approval_rate", s.ReferenceApprovalRate,
					"psi_threshold", d.cfg.PSI, "ood_threshold", d.cfg.OOD)
			}
		}
	}
}

// due reports whether one of alerts was not warned about within every, and
// if so marks them all as warned now.
func due(last map[string]time.Time, alerts []string, now time.Time, every time.Duration) bool {
	warn := false
	for _, a := range alerts {
		if t, ok := last[a]; !ok || now.Sub(t) >= every {
			warn = true
		}
	}
	if warn {
		for _, a := range alerts {
			last[a] = now
		}
	}
	return warn
}
