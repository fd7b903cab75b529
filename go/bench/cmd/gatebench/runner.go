//go:build unix

package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/stats"
)

// errFallback marks a call that got an answer, but from the fallback heuristic
// rather than the model: it counts as answered, and separately as a fallback.
var errFallback = errors.New("answered by the fallback")

// target is one design under test: call asks it for one decision.
type target interface {
	call(ctx context.Context, rec []float32) error
	close() error
}

// pider is implemented by targets that run a child process whose memory is sampled.
type pider interface{ pid() int }

// batcher is implemented by coalescing clients; it reports records and batches written.
type batcher interface {
	batchStats() (records, batches int64)
}

// Percentiles of one latency sample, in microseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Result is one target measured at one concurrency.
type Result struct {
	Target      string      `json:"target"`
	Concurrency int         `json:"concurrency"`
	Calls       int64       `json:"calls"`
	Failures    int64       `json:"failures"`
	Fallbacks   int64       `json:"fallbacks"`
	Seconds     float64     `json:"seconds"`
	PerSecond   float64     `json:"per_second"`
	LatencyUS   Percentiles `json:"latency_us"`
	MeanBatch   float64     `json:"mean_batch,omitempty"`
	ChildRSSKB  int64       `json:"child_rss_kb,omitempty"`
	// CPUPerCallUS is the CPU time spent per answered call during the
	// measurement, in microseconds: gatebench's own process (the load
	// goroutines and, for in-process targets, the whole decision) plus the
	// target's server process (the sidecar, the echo, the HTTP service),
	// whose part ServerCPUPerCallUS gives. Either side's polling counts.
	// With every core busy, decisions/s cannot exceed cores ÷ this.
	CPUPerCallUS       float64 `json:"cpu_us_per_call,omitempty"`
	ServerCPUPerCallUS float64 `json:"server_cpu_us_per_call,omitempty"`
	// SetupMS is how long the target took to become ready (predictor.New, or exec → ready).
	SetupMS    float64 `json:"setup_ms,omitempty"`
	FirstError string  `json:"first_error,omitempty"`
}

// plan says how long (or how many calls) to measure.
type plan struct {
	warmup   time.Duration
	duration time.Duration
	calls    int // when > 0, a fixed number of calls instead of a duration
}

// records is a fixed pool of feature vectors in the bot's ranges; calls cycle
// through it so no answer can be cached and every target sees the same inputs.
func records(n int, seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([][]float32, n)
	for i := range out {
		out[i] = []float32{
			float32(rng.Float64()*2 - 1),
			float32(rng.Float64()*2 - 1),
			float32(rng.NormFloat64() * 1.5),
		}
	}
	return out
}

// measure runs conc goroutines calling t and summarises their latencies.
func measure(ctx context.Context, name string, t target, conc int, p plan, recs [][]float32) Result {
	if p.warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, p.warmup)
		runLoad(wctx, t, conc, 0, recs, nil)
		cancel()
	}
	var sampler *rssSampler
	if pt, ok := t.(pider); ok {
		sampler = startRSSSampler(pt.pid, 100*time.Millisecond)
	}
	var rec0, bat0 int64
	if b, ok := t.(batcher); ok {
		rec0, bat0 = b.batchStats()
	}
	mctx := ctx
	if p.calls == 0 {
		var cancel context.CancelFunc
		mctx, cancel = context.WithTimeout(ctx, p.duration)
		defer cancel()
	}
	st := &loadStats{}
	cpu := startCPUMeter(t)
	start := time.Now()
	lat := runLoad(mctx, t, conc, p.calls, recs, st)
	elapsed := time.Since(start).Seconds()
	self, server, cpuErr := cpu.stop()

	r := Result{
		Target:      name,
		Concurrency: conc,
		Calls:       int64(len(lat)),
		Failures:    st.failures.Load(),
		Fallbacks:   st.fallbacks.Load(),
		Seconds:     elapsed,
		LatencyUS:   percentiles(lat),
	}
	if elapsed > 0 {
		r.PerSecond = float64(len(lat)) / elapsed
	}
	if n := float64(len(lat)); n > 0 && cpuErr == nil {
		r.CPUPerCallUS = float64((self + server).Microseconds()) / n
		r.ServerCPUPerCallUS = float64(server.Microseconds()) / n
	}
	if e := st.firstErr.Load(); e != nil {
		r.FirstError = e.(error).Error()
	}
	if b, ok := t.(batcher); ok {
		rec1, bat1 := b.batchStats()
		if bat1 > bat0 {
			r.MeanBatch = float64(rec1-rec0) / float64(bat1-bat0)
		}
	}
	if sampler != nil {
		r.ChildRSSKB = sampler.stop()
	}
	return r
}

type loadStats struct {
	failures  atomic.Int64
	fallbacks atomic.Int64
	firstErr  atomic.Value
}

// runLoad calls t from conc goroutines until ctx ends or, when calls > 0,
// until that many calls were made. Latencies of answered calls are returned
// when st is not nil; failed calls are counted, not timed.
func runLoad(ctx context.Context, t target, conc, calls int, recs [][]float32, st *loadStats) []time.Duration {
	var (
		wg      sync.WaitGroup
		claimed atomic.Int64
		mu      sync.Mutex
		all     []time.Duration
	)
	for g := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			if st != nil {
				local = make([]time.Duration, 0, 1<<14)
			}
			for i := g * 7919; ctx.Err() == nil; i++ {
				if calls > 0 && claimed.Add(1) > int64(calls) {
					break
				}
				t0 := time.Now()
				err := t.call(ctx, recs[i%len(recs)])
				d := time.Since(t0)
				if st == nil {
					continue
				}
				switch {
				case err == nil:
					local = append(local, d)
				case ctx.Err() != nil && calls == 0:
					// The measurement window closed mid-call: neither a failure nor a sample.
				case errors.Is(err, errFallback):
					st.fallbacks.Add(1)
					local = append(local, d)
				default:
					st.failures.Add(1)
					st.firstErr.CompareAndSwap(nil, err)
				}
			}
			if st != nil {
				mu.Lock()
				all = append(all, local...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return all
}

// percentiles uses the nearest-rank definition on the full sample.
func percentiles(lat []time.Duration) Percentiles {
	if len(lat) == 0 {
		return Percentiles{}
	}
	slices.Sort(lat)
	rank := func(q float64) float64 { return stats.Micros(stats.Percentile(lat, q)) }
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return Percentiles{
		P50:  rank(0.50),
		P90:  rank(0.90),
		P99:  rank(0.99),
		P999: rank(0.999),
		Max:  us(lat[len(lat)-1]),
		Mean: us(sum) / float64(len(lat)),
	}
}

func us(d time.Duration) float64 { return stats.Micros(d) }
