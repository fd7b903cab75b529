//go:build unix

// Command gatebench measures, from a Go client and in one run, the decision
// latency and throughput of sigmagate and of the designs it is compared with:
// the reference design (a Python process per prediction), a bare echo process
// on the same pipes (the floor), the same model behind an HTTP+JSON service,
// and the fallback heuristic alone. It also measures sparse traffic (one
// decision, then an idle gap), a busy host (CPU-bound processes alongside),
// reloads under load, the sidecar's start-up time and memory, and
// onnxruntime's own cost per row at several rows per call (what batching can
// spare). It prints one JSON document; the Python package bench/ turns it
// into docs/BENCHMARKS.md.
//
//	gatebench -model DIR -echo build/bin/pipeecho -http http://127.0.0.1:PORT/predict -out results.json
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

// Report is gatebench's output.
type Report struct {
	Started    time.Time      `json:"started"`
	GoVersion  string         `json:"go_version"`
	GOMAXPROCS int            `json:"gomaxprocs"`
	Config     map[string]any `json:"config"`
	Decisions  []Result       `json:"decisions"`
	Reload     *ReloadResult  `json:"reload,omitempty"`
	Sidecar    *SidecarResult `json:"sidecar,omitempty"`
	Sparse     []SparseResult `json:"sparse,omitempty"`
	// Busy is sigmagate and the floor at one goroutine beside CPU hogs.
	Busy []Result `json:"busy,omitempty"`
	// ORTBatches is onnxruntime's cost per row by rows per call (with the
	// onnxruntime target).
	ORTBatches []BatchCost       `json:"onnxruntime_batches,omitempty"`
	Skipped    map[string]string `json:"skipped"`
}

var allTargets = []string{"fallback", "echo", "infer", "sigmagate", "replica", "replica-fallback", "onnxruntime", "http", "reference"}

func main() {
	runHogIfAsked()
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatebench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gatebench: -cpuprofile:", err)
			os.Exit(2)
		}
		defer f.Close()
	}
	rep := run(ctx, o, log)
	pprof.StopCPUProfile()
	if err := writeReport(o.out, rep); err != nil {
		fmt.Fprintln(os.Stderr, "gatebench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o *options, log *slog.Logger) *Report {
	rep := &Report{
		Started:    time.Now().UTC(),
		GoVersion:  runtime.Version(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Skipped:    map[string]string{},
		Config: map[string]any{
			"model": o.model, "concurrency": o.concurrency, "warmup_s": o.warmup.Seconds(),
			"duration_s": o.duration.Seconds(), "ref_calls": o.refCalls, "reloads": o.reloads,
			"reload_concurrency": o.reloadConc, "startup_runs": o.startupRuns,
			"sparse_gaps_us": gapsUS(o.sparseGaps), "sparse_calls": o.sparseCalls, "busy_hogs": o.busyHogs,
		},
	}
	recs := records(1024, 1)
	for _, name := range allTargets {
		if !o.targets[name] {
			continue
		}
		for _, conc := range o.concurrency {
			if ctx.Err() != nil {
				return rep
			}
			log.Info("measuring", "target", name, "goroutines", conc)
			r, err := measureTarget(ctx, o, name, conc, recs, log)
			if err != nil {
				log.Error("target not measured", "target", name, "goroutines", conc, "err", err)
				rep.Skipped[fmt.Sprintf("%s@%d", name, conc)] = err.Error()
				continue
			}
			log.Info("measured", "target", name, "goroutines", conc, "per_s", int(r.PerSecond),
				"p50_us", r.LatencyUS.P50, "p99_us", r.LatencyUS.P99, "failures", r.Failures)
			rep.Decisions = append(rep.Decisions, r)
		}
	}
	if o.targets["onnxruntime"] && len(o.ortBatches) > 0 && ctx.Err() == nil {
		b, err := measureORTBatches(ctx, o, recs, log)
		if err != nil {
			rep.Skipped["onnxruntime_batches"] = err.Error()
		}
		rep.ORTBatches = b
	}
	if len(o.sparseGaps) > 0 && ctx.Err() == nil {
		sp, err := measureSparse(ctx, o, recs, log)
		if err != nil {
			rep.Skipped["sparse"] = err.Error()
		}
		rep.Sparse = sp
	}
	if o.busyHogs > 0 && ctx.Err() == nil {
		b, err := measureBusy(ctx, o, recs, log)
		if err != nil {
			rep.Skipped["busy"] = err.Error()
		}
		rep.Busy = b
	}
	if o.startupRuns > 0 && ctx.Err() == nil {
		s, err := measureSidecar(ctx, o, recs, log)
		if err != nil {
			rep.Skipped["sidecar"] = err.Error()
		}
		rep.Sidecar = s
	}
	if o.reloadLink != "" && ctx.Err() == nil {
		r, err := measureReload(ctx, o, recs, log)
		if err != nil {
			rep.Skipped["reload"] = err.Error()
		}
		rep.Reload = r
	}
	return rep
}

// measureORTBatches measures onnxruntime's cost per row at each of
// -ort-batches rows per call, for up to a second each.
func measureORTBatches(ctx context.Context, o *options, recs [][]float32, log *slog.Logger) ([]BatchCost, error) {
	t, err := newORTTarget(o.ortLib, o.model)
	if err != nil {
		return nil, err
	}
	defer t.close()
	log.Info("measuring onnxruntime's cost per row", "rows_per_call", o.ortBatches)
	return t.batchCosts(ctx, recs, o.ortBatches, min(o.duration, time.Second))
}

func gapsUS(gaps []time.Duration) []float64 {
	out := make([]float64, len(gaps))
	for i, g := range gaps {
		out[i] = us(g)
	}
	return out
}

func writeReport(path string, rep *Report) error {
	var w io.Writer = os.Stdout
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}
