// Command gatebench measures, from a Go client and in one run, the decision
// latency and throughput of sigmagate and of the designs it is compared with:
// the reference design (a Python process per prediction), a bare echo process
// on the same pipes (the floor), the same model behind an HTTP+JSON service,
// and the fallback heuristic alone. It also measures sparse traffic (one
// decision, then an idle gap), a busy host (CPU-bound processes alongside),
// reloads under load and the sidecar's start-up time and memory. It prints one JSON document; the
// Python package bench/ turns it into docs/BENCHMARKS.md.
//
//	gatebench -model DIR -echo build/bin/pipeecho -http http://127.0.0.1:PORT/predict -out results.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	root, python, model, echo, httpURL, logdir, out string
	targets                                         map[string]bool
	concurrency                                     []int
	warmup, duration                                time.Duration
	refCalls                                        map[int]int
	reloadLink, reloadA, reloadB                    string
	reloadEvery                                     time.Duration
	reloads, reloadConc                             int
	startupRuns, httpPID                            int
	sparseGaps                                      []time.Duration
	sparseCalls, busyHogs                           int
}

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
	Busy    []Result          `json:"busy,omitempty"`
	Skipped map[string]string `json:"skipped"`
}

var allTargets = []string{"fallback", "echo", "infer", "sigmagate", "replica", "replica-fallback", "http", "reference"}

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
	rep := run(ctx, o, log)
	if err := writeReport(o.out, rep); err != nil {
		fmt.Fprintln(os.Stderr, "gatebench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("gatebench", flag.ContinueOnError)
	o := &options{}
	root := os.Getenv("SIGMAGATE_ROOT")
	if root == "" {
		root, _ = os.Getwd()
	}
	fs.StringVar(&o.root, "root", root, "repository root (working directory of the Python children)")
	fs.StringVar(&o.python, "python", os.Getenv("SIGMAGATE_PYTHON"), "Python with onnxruntime (default: ROOT/.venv/bin/python)")
	fs.StringVar(&o.model, "model", "", "model directory served by every target (required)")
	fs.StringVar(&o.echo, "echo", "", "path of the pipeecho binary (the floor)")
	fs.StringVar(&o.httpURL, "http", "", "URL of the HTTP+JSON prediction service (empty: skip that target)")
	fs.IntVar(&o.httpPID, "http-pid", 0, "pid of the HTTP service, to sample its memory under load")
	fs.StringVar(&o.logdir, "logdir", "", "directory for the children's stderr logs (empty: discard)")
	fs.StringVar(&o.out, "out", "-", "where to write the JSON report (- for stdout)")
	targets := fs.String("targets", strings.Join(allTargets, ","), "targets to measure")
	conc := fs.String("concurrency", "1,8,64", "goroutine counts")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before each measurement")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measurement time per target and concurrency")
	refCalls := fs.String("ref-calls", "1:16,8:32,64:64", "calls of the reference design per concurrency (each spawns Python)")
	fs.StringVar(&o.reloadLink, "reload-link", "", "symlink the reload benchmark flips (empty: skip it)")
	fs.StringVar(&o.reloadA, "reload-a", "", "first model directory for the reload benchmark")
	fs.StringVar(&o.reloadB, "reload-b", "", "second model directory for the reload benchmark")
	fs.IntVar(&o.reloads, "reloads", 100, "reloads under load")
	fs.DurationVar(&o.reloadEvery, "reload-interval", 50*time.Millisecond, "pause after each confirmed reload")
	fs.IntVar(&o.reloadConc, "reload-concurrency", 8, "goroutines of load during the reload benchmark")
	fs.IntVar(&o.startupRuns, "startup-runs", 5, "sidecar starts to time (0: skip)")
	gaps := fs.String("sparse-gaps", "0,100us,1ms,10ms", "idle gaps after each call for the sparse-traffic runs of sigmagate and echo (empty: skip)")
	fs.IntVar(&o.busyHogs, "busy-hogs", 1, "CPU-bound processes beside sigmagate and echo for the busy-host runs (0: skip)")
	fs.IntVar(&o.sparseCalls, "sparse-calls", 2000, "most calls per sparse-traffic gap (fewer when the gaps would exceed -duration)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.model == "" {
		return nil, errors.New("-model is required")
	}
	if o.python == "" {
		o.python = filepath.Join(o.root, ".venv", "bin", "python")
	}
	o.targets = map[string]bool{}
	for _, t := range strings.Split(*targets, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !contains(allTargets, t) {
			return nil, fmt.Errorf("-targets: unknown target %q (have %s)", t, strings.Join(allTargets, ","))
		}
		o.targets[t] = true
	}
	for _, s := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-concurrency: %q is not a positive integer", s)
		}
		o.concurrency = append(o.concurrency, n)
	}
	for _, g := range strings.Split(*gaps, ",") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		if g == "0" {
			g = "0s"
		}
		d, err := time.ParseDuration(g)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("-sparse-gaps: %q is not a duration such as 1ms", g)
		}
		o.sparseGaps = append(o.sparseGaps, d)
	}
	if o.busyHogs < 0 {
		return nil, errors.New("-busy-hogs must not be negative")
	}
	if o.sparseCalls < 1 {
		return nil, errors.New("-sparse-calls must be at least 1")
	}
	o.refCalls = map[int]int{}
	for _, kv := range strings.Split(*refCalls, ",") {
		k, v, ok := strings.Cut(kv, ":")
		g, err1 := strconv.Atoi(k)
		n, err2 := strconv.Atoi(v)
		if !ok || err1 != nil || err2 != nil || n < 1 {
			return nil, fmt.Errorf("-ref-calls: %q is not GOROUTINES:CALLS", kv)
		}
		o.refCalls[g] = n
	}
	return o, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
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

// measureTarget starts a fresh instance of target name, measures it at conc
// goroutines and stops it, so no target's state leaks into the next.
func measureTarget(ctx context.Context, o *options, name string, conc int, recs [][]float32, log *slog.Logger) (Result, error) {
	logw, err := stderrFile(o.logPath(fmt.Sprintf("%s-%d.log", name, conc)))
	if err != nil {
		return Result{}, err
	}
	defer logw.Close()
	t, p, setup, err := openTarget(ctx, o, name, conc, logw)
	if err != nil {
		return Result{}, err
	}
	r := measure(ctx, name, t, conc, p, recs)
	r.SetupMS = float64(setup.Microseconds()) / 1e3
	if cerr := t.close(); cerr != nil {
		log.Warn("closing target", "target", name, "err", cerr)
	}
	return r, nil
}

// openTarget starts target name for conc goroutines; it returns how to
// measure it and how long it took to become ready.
func openTarget(ctx context.Context, o *options, name string, conc int, logw io.Writer) (target, plan, time.Duration, error) {
	p := plan{warmup: o.warmup, duration: o.duration}
	var (
		t     target
		err   error
		setup time.Duration
	)
	switch name {
	case "echo":
		if o.echo == "" {
			return nil, p, 0, errors.New("no -echo binary given")
		}
		t, _, err = startPipeClient(ctx, []string{o.echo}, o.root, logw, false, pipeLimits)
	case "infer":
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		t, setup, err = startPipeClient(sctx, o.inferArgv(o.model), o.root, logw, true, pipeLimits)
	case "http":
		if o.httpURL == "" {
			return nil, p, 0, errors.New("no -http URL given")
		}
		t = newHTTPTarget(o.httpURL, conc, o.httpPID)
	case "reference":
		n, ok := o.refCalls[conc]
		if !ok {
			return nil, p, 0, fmt.Errorf("no -ref-calls entry for %d goroutines", conc)
		}
		p = plan{calls: n}
		t = &refTarget{argv: []string{o.python, filepath.Join(o.root, "bench", "reference_predict.py"), "--model", o.model}, dir: o.root}
	case "sigmagate":
		var st *sigmagateTarget
		st, err = newSigmagateTarget(ctx, o, o.model, logw)
		if err == nil {
			setup = st.newTook
			t = st
		}
	case "replica", "replica-fallback":
		var st *sigmagateTarget
		st, err = newReplicaTarget(ctx, o, logw, name == "replica")
		if err == nil {
			t = st
		}
	case "fallback":
		var st *sigmagateTarget
		st, err = newFallbackTarget(ctx, o, logw)
		if err == nil {
			t = st
		}
	default:
		err = fmt.Errorf("unknown target %q", name)
	}
	if err != nil {
		return nil, p, 0, err
	}
	return t, p, setup, nil
}

func gapsUS(gaps []time.Duration) []float64 {
	out := make([]float64, len(gaps))
	for i, g := range gaps {
		out[i] = us(g)
	}
	return out
}

func (o *options) inferArgv(model string) []string {
	return []string{o.python, "-m", "infer", "--model", model}
}

func (o *options) logPath(name string) string {
	if o.logdir == "" {
		return ""
	}
	return filepath.Join(o.logdir, name)
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
