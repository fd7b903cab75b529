package predictor

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigmagate/sigmagate/go/internal/sidecar"
)

// Fallback reasons, the `reason` label of sigmagate_predictor_fallbacks_total
// and Decision.Reason.
const (
	ReasonTimeout    = "timeout"               // no answer within Config.Timeout
	ReasonChildDown  = sidecar.ReasonChildDown // no sidecar running, starting, or it died mid-request
	ReasonNoModel    = sidecar.ReasonNoModel   // the sidecar runs but has no model loaded
	ReasonError      = sidecar.ReasonError     // the sidecar answered with an error
	ReasonBadInput   = "bad_input"             // NaN/Inf, a wrong feature count, a missing or unknown name
	ReasonOverloaded = "overloaded"            // the request queue was full
	ReasonCanceled   = "canceled"              // the caller's context ended first
	ReasonClosed     = sidecar.ReasonClosed    // Close was called
	// ReasonFeatureOrder: Config.Features differs from the served model's
	// order, so Decide's slice would be scored in the wrong columns.
	ReasonFeatureOrder = "feature_order"
	// ReasonSlow: the sidecar had not answered within the hedge delay, so
	// the verified replica did, or with none the fallback (hedge.go).
	ReasonSlow = "slow"
)

var fallbackReasons = [...]string{ReasonTimeout, ReasonChildDown, ReasonNoModel, ReasonError, ReasonBadInput, ReasonOverloaded, ReasonCanceled, ReasonClosed, ReasonFeatureOrder, ReasonSlow}

// metrics holds the Prometheus collectors and the atomic counters Health
// reads (Prometheus counters cannot be read back cheaply).
type metrics struct {
	predictions *prometheus.CounterVec // source=model|replica|heuristic
	fallbacks   *prometheus.CounterVec // reason
	timeouts    prometheus.Counter
	restarts    *prometheus.CounterVec // reason
	errors      *prometheus.CounterVec // kind
	latency     *prometheus.HistogramVec
	batchSize   prometheus.Histogram
	modelInfo   *prometheus.GaugeVec
	// modelCreated: the served manifest's created time, for model-age alerts.
	modelCreated *prometheus.GaugeVec
	modelAge     prometheus.GaugeFunc
	up           prometheus.GaugeFunc

	// The model path's children, resolved once: WithLabelValues hashes
	// its labels on every call.
	modelPredictions prometheus.Counter
	modelLatency     prometheus.Observer

	nModel, nFallback, nTimeouts, nRestarts, nErrors atomic.Uint64
	fallbackByReason                                 [len(fallbackReasons)]atomic.Uint64 // indexed like fallbackReasons
}

func newMetrics(p *Predictor) *metrics {
	m := &metrics{
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigmagate_predictor_predictions_total",
			Help: "Decisions returned, by source (model, replica, heuristic, reject or custom).",
		}, []string{"source"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigmagate_predictor_fallbacks_total",
			Help: "Decisions answered by the fallback (Config.Fallback, or reject for bad input and a feature-order mismatch), by reason.",
		}, []string{"reason"}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sigmagate_predictor_timeouts_total",
			Help: "Predictions that got no answer within the timeout.",
		}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigmagate_predictor_restarts_total",
			Help: "Sidecar (re)starts after the first, by reason.",
		}, []string{"reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigmagate_predictor_errors_total",
			Help: "Errors: sidecar error answers, protocol errors, failed starts, bad input.",
		}, []string{"kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sigmagate_predictor_latency_seconds",
			Help:    "Time from the call to its decision, by source.",
			Buckets: prometheus.ExponentialBuckets(20e-6, 2, 20), // 20µs … 10s
		}, []string{"source"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sigmagate_predictor_batch_size",
			Help:    "Records per predict request sent to the sidecar.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sigmagate_predictor_model_info",
			Help: "1 for the model version being served, labelled with version and variant.",
		}, []string{"version", "variant"}),
	}
	m.modelCreated = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sigmagate_predictor_model_created_timestamp_seconds",
		Help: "The served model's manifest created time, in Unix seconds, labelled with its version; absent with no model.",
	}, []string{"version"})
	m.modelAge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sigmagate_predictor_model_age_seconds",
		Help: "Seconds since the served model was loaded (-1 with no model).",
	}, func() float64 {
		h := p.Health()
		if h.ModelVersion == "" || h.LoadedAt.IsZero() {
			return -1
		}
		return time.Since(h.LoadedAt).Seconds()
	})
	m.up = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sigmagate_predictor_sidecar_up",
		Help: "1 when a sidecar is running and serving a model.",
	}, func() float64 {
		if p.Health().State == StateReady {
			return 1
		}
		return 0
	})
	m.modelPredictions = m.predictions.WithLabelValues("model")
	m.modelLatency = m.latency.WithLabelValues("model")
	// Exported at 0 from the start: increase() sees no first sample of a series,
	// so an alert on the first reload failure needs the series before it.
	for _, kind := range alertedErrorKinds {
		m.errors.WithLabelValues(kind)
	}
	return m
}

// alertedErrorKinds are the errors_total kinds an alert rule watches
// (monitoring/sigmagate.rules.yml).
var alertedErrorKinds = [...]string{"reload_failed"}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.predictions, m.fallbacks, m.timeouts, m.restarts, m.errors,
		m.latency, m.batchSize, m.modelInfo, m.modelCreated, m.modelAge, m.up}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("predictor: register metrics (use one registry per Predictor): %w", err)
		}
	}
	return nil
}

func (m *metrics) observeModel(d time.Duration) {
	m.nModel.Add(1)
	m.modelPredictions.Inc()
	m.modelLatency.Observe(d.Seconds())
}

func (m *metrics) observeFallback(src Source, reason string, d time.Duration) {
	m.nFallback.Add(1)
	for i, r := range fallbackReasons {
		if r == reason {
			m.fallbackByReason[i].Add(1)
		}
	}
	m.predictions.WithLabelValues(string(src)).Inc()
	m.fallbacks.WithLabelValues(reason).Inc()
	m.latency.WithLabelValues(string(src)).Observe(d.Seconds())
}

func (m *metrics) error(kind string) {
	m.nErrors.Add(1)
	m.errors.WithLabelValues(kind).Inc()
}

func (m *metrics) restart(reason string) {
	m.nRestarts.Add(1)
	m.restarts.WithLabelValues(reason).Inc()
}

func (m *metrics) fallbackCounts() map[string]uint64 {
	out := make(map[string]uint64, len(fallbackReasons))
	for i, r := range fallbackReasons {
		if n := m.fallbackByReason[i].Load(); n > 0 {
			out[r] = n
		}
	}
	return out
}
