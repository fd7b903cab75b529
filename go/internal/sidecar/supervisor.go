package sidecar

import (
	"context"
	"fmt"
	"time"
)

// Supervise owns the sidecar's life: start, handshake, serve, and on any
// exit restart with capped exponential backoff, until ctx ends; then it
// stops the last session gracefully (stdin EOF and SIGTERM to its process
// group, SIGKILL after KillGrace) and returns once the process is reaped.
// It reports through o.Hooks.
func Supervise(ctx context.Context, o *Options) {
	h := &o.Hooks
	failures := 0
	reason := ""
	for {
		if ctx.Err() != nil {
			h.Closed()
			return
		}
		h.Starting(reason)
		s, err := Start(o)
		if err != nil {
			h.Error("start")
			h.StartFailed(err)
			reason = "start_failed"
			failures++
			if !sleep(ctx, backoff(failures, o.BackoffMin, o.BackoffMax)) {
				h.Closed()
				return
			}
			continue
		}
		h.Spawned(s)
		readyAt, served := handshakeAndServe(ctx, o, s)
		if ctx.Err() != nil {
			h.Closed() // new calls fall back at once during the grace period
			s.shutdown(o.KillGrace)
			s.wait()
			h.Closed()
			return
		}
		s.wait()
		reason = s.deadWhy
		h.Ended(s, s.deadErr)
		// A sidecar that served for a full backoff cap was healthy: its
		// crash starts the backoff again from the minimum.
		if served && time.Since(readyAt) >= o.BackoffMax {
			failures = 0
		}
		failures++
		if !sleep(ctx, backoff(failures, o.BackoffMin, o.BackoffMax)) {
			h.Closed()
			return
		}
	}
}

// handshakeAndServe waits for ready, reports it, and keeps the session
// until it dies or ctx ends. While the sidecar has no model it sends SIGHUP
// with backoff, so a model that appears later is picked up.
func handshakeAndServe(ctx context.Context, o *Options, s *Session) (readyAt time.Time, served bool) {
	t := time.NewTimer(o.StartTimeout)
	defer t.Stop()
	select {
	case <-s.ready:
	case <-s.dead:
		return time.Time{}, false
	case <-t.C:
		o.Hooks.Error("start_timeout")
		s.Die("start_timeout", fmt.Errorf("no ready notification within %v; see the sidecar's log lines above, or raise Config.StartTimeout", o.StartTimeout))
		return time.Time{}, false
	case <-ctx.Done():
		return time.Time{}, false
	}
	readyAt = time.Now()

	retry := o.BackoffMin
	var tick <-chan time.Time
	var rt *time.Timer
	defer func() {
		if rt != nil {
			rt.Stop()
		}
	}()
	for {
		if o.Hooks.NoModel() && rt == nil {
			rt = time.NewTimer(retry)
			tick = rt.C
		}
		select {
		case <-s.dead:
			return readyAt, true
		case <-ctx.Done():
			return readyAt, true
		case <-tick:
			rt, tick = nil, nil
			if o.Hooks.NoModel() {
				o.Log.Info("no model loaded; asking the sidecar to reload", "pid", s.pid, "next_try_in", retry)
				_ = s.Reload()
				retry = min(2*retry, o.BackoffMax)
			}
		case <-s.modelChanged: // re-check at the top of the loop
		}
	}
}

// backoff is lo·2^(n−1), capped at hi.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// sleep waits d unless ctx ends first (then it returns false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
