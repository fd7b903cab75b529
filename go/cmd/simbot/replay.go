package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sigmagate/sigmagate/go/predictor"
)

func rateText(r float64) string {
	if r == 0 {
		return "full speed"
	}
	return fmt.Sprintf("%.0f decisions/s", r)
}

// replay feeds signal indexes to the workers at the configured rate (looping
// over the recorded signals) until ctx ends, and collects per-worker stats.
func replay(ctx context.Context, p *predictor.Predictor, signals [][]float32, o options) []*workerStats {
	jobs := make(chan int, o.workers*4)
	stats := make([]*workerStats, o.workers)
	var wg sync.WaitGroup
	for w := range stats {
		stats[w] = newWorkerStats()
		wg.Add(1)
		go func(ws *workerStats) {
			defer wg.Done()
			for i := range jobs {
				var d predictor.Decision
				var err error
				if o.threshold > 0 {
					d, err = p.DecideThreshold(context.Background(), marketFeatures(signals[i]), o.threshold)
				} else {
					d, err = p.Decide(context.Background(), marketFeatures(signals[i]))
				}
				ws.add(d, err)
			}
		}(stats[w])
	}
	var progress <-chan time.Time
	if o.progress > 0 {
		t := time.NewTicker(o.progress)
		defer t.Stop()
		progress = t.C
	}
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) / o.rate)
	}
	next := time.Now()
	start := next
	sent := 0
feed:
	for {
		if interval > 0 {
			next = next.Add(interval)
			if wait := time.Until(next); wait > time.Millisecond { // sleep in ≥1 ms steps; the schedule catches up
				select {
				case <-ctx.Done():
					break feed
				case <-time.After(wait):
				}
			}
		}
		select {
		case <-ctx.Done():
			break feed
		case jobs <- sent % len(signals):
			sent++
		case <-progress:
			h := p.Health()
			fmt.Fprintf(os.Stderr, "simbot: %6.1fs  %8d decisions  sidecar %-8s pid %-7d model %-28q replica %d (verified %q)  heuristic %d\n",
				time.Since(start).Seconds(), sent, h.State, h.PID, h.ModelVersion, h.ReplicaAnswers, h.Replica.Version, h.Fallbacks)
		}
	}
	close(jobs)
	wg.Wait()
	return stats
}
