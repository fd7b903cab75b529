//go:build unix

package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// SidecarResult is the sidecar's start-up time and memory.
type SidecarResult struct {
	// StartupMS is the time from exec to the `ready` notification, one entry per start.
	StartupMS []float64 `json:"startup_ms"`
	// StartupMedianMS is the median of StartupMS.
	StartupMedianMS float64 `json:"startup_median_ms"`
	// IdleRSSKB is the sidecar's resident memory one second after `ready`, with no load.
	IdleRSSKB int64 `json:"idle_rss_kb"`
	// LoadRSSKB is the largest resident memory sampled during a burst of load,
	// and LoadHWMKB the kernel's peak (VmHWM) after it.
	LoadRSSKB int64 `json:"load_rss_kb"`
	LoadHWMKB int64 `json:"load_hwm_kb"`
	// LoadGoroutines and LoadSeconds describe that burst.
	LoadGoroutines int     `json:"load_goroutines"`
	LoadSeconds    float64 `json:"load_seconds"`
}

// measureSidecar starts `infer` startupRuns times, timing exec → `ready`; on
// the last start it reads idle memory, then runs load and reads memory again.
func measureSidecar(ctx context.Context, o *options, recs [][]float32, log *slog.Logger) (*SidecarResult, error) {
	res := &SidecarResult{}
	for i := range o.startupRuns {
		logw, err := stderrFile(o.logPath(fmt.Sprintf("startup-%d.log", i)))
		if err != nil {
			return res, err
		}
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		c, took, err := startPipeClient(sctx, o.inferArgv(o.model), o.root, logw, true, pipeLimits)
		cancel()
		if err != nil {
			logw.Close()
			return res, fmt.Errorf("start %d of the sidecar: %w", i+1, err)
		}
		res.StartupMS = append(res.StartupMS, float64(took.Microseconds())/1e3)
		last := i == o.startupRuns-1
		if last {
			if err := sidecarMemory(ctx, o, c, res, recs); err != nil {
				log.Warn("sidecar memory", "err", err)
			}
		}
		_ = c.close()
		logw.Close()
	}
	sorted := slices.Clone(res.StartupMS)
	slices.Sort(sorted)
	res.StartupMedianMS = sorted[len(sorted)/2]
	log.Info("sidecar", "startup_median_ms", res.StartupMedianMS, "idle_rss_kb", res.IdleRSSKB, "load_rss_kb", res.LoadRSSKB)
	return res, nil
}

func sidecarMemory(ctx context.Context, o *options, c *pipeClient, res *SidecarResult, recs [][]float32) error {
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	rss, _, err := memKB(c.pid())
	if err != nil {
		return err
	}
	res.IdleRSSKB = rss
	res.LoadGoroutines = o.concurrency[len(o.concurrency)-1]
	dur := max(o.duration, time.Second)
	r := measure(ctx, "infer", c, res.LoadGoroutines, plan{duration: dur}, recs)
	res.LoadRSSKB, res.LoadSeconds = r.ChildRSSKB, r.Seconds
	_, res.LoadHWMKB, err = memKB(c.pid())
	return err
}
