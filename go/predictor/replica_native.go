package predictor

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sigmagate/sigmagate/go/internal/sidecar"
)

// Mode says who answers a decision first.
type Mode string

const (
	// ModeSidecar (the default): the sidecar answers; the verified replica,
	// then the heuristic, answer when it cannot.
	ModeSidecar Mode = ""
	// ModeReplica: the verified replica answers every decision in-process
	// (under 1 µs for a 100-tree ensemble); the sidecar keeps running and reloading, and
	// every ReplicaSampleEvery-th decision is re-scored on it in the
	// background. One disagreement switches back to ModeSidecar behaviour
	// for the life of the Predictor, with an error log.
	ModeReplica Mode = "replica"
)

// DefaultReplicaSampleEvery: 1 decision in 1000 is re-scored on the sidecar in ModeReplica.
const DefaultReplicaSampleEvery = 1000

// replicaProbeEvery: in ModeReplica, with no new sample for this long, the
// last one is re-scored anyway. The sidecar answers no decision there, so
// these calls are what shows it hung (their timeouts count like a caller's
// and get it killed and restarted) for a bot that decides rarely too.
const replicaProbeEvery = 10 * time.Second

// sample is a native decision to confirm on the sidecar.
type sample struct {
	features []float32
	p        float64
	version  string
}

// native answers from the replica in ModeReplica; false when it cannot
// (no verified replica yet, or native mode was left).
func (p *Predictor) native(v *view, features []float32, b bar, start time.Time) (Decision, bool) {
	d, ok := p.replicaDecision(v, features, b, start)
	if !ok {
		return d, false
	}
	p.rm.observeNative(d.Latency)
	// The first decision too: from then on the probe has a sample to re-score.
	if n := p.rm.nNative.Load(); n == 1 || n%uint64(p.cfg.ReplicaSampleEvery) == 0 {
		select {
		case p.samples <- sample{features: append([]float32(nil), features...), p: d.Probability, version: d.ModelVersion}:
		default: // the sampler is busy: skip this one rather than wait
		}
	}
	return d, true
}

// sampleLoop re-scores sampled native decisions on the sidecar, off the
// callers' path, until Close; with no new sample for replicaProbeEvery, it
// re-scores the last one.
func (p *Predictor) sampleLoop() {
	defer p.bg.Done()
	probe := time.NewTicker(p.probeEvery())
	defer probe.Stop()
	var last sample
	fresh := false
	for {
		select {
		case <-p.ctx.Done():
			return
		case s := <-p.samples:
			last, fresh = s, true
			p.checkSample(s)
		case <-probe.C:
			if !fresh && last.features != nil {
				p.checkSample(last)
			}
			fresh = false
		}
	}
}

func (p *Predictor) probeEvery() time.Duration {
	if p.cfg.replicaProbeEvery > 0 {
		return p.cfg.replicaProbeEvery
	}
	return replicaProbeEvery
}

func (p *Predictor) checkSample(s sample) {
	v := p.view.Load()
	if v.state != StateReady || v.version != s.version {
		return // nothing comparable is serving
	}
	c := sidecar.NewCall(s.features)
	t := time.NewTimer(p.cfg.Timeout)
	defer t.Stop()
	select {
	case p.queue <- c:
	case <-t.C:
		return
	case <-p.ctx.Done():
		return
	}
	select {
	case <-c.Done():
	case <-t.C:
		// No caller waits on the sidecar in ModeReplica: this timeout is
		// the one sign of a hung sidecar, counted as a caller's would be.
		c.Abandon()
		p.m.nTimeouts.Add(1)
		p.m.timeouts.Inc()
		p.noteTimeout(v.sess)
		return
	case <-p.ctx.Done():
		c.Abandon()
		return
	}
	if c.Err != nil || c.Version != s.version {
		return
	}
	p.rm.samples.Inc()
	if p.cfg.corruptReplicaCheck != nil {
		v := []float64{c.P}
		p.cfg.corruptReplicaCheck("sample", v)
		c.P = v[0]
	}
	if probabilityEqual(c.P, s.p) {
		return
	}
	why := fmt.Sprintf("replica %v, sidecar %v for %v (version %s)", s.p, c.P, s.features, s.version)
	p.nativeWhyV.Store(&why)
	if !p.nativeOff.Swap(true) {
		p.rm.mismatches.Inc()
		p.log.Error("REPLICA DISAGREES WITH THE SIDECAR: leaving native mode; the sidecar answers every decision from now on",
			"replica_p", s.p, "sidecar_p", c.P, "features", s.features, "version", s.version)
	}
}

func (p *Predictor) nativeWhy() string {
	if w := p.nativeWhyV.Load(); w != nil {
		return *w
	}
	return ""
}

// replicaMetrics are the replica's Prometheus collectors and counters.
type replicaMetrics struct {
	answers    *prometheus.CounterVec // reason: why the sidecar did not answer, or "native"
	checks     *prometheus.CounterVec // result: passed, mismatch, unsupported, error
	samples    prometheus.Counter
	mismatches prometheus.Counter

	predictions   prometheus.Counter
	latency       prometheus.Observer
	nativeAnswers prometheus.Counter

	nAnswers, nNative atomic.Uint64
}

func newReplicaMetrics(m *metrics) *replicaMetrics {
	rm := &replicaMetrics{
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigmagate_predictor_replica_answers_total",
			Help: "Decisions answered by the in-process replica, by reason (the sidecar's failure, or native in ModeReplica).",
		}, []string{"reason"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigmagate_predictor_replica_checks_total",
			Help: "Replica builds at model loads, by result (passed, mismatch, unsupported, error).",
		}, []string{"result"}),
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sigmagate_predictor_replica_samples_total",
			Help: "Native (ModeReplica) decisions re-scored on the sidecar.",
		}),
		mismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sigmagate_predictor_replica_sample_mismatches_total",
			Help: "Sampled native decisions the sidecar scored differently (native mode is left at the first).",
		}),
	}
	rm.predictions = m.predictions.WithLabelValues(string(SourceReplica))
	rm.latency = m.latency.WithLabelValues(string(SourceReplica))
	rm.nativeAnswers = rm.answers.WithLabelValues("native")
	return rm
}

func (rm *replicaMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{rm.answers, rm.checks, rm.samples, rm.mismatches}
}

func (rm *replicaMetrics) observe(reason string, d time.Duration) {
	rm.nAnswers.Add(1)
	rm.predictions.Inc()
	rm.latency.Observe(d.Seconds())
	rm.answers.WithLabelValues(reason).Inc()
}

func (rm *replicaMetrics) observeNative(d time.Duration) {
	rm.nAnswers.Add(1)
	rm.nNative.Add(1)
	rm.predictions.Inc()
	rm.latency.Observe(d.Seconds())
	rm.nativeAnswers.Inc()
}
