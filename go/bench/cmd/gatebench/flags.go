//go:build unix

package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// gatebench's command line: the options it parses and the paths and argvs
// derived from them.

type options struct {
	root, python, model, echo, httpURL, logdir, out string
	ortLib                                          string
	ortBatches                                      []int // rows per call of the onnxruntime batch-cost runs
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
	maxInFlight                                     int           // sigmagate targets' Config.MaxInFlight (0: default)
	readSpin                                        time.Duration // their Config.ReadSpin (0: default)
	cpuProfile                                      string
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
	fs.StringVar(&o.ortLib, "ort-lib", "", "libonnxruntime.so for the in-process onnxruntime target (empty: skip that target)")
	fs.StringVar(&o.httpURL, "http", "", "URL of the HTTP+JSON prediction service (empty: skip that target)")
	fs.IntVar(&o.httpPID, "http-pid", 0, "pid of the HTTP service, to sample its memory under load")
	fs.StringVar(&o.logdir, "logdir", "", "directory for the children's stderr logs (empty: discard)")
	fs.StringVar(&o.out, "out", "-", "where to write the JSON report (- for stdout)")
	targets := fs.String("targets", strings.Join(allTargets, ","), "targets to measure")
	conc := fs.String("concurrency", "1,8,64", "goroutine counts")
	ortBatches := fs.String("ort-batches", "1,8,32,64", "rows per call for onnxruntime's cost per row, measured with the onnxruntime target (empty: skip)")
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
	fs.IntVar(&o.maxInFlight, "max-in-flight", 0, "predictor Config.MaxInFlight of the sigmagate targets (0: its default)")
	fs.DurationVar(&o.readSpin, "read-spin", 0, "predictor Config.ReadSpin of the sigmagate targets (0: its default; negative: off)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write gatebench's own CPU profile (go tool pprof) to this file")
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
	var err error
	if o.concurrency, err = positiveInts("-concurrency", *conc); err != nil {
		return nil, err
	}
	if len(o.concurrency) == 0 {
		return nil, errors.New("-concurrency: no goroutine count given")
	}
	if o.ortBatches, err = positiveInts("-ort-batches", *ortBatches); err != nil {
		return nil, err
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

// positiveInts parses a comma-separated list of positive integers (empty: none).
func positiveInts(flag, list string) ([]int, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out []int
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a positive integer", flag, s)
		}
		out = append(out, n)
	}
	return out, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
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
