//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// SparseResult is one design asked for one decision at a time with an idle
// gap after each answer, as a bot sees it between bursts of candidate trades.
type SparseResult struct {
	Target    string      `json:"target"`
	GapUS     float64     `json:"gap_us"`
	Calls     int64       `json:"calls"`
	Failures  int64       `json:"failures"`
	Fallbacks int64       `json:"fallbacks"`
	LatencyUS Percentiles `json:"latency_us"`
	// FirstError is the first failed call's error, if any.
	FirstError string `json:"first_error,omitempty"`
}

// sparseTargets are the designs measured under sparse traffic: sigmagate and
// its floor. Back-to-back calls find both ends of the pipe awake (each polls
// for a while after an answer); after a longer gap both have gone to sleep,
// and every decision pays two scheduler wake-ups.
var sparseTargets = []string{"sigmagate", "echo"}

// measureSparse measures every sparse target at every gap, each target
// freshly started and warmed up back to back first.
func measureSparse(ctx context.Context, o *options, recs [][]float32, log *slog.Logger) ([]SparseResult, error) {
	var out []SparseResult
	var errs []error
	for _, name := range sparseTargets {
		if !o.targets[name] {
			continue
		}
		rs, err := measureSparseTarget(ctx, o, name, recs, log)
		out = append(out, rs...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return out, errors.Join(errs...)
}

func measureSparseTarget(ctx context.Context, o *options, name string, recs [][]float32, log *slog.Logger) ([]SparseResult, error) {
	logw, err := stderrFile(o.logPath(fmt.Sprintf("sparse-%s.log", name)))
	if err != nil {
		return nil, err
	}
	defer logw.Close()
	t, _, _, err := openTarget(ctx, o, name, 1, logw)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := t.close(); cerr != nil {
			log.Warn("closing target", "target", name, "err", cerr)
		}
	}()
	if o.warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, o.warmup)
		runLoad(wctx, t, 1, 0, recs, nil)
		cancel()
	}
	var out []SparseResult
	for _, gap := range o.sparseGaps {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		// As many calls as fit the measurement time, within [50, sparseCalls].
		n := min(o.sparseCalls, max(50, int(o.duration/(gap+50*time.Microsecond))))
		r := measurePaced(ctx, name, t, gap, n, recs)
		log.Info("measured sparse", "target", name, "gap", gap, "calls", r.Calls,
			"p50_us", r.LatencyUS.P50, "p99_us", r.LatencyUS.P99)
		out = append(out, r)
	}
	return out, nil
}

// measurePaced makes n calls from one goroutine, idling gap after each answer.
func measurePaced(ctx context.Context, name string, t target, gap time.Duration, n int, recs [][]float32) SparseResult {
	r := SparseResult{Target: name, GapUS: us(gap)}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		t0 := time.Now()
		err := t.call(ctx, recs[i%len(recs)])
		d := time.Since(t0)
		switch {
		case err == nil:
			lat = append(lat, d)
		case errors.Is(err, errFallback):
			r.Fallbacks++
			lat = append(lat, d)
		default:
			r.Failures++
			if r.FirstError == "" {
				r.FirstError = err.Error()
			}
		}
		if gap > 0 {
			time.Sleep(gap)
		}
	}
	r.Calls = int64(len(lat))
	r.LatencyUS = percentiles(lat)
	return r
}
