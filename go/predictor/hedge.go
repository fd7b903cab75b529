// Hedged decisions: a decision waits for the sidecar only for the hedge
// delay, then takes the next rung of the ladder (reason slow): the verified
// replica of the served model, or, with none (an MLP, DisableReplica, a
// reload still verifying its replica), what answers an outage (fallback in
// decide.go: Config.Fallback, or a replica kept from before a restart that
// has no model yet). A hung sidecar thus costs a decision the hedge delay,
// never Config.Timeout. The sidecar's call stays in flight; the reader
// goroutine that finishes it (sidecar.Call.Hedge) compares its late answer
// with the replica's, so no goroutine waits per hedged call. One goroutine
// (hedgeLoop) keeps the delay and counts hedged calls left unanswered at
// Config.Timeout toward the hung-sidecar detection.

package predictor

import (
	"errors"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigmagate/sigmagate/go/internal/sidecar"
)

// The adaptive hedge delay (Config.HedgeDelay = 0) is
// clamp(HedgeP99Multiple × the sidecar's recent p99, HedgeDelayFloor,
// HedgeDelayCap). The measured p99 of a decision is 0.1 ms with one
// goroutine and 1 ms with 64 (docs/BENCHMARKS.md): four times that stays
// clear of its p99.9 (0.3 and 2.8 ms), so a healthy sidecar is rarely
// hedged. The floor, 2 ms, is above a scheduler time slice and a GC
// assist on a busy 2-core host, which delay answers without anything being
// wrong. The cap, 20 ms, bounds what a stopped or swapping sidecar costs a
// decision, far below the 100 ms a bot's tick can spare, and holds while a
// loaded host pushes the p99 up.
const (
	HedgeP99Multiple = 4
	HedgeDelayFloor  = 2 * time.Millisecond
	HedgeDelayCap    = 20 * time.Millisecond
)

// ErrSlow is Decision.Err of a hedged decision: the sidecar had not
// answered within the hedge delay, so the replica or the fallback did.
var ErrSlow = errors.New("predictor: sidecar slower than the hedge delay")

// The recent sidecar latencies the p99 is taken from: a ring written with
// one atomic add and store per model answer, read by hedgeLoop after every
// latencyRecompute answers (never on a caller's path).
const (
	latencyRing      = 1024
	latencyRecompute = 256
)

// HedgeStatus is the hedging part of Health.
type HedgeStatus struct {
	// Delay is the hedge delay in force; 0 when hedging is off
	// (Config.HedgeDelay < 0).
	Delay time.Duration
	// SidecarFirst, ReplicaFirst and FallbackFirst count the decisions sent
	// to the sidecar by who answered: the sidecar within the hedge delay, the
	// verified replica of the served version after it, or, with no such
	// replica, the fallback after it.
	SidecarFirst, ReplicaFirst, FallbackFirst uint64
	// Skipped counts decisions answered at once (by the replica, or as
	// FallbackFirst when there is none), never sent, because the sidecar
	// already owed MaxBatch × MaxInFlight hedged answers.
	Skipped uint64
	// LateAgree and LateDisagree count the sidecar's late answers to
	// decisions the replica of the same version answered, by whether they
	// made the same approval.
	LateAgree, LateDisagree uint64
	// Unanswered counts hedged calls the sidecar never answered: it failed
	// them, or gave no answer within Config.Timeout (a timeout, which also
	// counts toward MaxConsecutiveTimeouts).
	Unanswered uint64
	// MaxAbsDP is the largest |p_sidecar − p_replica| of a late answer.
	MaxAbsDP float64
}

type hedgeTrack struct {
	c        *sidecar.Call
	sess     *sidecar.Session
	deadline time.Time
}

// hedger holds the delay, the latency ring and the counters.
type hedger struct {
	off   bool
	fixed bool
	delay atomic.Int64 // ns

	ring [latencyRing]atomic.Uint32 // µs
	n    atomic.Uint64
	kick chan struct{}

	track chan hedgeTrack
	// outstanding counts hedged calls not yet answered; at maxOutstanding
	// (the most the sidecar can have queued for it in two full rounds of
	// batches) new decisions skip the sidecar and go to the replica at once,
	// so a stopped sidecar does not pile up a queue it must work off later.
	outstanding    atomic.Int64
	maxOutstanding int64

	total                                                                            *prometheus.CounterVec // outcome
	late                                                                             *prometheus.CounterVec // agree
	unanswered                                                                       prometheus.Counter
	delayGauge                                                                       prometheus.GaugeFunc
	sidecarFirst, replicaFirst, fallbackFirst, skipped, lateAgree, lateDisagree      prometheus.Counter
	nSidecarFirst, nReplicaFirst, nFallbackFirst, nSkipped, nAgree, nDisagree, nUnan atomic.Uint64
	maxDP                                                                            atomic.Uint64 // float64 bits
}

// backlogCap is MaxBatch × MaxInFlight, the hedged calls the sidecar may owe,
// saturated rather than wrapped to a negative cap that would skip every call.
func backlogCap(batch, inFlight int) int64 {
	b, f := int64(batch), int64(inFlight)
	if b > 0 && f > math.MaxInt64/b {
		return math.MaxInt64
	}
	return b * f
}

func newHedger(cfg *Config) *hedger {
	h := &hedger{
		off: cfg.HedgeDelay < 0, fixed: cfg.HedgeDelay > 0,
		kick: make(chan struct{}, 1), track: make(chan hedgeTrack, 4096),
		maxOutstanding: backlogCap(cfg.MaxBatch, cfg.MaxInFlight),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigmagate_predictor_hedge_total",
			Help: "Decisions sent to the sidecar with hedging on, by who answered: sidecar_first (within the hedge delay), replica_first (the served version's verified replica after it), fallback_first (with no such replica, the fallback after it), or skipped (answered at once, not sent: the sidecar already owed too many hedged answers).",
		}, []string{"outcome"}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigmagate_predictor_hedge_late_total",
			Help: "The sidecar's late answers to hedged decisions, by whether they made the replica's approval (agree=true|false).",
		}, []string{"agree"}),
		unanswered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sigmagate_predictor_hedge_unanswered_total",
			Help: "Hedged calls the sidecar failed or did not answer within the timeout.",
		}),
	}
	h.delayGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sigmagate_predictor_hedge_delay_seconds",
		Help: "How long a decision waits for the sidecar before the verified replica answers (0: hedging off).",
	}, func() float64 { return h.current().Seconds() })
	h.sidecarFirst = h.total.WithLabelValues("sidecar_first")
	h.replicaFirst = h.total.WithLabelValues("replica_first")
	h.fallbackFirst = h.total.WithLabelValues("fallback_first")
	h.skipped = h.total.WithLabelValues("skipped")
	h.lateAgree = h.late.WithLabelValues("true")
	h.lateDisagree = h.late.WithLabelValues("false")
	switch {
	case h.off:
	case h.fixed:
		h.delay.Store(int64(cfg.HedgeDelay))
	default:
		h.delay.Store(int64(HedgeDelayCap)) // until enough latencies are seen
	}
	return h
}

func (h *hedger) collectors() []prometheus.Collector {
	return []prometheus.Collector{h.total, h.late, h.unanswered, h.delayGauge}
}

// current is the delay in force, 0 when hedging is off.
func (h *hedger) current() time.Duration { return time.Duration(h.delay.Load()) }

// observe records one sidecar latency; every latencyRecompute-th wakes
// hedgeLoop to recompute the delay.
func (h *hedger) observe(d time.Duration) {
	if h.off || h.fixed {
		return
	}
	us := min(d.Microseconds(), math.MaxUint32)
	i := h.n.Add(1)
	h.ring[i%latencyRing].Store(uint32(max(us, 0)))
	if i%latencyRecompute == 0 {
		select {
		case h.kick <- struct{}{}:
		default:
		}
	}
}

// recompute sets the adaptive delay from the ring's p99 (nearest rank).
func (h *hedger) recompute(buf []uint32) []uint32 {
	n := min(h.n.Load(), latencyRing)
	if n < latencyRecompute {
		return buf
	}
	buf = buf[:0]
	for i := range n {
		buf = append(buf, h.ring[i].Load())
	}
	slices.Sort(buf)
	p99 := time.Duration(buf[int(math.Ceil(0.99*float64(n)))-1]) * time.Microsecond
	h.delay.Store(int64(hedgeDelayFor(p99)))
	return buf
}

// hedgeDelayFor is the adaptive delay for a sidecar p99.
func hedgeDelayFor(p99 time.Duration) time.Duration {
	return min(max(HedgeP99Multiple*p99, HedgeDelayFloor), HedgeDelayCap)
}

// lateAnswer counts the sidecar's late answer, on the goroutine that
// finished the call, and compares it with the replica's when the replica of
// the version that answered made the decision (rep not nil).
func (h *hedger) lateAnswer(c *sidecar.Call, rep *Decision, threshold float64, start time.Time) {
	h.outstanding.Add(-1)
	if c.Err != nil {
		h.nUnan.Add(1)
		h.unanswered.Inc()
		return
	}
	h.observe(time.Since(start))
	if rep == nil || rep.ModelVersion != c.Version {
		return
	}
	replicaP, approved := rep.Probability, rep.Approve
	if (c.P >= threshold) == approved {
		h.nAgree.Add(1)
		h.lateAgree.Inc()
	} else {
		h.nDisagree.Add(1)
		h.lateDisagree.Inc()
	}
	dp := math.Abs(c.P - replicaP)
	for {
		old := h.maxDP.Load()
		if dp <= math.Float64frombits(old) || h.maxDP.CompareAndSwap(old, math.Float64bits(dp)) {
			return
		}
	}
}

func (h *hedger) status() HedgeStatus {
	return HedgeStatus{
		Delay: h.current(), SidecarFirst: h.nSidecarFirst.Load(), ReplicaFirst: h.nReplicaFirst.Load(),
		FallbackFirst: h.nFallbackFirst.Load(), Skipped: h.nSkipped.Load(),
		LateAgree: h.nAgree.Load(), LateDisagree: h.nDisagree.Load(), Unanswered: h.nUnan.Load(),
		MaxAbsDP: math.Float64frombits(h.maxDP.Load()),
	}
}

// hedgeWait is how long decideIn waits for the sidecar before hedging, and
// whether it hedges at all.
func (p *Predictor) hedgeWait() (time.Duration, bool) {
	if p.h.off {
		return p.cfg.Timeout, false
	}
	return min(p.h.current(), p.cfg.Timeout), true
}

// backlogged reports whether so many hedged calls wait for the sidecar that
// a new decision should not add one.
func (h *hedger) backlogged() bool { return h.outstanding.Load() >= h.maxOutstanding }

// servedReplica is the decision of the verified replica of the version the
// sidecar serves; false when there is none.
func (p *Predictor) servedReplica(v *view, features []float32, b bar, start time.Time) (Decision, bool) {
	d, ok := p.replicaDecision(v, features, b, start)
	return d, ok && d.ModelVersion == v.version
}

// hedgeAtOnce answers without asking the sidecar, while the hedged backlog
// is full.
func (p *Predictor) hedgeAtOnce(v *view, features []float32, b bar, start time.Time) Decision {
	p.h.nSkipped.Add(1)
	p.h.skipped.Inc()
	d, ok := p.servedReplica(v, features, b, start)
	if !ok {
		return p.fallback(v, features, b, ReasonSlow, ErrSlow, start)
	}
	d.Reason, d.Err, d.Latency = ReasonSlow, ErrSlow, time.Since(start)
	p.rm.observe(ReasonSlow, d.Latency)
	return d
}

// hedge answers a call the sidecar has not answered within the hedge delay:
// from the served version's replica, else as an outage is answered
// (fallback). It reports false when the sidecar's answer arrived meanwhile
// (c.Done is then closed).
func (p *Predictor) hedge(v *view, c *sidecar.Call, features []float32, b bar, start time.Time) (Decision, bool) {
	d, withReplica := p.servedReplica(v, features, b, start)
	var rep *Decision
	if withReplica {
		rep = &Decision{Probability: d.Probability, Approve: d.Approve, ModelVersion: d.ModelVersion}
	}
	p.h.outstanding.Add(1)
	if !c.Hedge(func(c *sidecar.Call) { p.h.lateAnswer(c, rep, p.thresholdFor(b, v, c.Version), start) }) {
		p.h.outstanding.Add(-1)
		return Decision{}, false
	}
	select {
	case p.h.track <- hedgeTrack{c: c, sess: v.sess, deadline: start.Add(p.cfg.Timeout)}:
	default: // thousands already tracked: the sidecar is judged on those
	}
	if !withReplica {
		p.h.nFallbackFirst.Add(1)
		p.h.fallbackFirst.Inc()
		return p.fallback(v, features, b, ReasonSlow, ErrSlow, start), true
	}
	d.Reason, d.Err, d.Latency = ReasonSlow, ErrSlow, time.Since(start)
	p.h.nReplicaFirst.Add(1)
	p.h.replicaFirst.Inc()
	p.rm.observe(ReasonSlow, d.Latency)
	return d, true
}

// hedgeLoop recomputes the adaptive delay when the ring asks, and times
// out hedged calls at Config.Timeout: an unanswered one is a timeout like a
// caller's, so a hung sidecar is still killed and restarted. Timeout is one
// constant, so calls arrive in deadline order and a FIFO suffices.
func (p *Predictor) hedgeLoop() {
	defer p.bg.Done()
	var q []hedgeTrack
	var buf []uint32
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.h.kick:
			buf = p.h.recompute(buf)
		case tr := <-p.h.track:
			q = append(q, tr)
			if len(q) == 1 {
				t.Reset(time.Until(tr.deadline))
			}
		case now := <-t.C:
			for len(q) > 0 && !q[0].deadline.After(now) {
				tr := q[0]
				q[0] = hedgeTrack{}
				q = q[1:]
				if !tr.c.Expire() {
					continue // answered or failed: lateAnswer counted it
				}
				tr.c.Abandon()
				p.h.outstanding.Add(-1)
				p.h.nUnan.Add(1)
				p.h.unanswered.Inc()
				p.m.nTimeouts.Add(1)
				p.m.timeouts.Inc()
				p.noteTimeout(tr.sess)
			}
			if len(q) > 0 {
				t.Reset(time.Until(q[0].deadline))
			} else {
				q = nil // let a long backlog's array go
			}
		}
	}
}
