// Command gatecheck is the integration, stress, edge-case, latency and
// approval-rate harness for a model directory. It starts the sidecar through
// package predictor, exactly as the bot does, and reports:
//
//   - agreement: the predictor's probabilities and decisions against
//     onnxruntime run directly on the model file, on a sample drawn from the
//     manifest's feature_stats;
//
//   - edge cases: NaN, ±Inf, huge values and wrong lengths;
//
//   - stress: latency p50/p99/p99.9 and throughput at 1, 8 and 64 goroutines;
//     calls answered after the hedge delay because the sidecar was slower
//     (by the verified replica, or the fallback for a model with none) are
//     counted as hedged and pass, any other fallback fails;
//
//   - approval rates across thresholds, for the model and the fallback.
//
//     gatecheck -model models/current [-json] [-sample 2000] [-duration 2s]
//
// Exit status: 0 every check passed; 1 a check failed (or could not run: no
// sidecar found, sidecar not ready), and the report names each failed check
// with its reason; 2 bad arguments or an unreadable model directory. With
// -json, "pass" is false and "failures" lists the failed checks whenever a
// report is printed with exit status 1 (no sidecar found prints none).
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
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sigmagate/sigmagate/go/defaults"
	"github.com/sigmagate/sigmagate/go/manifest"
	"github.com/sigmagate/sigmagate/go/predictor"
)

// Report is the -json output.
type Report struct {
	Model        string         `json:"model"`
	Version      string         `json:"version"`
	Features     []string       `json:"features"`
	Threshold    float64        `json:"default_threshold"`
	StartupMs    float64        `json:"startup_ms"`
	Agreement    Agreement      `json:"agreement"`
	EdgeCases    []EdgeCase     `json:"edge_cases"`
	Stress       []Stress       `json:"stress"`
	Approval     []ApprovalRate `json:"approval_rates"`
	Health       any            `json:"health"`
	Pass         bool           `json:"pass"`               // false when a check failed: exit status 1
	Failures     []string       `json:"failures,omitempty"` // "<check>: <reason>", one per failed check
	ApprovalErr  string         `json:"approval_error,omitempty"`
	StateAtStart string         `json:"state_at_start"`
	ChecksRun    bool           `json:"checks_run"` // false: the sidecar was not ready, Failures says why
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gatecheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "", "model directory or models/current (required)")
	python := fs.String("python", "", "Python with onnxruntime for the reference scores and the sidecar (default: automatic detection)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	n := fs.Int("sample", 2000, "records in the agreement and approval sample")
	seed := fs.Uint64("seed", 1, "sample seed")
	dur := fs.Duration("duration", 2*time.Second, "stress duration per concurrency level")
	levels := fs.String("goroutines", "1,8,64", "stress concurrency levels")
	thresholds := fs.String("thresholds", "0.3,0.4,0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.9", "approval-rate thresholds")
	timeout := fs.Duration("timeout", predictor.DefaultTimeout, "per-prediction timeout")
	verbose := fs.Bool("v", false, "show the predictor's and sidecar's logs")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: gatecheck -model DIR [flags]

Starts the sidecar on DIR through package predictor and checks it: agreement
with onnxruntime run directly on the model file, edge cases (NaN, ±Inf, huge
values, wrong lengths), stress at each concurrency level, approval rates.

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), `
Exit status:
  0  every check passed (the report ends "PASS: every check passed")
  1  a check failed or could not run (no sidecar found, sidecar not ready);
     the report marks it FAIL and ends "FAIL: <check>: <reason>; ...",
     and -json has "pass": false and "failures": ["<check>: <reason>", ...]
  2  bad arguments or an unreadable model directory
`)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gatecheck: "+format+"\n", a...)
		return 2
	}
	if *model == "" {
		return usage("-model is required (a model directory, e.g. models/current)")
	}
	// Values that cannot make a meaningful check are refused here: run, they
	// would panic (negative goroutines) or report a failed check that is not
	// the model's fault.
	if *n < 1 {
		return usage("-sample %d: must be at least 1", *n)
	}
	if *dur <= 0 {
		return usage("-duration %v: must be positive", *dur)
	}
	if *timeout <= 0 {
		return usage("-timeout %v: must be positive", *timeout)
	}
	lv, err := parseList(*levels, strconv.Atoi)
	if err != nil {
		return usage("-goroutines: %v", err)
	}
	for _, g := range lv {
		if g < 1 {
			return usage("-goroutines %q: %d must be at least 1", *levels, g)
		}
	}
	th, err := parseList(*thresholds, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
	if err != nil {
		return usage("-thresholds: %v", err)
	}
	for _, t := range th {
		if !(t >= 0 && t <= 1) { // also refuses NaN
			return usage("-thresholds %q: %v is outside [0, 1]", *thresholds, t)
		}
	}
	dir, err := filepath.EvalSymlinks(*model)
	if err != nil {
		return usage("-model %s: %v", *model, err)
	}
	m, err := manifest.Load(dir)
	if err != nil {
		return usage("-model %s: %v", *model, err)
	}
	var command []string
	workdir := ""
	if *python != "" {
		// The sidecar runs in the checkout, not here: a relative path given
		// on the command line means this directory.
		if strings.ContainsRune(*python, filepath.Separator) {
			if *python, err = filepath.Abs(*python); err != nil {
				return usage("-python: %v", err)
			}
		}
		command = []string{*python, "-m", "infer"}
	} else if argv, d, err := predictor.DetectSidecar(); err == nil {
		command, workdir = argv, d
		if len(argv) == 3 && argv[1] == "-m" {
			*python = argv[0]
		}
	} else {
		fmt.Fprintln(stderr, "gatecheck:", err)
		return 1
	}
	if workdir == "" && *python != "" {
		if argv, d, err := predictor.DetectSidecar(); err == nil && len(argv) > 0 {
			workdir = d
		}
	}
	logLevel := slog.LevelWarn
	if *verbose {
		logLevel = slog.LevelDebug
	}
	ctx := context.Background()
	t0 := time.Now()
	// The sidecar is given dir, not *model: the directory whose manifest was
	// read and whose ONNX file the agreement check scores. *model may be a
	// `current` symlink that moves meanwhile, or a path like link/../m that
	// resolves differently once made absolute.
	p, err := predictor.New(ctx, predictor.Config{
		Command: command, Dir: workdir, ModelDir: dir, Timeout: *timeout,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel})),
	})
	if err != nil {
		return usage("%v", err)
	}
	defer p.Close()
	rep := Report{Model: dir, Version: m.Version, Features: m.Features, Threshold: m.DefaultThreshold,
		StartupMs: float64(time.Since(t0).Microseconds()) / 1e3, StateAtStart: string(p.Health().State)}
	if h := p.Health(); h.State != predictor.StateReady {
		// Every check would only measure the fallback: report the cause alone.
		rep.Failures = append(rep.Failures, fmt.Sprintf("sidecar not ready: %s (%s); no check was run", h.State, h.LastError))
		rep.Health = h
		return report(stdout, &rep, *asJSON)
	}
	rep.ChecksRun = true
	recs := sample(m, *n, *seed)
	rep.Agreement = checkAgreement(ctx, p, *python, dir, m, recs)
	rep.EdgeCases = checkEdgeCases(ctx, p, m)
	for _, g := range lv {
		rep.Stress = append(rep.Stress, stress(ctx, p, recs, g, *dur))
	}
	if rep.Approval, err = approvalRates(ctx, p, m.Features, recs, th, m.DefaultThreshold); err != nil {
		rep.ApprovalErr = err.Error()
	}
	rep.Health = p.Health()
	rep.Failures = append(rep.Failures, failures(&rep)...)
	return report(stdout, &rep, *asJSON)
}

// report prints rep (as JSON, or for a reader) and returns the exit status.
func report(stdout io.Writer, rep *Report, asJSON bool) int {
	rep.Pass = len(rep.Failures) == 0
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printReport(stdout, rep)
	}
	if !rep.Pass {
		return 1
	}
	return 0
}

// failures names each failed check of r with the reason it failed.
func failures(r *Report) []string {
	var out []string
	if a := r.Agreement; !a.Pass {
		why := a.Error
		if why == "" {
			why = fmt.Sprintf("max |Δp| %.3g (tolerance %.0e), %d decisions differ, %d fallbacks",
				a.MaxAbsDiff, defaults.CheckVectorTolerance, a.DecisionsOff, a.Fallbacks)
		}
		out = append(out, "agreement with onnxruntime: "+why)
	}
	for _, e := range r.EdgeCases {
		if !e.Pass {
			out = append(out, fmt.Sprintf("edge case %s: want %s, got %s", e.Name, e.Want, e.Got))
		}
	}
	for _, s := range r.Stress {
		if !s.Pass {
			out = append(out, fmt.Sprintf("stress at %d goroutines: %d fallbacks in %d decisions", s.Goroutines, s.Fallbacks, s.Decisions))
		}
	}
	if r.ApprovalErr != "" {
		out = append(out, "approval rates: "+r.ApprovalErr)
	}
	return out
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func mark(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func printReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "gatecheck %s (version %s, features %v, default threshold %.3g)\n", r.Model, r.Version, r.Features, r.Threshold)
	fmt.Fprintf(w, "sidecar up in %.0f ms, state %s\n\n", r.StartupMs, r.StateAtStart)
	if !r.ChecksRun {
		fmt.Fprintf(w, "FAIL: %s\n", strings.Join(r.Failures, "; "))
		return
	}
	a := r.Agreement
	fmt.Fprintf(w, "%s agreement with onnxruntime: %d records, max |Δp| %.3g, %d decisions differ, %d hedged, %d fallbacks %s\n\n",
		mark(a.Pass), a.Records, a.MaxAbsDiff, a.DecisionsOff, a.Hedged, a.Fallbacks, a.Error)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "edge case\twant\tgot\t")
	for _, e := range r.EdgeCases {
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\n", mark(e.Pass), e.Name, e.Want, e.Got, e.Detail)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "goroutines\tdecisions/s\tp50 µs\tp99 µs\tp99.9 µs\thedged\tfallbacks\t")
	for _, s := range r.Stress {
		fmt.Fprintf(tw, "%d\t%.0f\t%.1f\t%.1f\t%.1f\t%d\t%d\t\n", s.Goroutines, s.PerSecond, s.P50us, s.P99us, s.P999us, s.Hedged, s.Fallbacks)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "threshold\tmodel approves\tfallback approves\t")
	for _, ar := range r.Approval {
		def := ""
		if ar.Default {
			def = " (default)"
		}
		fmt.Fprintf(tw, "%.2f%s\t%.1f%%\t%.1f%%\t\n", ar.Threshold, def, 100*ar.Model, 100*ar.Fallback)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if r.Pass {
		fmt.Fprintln(w, "PASS: every check passed")
	} else {
		fmt.Fprintf(w, "FAIL: %s\n", strings.Join(r.Failures, "; "))
	}
}
