package drift

import (
	"log/slog"
	"math"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigmagate/sigmagate/go/manifest"
)

// loadReference reads the served model's reference; a model without one
// (older than the reference block) is monitored for nothing.
func loadReference(mdl model, log *slog.Logger) *reference {
	r := &reference{version: mdl.version}
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
	if len(m.Features) > maxFeatures {
		log.Warn("drift monitoring off for this model: it has more features than the monitor tracks",
			"version", mdl.version, "features", len(m.Features), "max", maxFeatures)
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

// window is the sliding window of the last `size` decisions, kept as
// per-feature bin counts, OOD counts and an approval count: adding a record
// and evicting the oldest are O(features), evaluating is O(features·bins).
type window struct {
	size     int
	bins     [][maxFeatures]uint8 // ring: each record's bin per feature
	ood      []oodBits            // ring: bit i set when feature i was out of range
	approved []bool               // ring
	next, n  int
	counts   [][]int // per feature, per bin
	oods     []int   // per feature
	approves int
}

func newWindow(size int) *window {
	return &window{size: size, bins: make([][maxFeatures]uint8, size),
		ood: make([]oodBits, size), approved: make([]bool, size)}
}

// oodBits has a bit for each feature a record can carry; the array below
// stops the build should defaults.KnownFeatures outgrow it.
type oodBits uint32

var _ [32 - maxFeatures]struct{}

func (w *window) reset(ref *reference) {
	w.next, w.n, w.approves = 0, 0, 0
	w.counts = make([][]int, len(ref.bins))
	for i, e := range ref.expected {
		w.counts[i] = make([]int, len(e))
	}
	w.oods = make([]int, len(ref.bins))
}

func (w *window) push(ref *reference, r record) {
	if ref.bins == nil {
		return
	}
	i := w.next
	if w.n == w.size { // evict the oldest, which sits where the new one goes
		for f := range ref.bins {
			if ref.bins[f] != nil {
				w.counts[f][w.bins[i][f]]--
			}
			if w.ood[i]&(1<<f) != 0 {
				w.oods[f]--
			}
		}
		if w.approved[i] {
			w.approves--
		}
	} else {
		w.n++
	}
	w.ood[i] = 0
	for f, edges := range ref.bins {
		if edges == nil {
			continue
		}
		x := float64(r.f[f])
		b := binOf(edges, x)
		w.bins[i][f] = uint8(b)
		w.counts[f][b]++
		if x < edges[0] || x > edges[len(edges)-1] {
			w.ood[i] |= 1 << f
			w.oods[f]++
		}
	}
	w.approved[i] = float64(r.p) >= ref.threshold
	if w.approved[i] {
		w.approves++
	}
	w.next = (i + 1) % w.size
}

func (w *window) evaluate(ref *reference, cfg Config, now time.Time) Status {
	s := Status{ModelVersion: ref.version, HasReference: ref.bins != nil, Decisions: w.n,
		ReferenceApprovalRate: ref.approval, ReferenceThreshold: ref.threshold, EvaluatedAt: now,
		PSI: map[string]float64{}, OODShare: map[string]float64{}}
	if ref.bins == nil || w.n == 0 {
		return s
	}
	judge := w.n >= cfg.MinDecisions
	for f, edges := range ref.bins {
		if edges == nil {
			continue
		}
		name := ref.names[f]
		s.PSI[name] = psi(ref.expected[f], w.counts[f], w.n)
		s.OODShare[name] = float64(w.oods[f]) / float64(w.n)
		if judge && s.PSI[name] > cfg.PSI {
			s.Alerts = append(s.Alerts, "psi:"+name)
		}
		if judge && s.OODShare[name] > cfg.OOD {
			s.Alerts = append(s.Alerts, "ood:"+name)
		}
	}
	s.ApprovalRate = float64(w.approves) / float64(w.n)
	if judge && ref.approval > 0 &&
		(s.ApprovalRate < cfg.ApprovalLow*ref.approval || s.ApprovalRate > cfg.ApprovalHigh*ref.approval) {
		s.Alerts = append(s.Alerts, "approval")
	}
	return s
}

// metrics are the monitor's gauges. PSI, OOD share and approval rate carry
// no sample until the window holds MinDecisions decisions: on a part-filled
// window (after a start or a new model) they are sampling noise, e.g. a PSI
// of 6.8 over 6 decisions, which a dashboard or an alert would take at face value.
type metrics struct {
	psi, ood, approval    *prometheus.GaugeVec
	refApproval           prometheus.Gauge
	decisions, alert, min prometheus.Gauge
	warnings              prometheus.Counter
}

func newMetrics(minDecisions int) *metrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "sigmagate_predictor_drift_" + name, Help: help})
	}
	m := &metrics{
		psi: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sigmagate_predictor_drift_psi",
			Help: "Population stability index of the live window against the training bins, per feature; absent until the window holds min_decisions."}, []string{"feature"}),
		ood: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sigmagate_predictor_drift_ood_share",
			Help: "Share of the live window outside the feature's training [min, max]; absent until the window holds min_decisions."}, []string{"feature"}),
		approval: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sigmagate_predictor_drift_approval_rate",
			Help: "Live approval rate at the reference threshold over the window; absent until the window holds min_decisions."}, nil),
		refApproval: g("reference_approval_rate", "The served model's approval rate on its test split (manifest reference)."),
		decisions:   g("window_decisions", "Decisions in the live drift window."),
		min:         g("min_decisions", "Decisions the window needs before it is judged and the PSI, OOD share and approval rate gauges are set."),
		alert:       g("alert", "1 while a drift threshold (PSI, OOD share, approval rate) is crossed."),
		warnings: prometheus.NewCounter(prometheus.CounterOpts{Name: "sigmagate_predictor_drift_warnings_total",
			Help: "Drift warnings logged (rate-limited)."}),
	}
	m.min.Set(float64(minDecisions))
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.psi, m.ood, m.approval, m.refApproval, m.decisions, m.min, m.alert, m.warnings}
}

func (m *metrics) set(s Status, minDecisions int) {
	m.psi.Reset()
	m.ood.Reset()
	m.approval.Reset()
	if s.Decisions >= minDecisions {
		for f, v := range s.PSI {
			m.psi.WithLabelValues(f).Set(v)
		}
		for f, v := range s.OODShare {
			m.ood.WithLabelValues(f).Set(v)
		}
		m.approval.WithLabelValues().Set(s.ApprovalRate)
	}
	m.refApproval.Set(s.ReferenceApprovalRate)
	m.decisions.Set(float64(s.Decisions))
	a := 0.0
	if len(s.Alerts) > 0 {
		a = 1
	}
	m.alert.Set(a)
}
