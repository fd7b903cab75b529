package predictor

import (
	"fmt"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// supervise owns the sidecar's life: start, handshake, serve, and on any
// exit restart with capped exponential backoff, until Close. firstUp is
// closed when the first start attempt has an outcome (New waits for it).
func (p *Predictor) supervise(firstUp chan struct{}) {
	defer close(p.done)
	signalled := false
	signalFirst := func() {
		if !signalled {
			signalled = true
			close(firstUp)
		}
	}
	defer signalFirst()
	failures := 0
	reason := ""
	for attempt := 0; ; attempt++ {
		if p.ctx.Err() != nil {
			p.setClosed()
			return
		}
		if attempt > 0 {
			p.m.restart(reason)
		}
		p.update(func(v *view) { v.state, v.sess, v.pid = StateStarting, nil, 0 })
		s, err := p.spawn()
		if err != nil {
			p.m.error("start")
			p.setDown(err)
			p.log.Error("cannot start the sidecar; answering from the fallback", "err", err)
			signalFirst()
			reason = "start_failed"
			failures++
			if !p.sleep(p.backoff(failures)) {
				p.setClosed()
				return
			}
			continue
		}
		p.update(func(v *view) { v.pid = s.pid })
		readyAt, served := p.handshakeAndServe(s, signalFirst)
		if p.ctx.Err() != nil {
			p.setClosed() // new calls fall back at once during the grace period
			s.shutdown(p.cfg.KillGrace)
			s.wait()
			p.setClosed()
			return
		}
		s.wait()
		reason = s.deadWhy
		p.setDown(s.deadErr)
		// Calls queued after the session died have no writer until the next
		// sidecar is up (seconds): answer them from the fallback now.
		p.drainQueue(ReasonChildDown, fmt.Errorf("%w: %v", ErrUnavailable, s.deadErr))
		signalFirst()
		// A sidecar that served for a full backoff cap was healthy: its
		// crash starts the backoff again from the minimum.
		if served && time.Since(readyAt) >= p.cfg.RestartBackoffMax {
			failures = 0
		}
		failures++
		if !p.sleep(p.backoff(failures)) {
			p.setClosed()
			return
		}
	}
}

// handshakeAndServe waits for ready, publishes the session, and keeps it
// until it dies or Close is called. While no model is loaded it sends SIGHUP
// with backoff, so a model that appears later is picked up.
func (p *Predictor) handshakeAndServe(s *session, signalFirst func()) (readyAt time.Time, served bool) {
	t := time.NewTimer(p.cfg.StartTimeout)
	defer t.Stop()
	var info *rpc.Info
	select {
	case info = <-s.ready:
	case <-s.dead:
		return time.Time{}, false
	case <-t.C:
		p.m.error("start_timeout")
		s.die("start_timeout", fmt.Errorf("no ready notification within %v; see the sidecar's log lines above, or raise Config.StartTimeout", p.cfg.StartTimeout))
		return time.Time{}, false
	case <-p.ctx.Done():
		return time.Time{}, false
	}
	readyAt = time.Now()
	p.consecTimeouts.Store(0)
	p.setModel(s, info)
	signalFirst()

	retry := p.cfg.RestartBackoffMin
	var tick <-chan time.Time
	var rt *time.Timer
	defer func() {
		if rt != nil {
			rt.Stop()
		}
	}()
	for {
		if p.view.Load().state == StateNoModel && rt == nil {
			rt = time.NewTimer(retry)
			tick = rt.C
		}
		select {
		case <-s.dead:
			return readyAt, true
		case <-p.ctx.Done():
			return readyAt, true
		case <-tick:
			rt, tick = nil, nil
			if p.view.Load().state == StateNoModel {
				p.log.Info("no model loaded; asking the sidecar to reload", "pid", s.pid, "next_try_in", retry)
				_ = s.signal(syscallSIGHUP)
				retry = min(2*retry, p.cfg.RestartBackoffMax)
			}
		case <-s.modelChanged: // re-check the state at the top of the loop
		}
	}
}

// setModel publishes the session and the model it reports.
func (p *Predictor) setModel(s *session, info *rpc.Info) {
	p.update(func(v *view) {
		if v.state == StateClosed {
			return // Close is stopping this session; keep new calls on the fallback
		}
		v.sess, v.pid = s, s.pid
		if info.Model == nil {
			v.state, v.version, v.variant, v.loadedAt = StateNoModel, "", "", time.Time{}
			v.modelLayout, v.orderErr = featureLayout{}, nil
			if info.Error != nil {
				v.lastErr = *info.Error
			}
			return
		}
		m := info.Model
		v.modelLayout, v.orderErr = newLayout(m.Features), nil
		switch {
		case p.cfg.Features != nil:
			if !equalStrings(p.cfg.Features, m.Features) {
				v.orderErr = orderMismatch(p.cfg.Features, m.Version, m.Features)
			}
		case !equalStrings(v.layout.names, m.Features):
			p.log.Info("feature order from the model", "features", m.Features, "was", v.layout.names)
			v.layout = v.modelLayout
		}
		v.state, v.version, v.variant, v.threshold = StateReady, m.Version, m.Variant, m.Threshold
		v.loadedAt, _ = time.Parse(time.RFC3339Nano, m.LoadedAt)
		if v.loadedAt.IsZero() {
			v.loadedAt = time.Now()
		}
	})
	p.m.modelInfo.Reset()
	if err := p.view.Load().orderErr; err != nil && info.Model != nil {
		p.log.Error("feature order mismatch: Decide answers from the fallback (reason feature_order) until it is fixed; DecideNamed is unaffected",
			"bot_features", p.cfg.Features, "model_features", info.Model.Features, "version", info.Model.Version, "err", err)
	}
	if info.Model != nil {
		p.m.modelInfo.WithLabelValues(info.Model.Version, info.Model.Variant).Set(1)
		p.drift.ModelLoaded(info.Model.Version, info.Model.Path)
		p.log.Info("sidecar serving model", "pid", s.pid, "version", info.Model.Version, "variant", info.Model.Variant, "threshold", info.Model.Threshold)
	} else {
		msg := "unknown"
		if info.Error != nil {
			msg = *info.Error
		}
		p.log.Warn("sidecar has no usable model; answering from the fallback and retrying", "pid", s.pid, "why", msg)
	}
	p.replicaOnModel(s, info)
	select {
	case s.modelChanged <- struct{}{}:
	default:
	}
}

func (p *Predictor) setDown(err error) {
	p.update(func(v *view) {
		v.state, v.sess, v.pid = StateDown, nil, 0
		if err != nil {
			v.lastErr = err.Error()
		}
	})
}

func (p *Predictor) setClosed() {
	p.update(func(v *view) { v.state, v.sess, v.pid = StateClosed, nil, 0 })
}

// backoff is RestartBackoffMin·2^(n−1), capped at RestartBackoffMax.
func (p *Predictor) backoff(n int) time.Duration {
	d := p.cfg.RestartBackoffMin
	for i := 1; i < n && d < p.cfg.RestartBackoffMax; i++ {
		d *= 2
	}
	return min(d, p.cfg.RestartBackoffMax)
}

// sleep waits d unless Close is called first (then it returns false).
func (p *Predictor) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
