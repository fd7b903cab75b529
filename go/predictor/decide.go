// The decision path: input checks, the sidecar call with its timeout, and
// the fallback ladder (replica, then heuristic) when the sidecar cannot answer.

package predictor

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/sidecar"
)

// decide is the one path every positional call takes, at the threshold b.
func (p *Predictor) decide(ctx context.Context, features []float32, b bar) (Decision, error) {
	v := p.view.Load()
	start := time.Now()
	if b.err != nil {
		p.m.error("bad_input")
		return p.fallback(v, features, b, ReasonBadInput, b.err, start), b.err
	}
	// In every state, not only while the sidecar is up: while it restarts the
	// replica of that model would misread the slice as the sidecar would.
	if v.orderErr != nil {
		if err := checkFeatures(features, v.layout.names); err != nil {
			p.m.error("bad_input")
			return p.fallback(v, features, b, ReasonBadInput, err, start), err
		}
		return p.fallback(v, features, b, ReasonFeatureOrder, v.orderErr, start), v.orderErr
	}
	return p.decideIn(ctx, v, features, nil, b, start)
}

// decideIn answers features laid out as v.layout; named holds them by name
// when the call gave names (DecideNamed), so that a reload changing the
// feature order while the call is out can be answered in the new order.
func (p *Predictor) decideIn(ctx context.Context, v *view, features []float32, named map[string]float32, b bar, start time.Time) (Decision, error) {
	if err := checkFeatures(features, v.layout.names); err != nil {
		p.m.error("bad_input")
		return p.fallback(v, features, b, ReasonBadInput, err, start), err
	}
	if v.state == StateClosed {
		return p.fallback(v, features, b, ReasonClosed, ErrClosed, start), nil
	}
	if p.cfg.Mode == ModeReplica && !p.nativeOff.Load() {
		if d, ok := p.native(v, features, b, start); ok {
			p.monitor(features, false, v.layout.names, &d)
			return d, nil
		}
	}
	switch v.state {
	case StateReady:
	case StateNoModel:
		return p.fallback(v, features, b, ReasonNoModel, ErrNoModel, start), nil
	default:
		return p.fallback(v, features, b, ReasonChildDown, fmt.Errorf("%w: sidecar is %s", ErrUnavailable, v.state), start), nil
	}
	wait, hedging := p.hedgeWait()
	if hedging && p.h.backlogged() {
		return p.hedgeAtOnce(v, features, b, start), nil
	}
	c := sidecar.NewCall(append([]float32(nil), features...))
	if v.sess == nil || !v.sess.SendNow(c) {
		select {
		case p.queue <- c:
		default:
			return p.fallback(v, features, b, ReasonOverloaded, ErrOverloaded, start), nil
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-c.Done():
			return p.answered(ctx, v, c, features, named, b, start, hedging)
		case <-t.C:
			if p.view.Load().state == StateClosed {
				// Close began while the call waited: neither hedge nor fall back.
				c.Abandon()
				return p.fallback(v, features, b, ReasonClosed, ErrClosed, start), nil
			}
			if hedging {
				if d, ok := p.hedge(v, c, features, b, start); ok {
					return d, nil
				}
				<-c.Done() // hedge fails only once the call is finished
				return p.answered(ctx, v, c, features, named, b, start, true)
			}
			c.Abandon()
			p.m.nTimeouts.Add(1)
			p.m.timeouts.Inc()
			p.noteTimeout(v.sess)
			return p.fallback(v, features, b, ReasonTimeout, fmt.Errorf("%w after %v", ErrTimeout, p.cfg.Timeout), start), nil
		case <-ctx.Done():
			c.Abandon()
			return p.fallback(v, features, b, ReasonCanceled, ctx.Err(), start), nil
		}
	}
}

// answered turns the sidecar's answer (or failure) into the decision, at
// the threshold of the model version that answered.
func (p *Predictor) answered(ctx context.Context, v *view, c *sidecar.Call, features []float32, named map[string]float32, b bar, start time.Time, hedging bool) (Decision, error) {
	if c.Err != nil {
		return p.fallback(v, features, b, c.Reason, c.Err, start), nil
	}
	if took, ok := p.sameColumns(c.Version, v.layout.names, v); !ok {
		return p.wrongColumns(ctx, v, c.Version, took, features, named, b, start)
	}
	threshold := p.thresholdFor(b, v, c.Version)
	d := Decision{
		Approve: c.P >= threshold, Probability: c.P, Threshold: threshold, Source: SourceModel,
		ModelVersion: c.Version, OutOfDistribution: c.OOD, Latency: time.Since(start),
	}
	p.m.observeModel(d.Latency)
	p.h.observe(d.Latency)
	if hedging {
		p.h.nSidecarFirst.Add(1)
		p.h.sidecarFirst.Inc()
	}
	p.monitor(c.Features, true, v.layout.names, &d)
	return d, nil
}

// wrongColumns answers a call whose answer came from a model version that
// takes its features in another order than the call was laid out in (a
// reload changed the order meanwhile): that answer is discarded. A call
// that gave names is laid out again for the model now served and asked once
// more; a positional one is refused like any other slice in the wrong order.
func (p *Predictor) wrongColumns(ctx context.Context, v *view, version string, took []string, features []float32, named map[string]float32, b bar, start time.Time) (Decision, error) {
	if named != nil {
		if nv := p.view.Load().withModelLayout(); nv.orderErr == nil {
			if row, err := byName(named, nv.layout.names); err == nil {
				return p.decideIn(ctx, nv, row, nil, b, start)
			}
		}
	}
	err := fmt.Errorf("%w: the call was laid out as %v but model %s, loaded while it was out, takes %v; its answer was discarded",
		ErrFeatureOrder, v.layout.names, version, took)
	p.log.Warn("an answer in the wrong feature order was discarded", "err", err)
	return p.fallback(v, features, b, ReasonFeatureOrder, err, start), err
}

// fallback answers a decision the sidecar could not: from the verified
// replica when there is one (not for bad input, nor after Close, nor for
// features in another order than the model's: the replica would misread them
// as the sidecar would), else by Config.Fallback. Misconfiguration — bad
// input or a feature order that is not the model's — is never judged by
// anything: it fails closed (Source reject), and Decide returns its error.
// A closed predictor approves nothing either.
func (p *Predictor) fallback(v *view, features []float32, b bar, reason string, err error, start time.Time) Decision {
	misconfigured := reason == ReasonBadInput || reason == ReasonFeatureOrder
	if !misconfigured && reason != ReasonClosed {
		if d, ok := p.fromReplica(v, features, b, reason, err, start); ok {
			return d
		}
	}
	threshold := b.of(v.thresholds())
	policy := p.cfg.Fallback
	if misconfigured || reason == ReasonClosed {
		policy = FallbackReject
	}
	var conf float64
	var ok bool
	switch policy {
	case FallbackReject:
	case FallbackCustom:
		ok, conf = p.cfg.FallbackFunc(FallbackInput{Features: features, Names: v.layout.names, Threshold: threshold, Reason: reason})
		conf = max(0, min(conf, 1))
		if math.IsNaN(conf) {
			conf = 0
		}
	default:
		conf, ok = v.layout.heuristic(features, threshold)
	}
	d := Decision{Approve: ok, Probability: conf, Threshold: threshold, Source: Source(policy),
		Reason: reason, Err: err, Latency: time.Since(start)}
	p.m.observeFallback(d.Source, reason, d.Latency)
	return d
}

// checkFeatures rejects what must never reach the sidecar.
func checkFeatures(f []float32, names []string) error {
	if len(f) != len(names) {
		return fmt.Errorf("%w: got %d features, the model takes %d (%v)", ErrInvalidInput, len(f), len(names), names)
	}
	for i, x := range f {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%w: feature %d (%s) is %v", ErrInvalidInput, i, names[i], x)
		}
	}
	return nil
}

// noteTimeout counts a timeout against the session that was serving; enough
// of them in a row with no answer in between mean the child is hung.
func (p *Predictor) noteTimeout(s *sidecar.Session) {
	if s == nil {
		return
	}
	if n := p.consecTimeouts.Add(1); n >= int64(p.cfg.MaxConsecutiveTimeouts) {
		s.Die("unresponsive", fmt.Errorf("%d predictions in a row timed out after %v; killing the sidecar", n, p.cfg.Timeout))
	}
}
