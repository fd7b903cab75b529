package predictor

import (
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sigmagate/sigmagate/go/manifest"
)

// DriftConfig tunes live drift monitoring: the live window of model decisions
// is compared with the served model's manifest `reference` (its training
// distribution). The zero value is the documented defaults.
type DriftConfig struct {
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

func (c DriftConfig) withDefaults() DriftConfig {
	if c.Window == 0 {
		c.Window = 5000
	}
	if c.PSI == 0 {
		c.PSI = 0.2
	}
	if c.OOD == 0 {
		c.OOD = 0.05
	}
	if c.ApprovalLow == 0 {
		c.ApprovalLow = 0.5
	}
	if c.ApprovalHigh == 0 {
		c.ApprovalHigh = 2
	}
	if c.Every <= 0 {
		c.Every = time.Second
	}
	if c.WarnEvery <= 0 {
		c.WarnEvery = time.Minute
	}
	if c.MinDecisions <= 0 {
		c.MinDecisions = c.Window
	}
	return c
}

// DriftStatus is the last evaluation of the live window (Health().Drift).
type DriftStatus struct {
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

// maxDriftFeatures bounds the features a record carries, so a record is a
// fixed-size value and the decision path never allocates for drift.
const maxDriftFeatures = 8

type driftRec struct {
	f [maxDriftFeatures]float32
	p float32
}

type driftRef struct {
	version   string
	bins      [][]float64 // per feature in model order: edges; nil when not in the reference
	expected  [][]float64 // per feature: training shares
	names     []string
	approval  float64
	threshold float64
}

// drift receives records from the decision path through a ring (drift_ring.go:
// one atomic add and a few atomic stores are all the decision path pays) and
// keeps the sliding window and the statistics in its own goroutine.
type drift struct {
	cfg     DriftConfig
	log     *slog.Logger
	m       *driftMetrics
	ring    *driftRing
	models  chan driftModel // latest wins: capacity 1
	dropped atomic.Uint64
	status  atomic.Pointer[DriftStatus]
	done    chan struct{}
	stop    chan struct{}
	once    sync.Once
}

type driftModel struct{ version, path string }

func newDrift(cfg DriftConfig, log *slog.Logger) *drift {
	cfg = cfg.withDefaults()
	if cfg.Window < 0 {
		return nil
	}
	d := &drift{cfg: cfg, log: log, m: newDriftMetrics(), ring: newDriftRing(driftRingSize),
		models: make(chan driftModel, 1), done: make(chan struct{}), stop: make(chan struct{})}
	d.status.Store(&DriftStatus{})
	return d
}

// observe is the decision path's hook: O(1), no allocation, never blocks.
func (d *drift) observe(features []float32, p float64) {
	if d == nil {
		return
	}
	d.ring.put(features, float32(p))
}

// The ring holds driftRingSize records: its drain after every quarter of it
// (driftRing.full) keeps up with 1.6 M decisions/s as long as the drift
// goroutine gets a core for ~1 ms every 4096 decisions, more than the
// in-process replica answers on two cores; beyond that records are dropped
// and counted, never waited for. An idle bot's process is woken only by the
// evaluation tick (Every, 1 s).
const driftRingSize = 16384

// modelLoaded tells the monitor which model serves now; its manifest is read
// in the monitor's goroutine, never under the predictor's lock.
func (d *drift) modelLoaded(version, path string) {
	if d == nil {
		return
	}
	for {
		select {
		case d.models <- driftModel{version, path}:
			return
		default:
			select { // replace a pending, older model
			case <-d.models:
			default:
			}
		}
	}
}

func (d *drift) start() {
	if d != nil {
		go d.run()
	}
}

func (d *drift) close() {
	if d == nil {
		return
	}
	d.once.Do(func() { close(d.stop) })
	<-d.done
}

func (d *drift) snapshot() DriftStatus {
	if d == nil {
		return DriftStatus{}
	}
	s := *d.status.Load()
	s.Dropped = d.dropped.Load()
	return s
}

// loadDriftRef reads the served model's reference; a model without one
// (older than the reference block) is monitored for nothing.
func loadDriftRef(mdl driftModel, log *slog.Logger) *driftRef {
	r := &driftRef{version: mdl.version}
	m, err := manifest.Load(mdl.path)
	if err != nil {
		log.Warn("drift monitoring off for this model: cannot read its manifest", "version", mdl.version, "err", err)
		return r
	}
	r.names = m.Features
	if m.Reference == nil {
		log.Info("drift monitoring off for this model: its manifest has no reference block", "version", mdl.version)
		return r
	}
	if len(m.Features) > maxDriftFeatures {
		log.Warn("drift monitoring off for this model: it has more features than the monitor tracks",
			"version", mdl.version, "features", len(m.Features), "max", maxDriftFeatures)
		return r
	}
	r.bins = make([][]float64, len(m.Features))
	r.expected = make([][]float64, len(m.Features))
	for i, f := range m.Features {
		if b, ok := m.Reference.Features[f]; ok {
			r.bins[i], r.expected[i] = b.Edges, b.Fractions
		}
	}
	r.approval, r.threshold = m.Reference.ApprovalRate, m.Reference.ApprovalThreshold
	return r
}

// binOf applies the training side's rule (train/publish/reference.py): the number of
// interior edges <= x, so the last bin also holds the maximum.
func binOf(edges []float64, x float64) int {
	inner := edges[1 : len(edges)-1]
	return sort.Search(len(inner), func(i int) bool { return inner[i] > x })
}

// psi is Σ (a−e)·ln(a/e) over the bins, with empty shares floored so that a
// bin the live window never visits still counts, boundedly.
func psi(expected []float64, counts []int, n int) float64 {
	const floor = 1e-4
	s := 0.0
	for i, e := range expected {
		a := math.Max(float64(counts[i])/float64(n), floor)
		e = math.Max(e, floor)
		s += (a - e) * math.Log(a/e)
	}
	return s
}
