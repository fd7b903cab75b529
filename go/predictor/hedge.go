// Hedged decisions: when a verified replica of the served model exists, a
// decision waits for the sidecar only for the hedge delay, then answers from
// the replica (reason slow). The sidecar's call stays in flight; its late
// answer is compared with the replica's by the reader goroutine that
// finishes it (sidecar.Call.Hedge), so no goroutine waits per hedged call.
// One goroutine (hedgeLoop) keeps the delay and counts hedged calls left
// unanswered at Config.Timeout toward the hung-sidecar detection.

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
// answered within the hedge delay, so its verified replica did.
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
	// (Config.HedgeDelay < 0, or Config.DisableReplica: nothing to hedge with).
	Delay time.Duration
	// SidecarFirst and ReplicaFirst count the decisions that could be hedged
	// (a verified replica of the served version existed) by who answered.
	SidecarFirst, ReplicaFirst uint64
	// Skipped counts decisions the replica answered at once, never sent,
	// because the sidecar already owed MaxBatch × MaxInFlight hedged answers.
	Skipped uint64
	// LateAgree and LateDisagree count the sidecar's late answers to hedged
	// decisions by whether they made the same approval as the replica did.
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

	total                                                            *prometheus.CounterVec // outcome
	late                                                             *prometheus.CounterVec // agree
	unanswered                                                       prometheus.Counter
	delayGauge                                                       prometheus.GaugeFunc
	sidecarFirst, replicaFirst, skipped, lateAgree, lateDisagree     prometheus.Counter
	nSidecarFirst, nReplicaFirst, nSkipped, nAgree, nDisagree, nUnan atomic.Uint64
	maxDP                                                            atomic.Uint64 // float64 bits
}

func newHedger(cfg *Config) *hedger {
	h := &hedger{
		// With no replica there is nothing to hedge with: off, and reported as 0.
		off: cfg.HedgeDelay < 0 || cfg.DisableReplica, fixed: cfg.HedgeDelay > 0,
		kick: make(chan struct{}, 1), track: make(chan hedgeTrack, 4096),
		maxOutstanding: int64(cfg.MaxBatch * cfg.MaxInFlight),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigmagate_predictor_hedge_total",
			Help: "Decisions that could be hedged (a verified replica existed), by who answered: sidecar_first, replica_first, or skipped (the replica at once: the sidecar already owed too many hedged answers).",
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

// lateAnswer compares the sidecar's late answer with the replica's, on the
// goroutine that finished the call.
func (h *hedger) lateAnswer(c *sidecar.Call, replicaP float64, approved bool, threshold float64, start time.Time) {
	h.outstanding.Add(-1)
	if c.Err != nil {
		h.nUnan.Add(1)
		h.unanswered.Inc()
		return
	}
	h.observe(time.Since(start))
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
		Delay: h.current(), SidecarFirst: h.nSidecarFirst.Load(), ReplicaFirst: h.nReplicaFirst.Load(), Skipped: h.nSkipped.Load(),
		LateAgree: h.nAgree.Load(), LateDisagree: h.nDisagree.Load(), Unanswered: h.nUnan.Load(),
		MaxAbsDP: math.Float64frombits(h.maxDP.Load()),
	}
}

// hedgeWait is how long decideIn waits for the sidecar before hedging, and
// whether it may hedge at all: only with a verified replica of the version
// the sidecar serves.
func (p *Predictor) hedgeWait(v *view) (time.Duration, bool) {
	if p.h.off {
		return p.cfg.Timeout, false
	}
	st := p.rep.Load()
	if st == nil || st.r == nil || st.version != v.version {
		return p.cfg.Timeout, false
	}
	return min(p.h.current(), p.cfg.Timeout), true
}

// backlogged reports whether so many hedged calls wait for the sidecar that
// a new decision should not add one.
func (h *hedger) backlogged() bool { return h.outstanding.Load() >= h.maxOutstanding }

// hedgeAtOnce answers from the replica without asking the sidecar, while
// the hedged backlog is full; false when the replica cannot answer.
func (p *Predictor) hedgeAtOnce(v *view, features []float32, b bar, start time.Time) (Decision, bool) {
	d, ok := p.replicaDecision(v, features, b, start)
	if !ok {
		return d, false
	}
	d.Reason, d.Err, d.Latency = ReasonSlow, ErrSlow, time.Since(start)
	p.h.nSkipped.Add(1)
	p.h.skipped.Inc()
	p.rm.observe(ReasonSlow, d.Latency)
	return d, true
}

// hedge answers from the replica for a call the sidecar has not answered
// within the hedge delay. It reports false when the replica cannot answer
// or the sidecar's answer arrived meanwhile (c.Done is then closed).
func (p *Predictor) hedge(v *view, c *sidecar.Call, features []float32, b bar, start time.Time) (Decision, bool) {
	d, ok := p.replicaDecision(v, features, b, start)
	if !ok {
		return d, false
	}
	rp, approved := d.Probability, d.Approve
	p.h.outstanding.Add(1)
	if !c.Hedge(func(c *sidecar.Call) { p.h.lateAnswer(c, rp, approved, p.thresholdFor(b, v, c.Version), start) }) {
		p.h.outstanding.Add(-1)
		return Decision{}, false
	}
	select {
	case p.h.track <- hedgeTrack{c: c, sess: v.sess, deadline: start.Add(p.cfg.Timeout)}:
	default: // thousands already tracked: the sidecar is judged on those
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
				select {
				case <-tr.c.Done():
					continue // answered or failed: lateAnswer counted it
				default:
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
