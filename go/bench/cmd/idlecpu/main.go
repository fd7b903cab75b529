//go:build unix

// Command idlecpu measures the CPU that a bot's predictor and its sidecar
// burn when the bot makes few or no decisions, with default settings.
//
//	idlecpu -model DIR [-idle 30s] [-paced 30s] [-rate 10]
//
// It starts a predictor as a bot does (predictor.New with only ModelDir set,
// so every spin and poll setting is the default), makes a few decisions to
// warm it up, then measures two phases one after the other: no decisions at
// all for -idle, and -rate decisions a second, evenly spaced, for -paced.
// For each phase it prints the CPU seconds of this Go process (getrusage,
// every thread) and of the sidecar (the run time of every thread in
// /proc/PID/task/*/schedstat, in ns), and each as a share of one core, as one
// JSON object on stdout.
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
	"syscall"
	"time"

	"github.com/sigmagate/sigmagate/go/predictor"
)

type phase struct {
	Name            string  `json:"name"`
	Seconds         float64 `json:"seconds"`
	Decisions       int     `json:"decisions"`
	GoCPUSeconds    float64 `json:"go_cpu_s"`
	SidecarCPUSecs  float64 `json:"sidecar_cpu_s"`
	GoCorePct       float64 `json:"go_core_pct"`
	SidecarCorePct  float64 `json:"sidecar_core_pct"`
	FallbackAnswers int     `json:"fallbacks"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "idlecpu:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("idlecpu", flag.ContinueOnError)
	model := fs.String("model", "", "model directory the sidecar serves (required)")
	idle := fs.Duration("idle", 30*time.Second, "length of the phase without decisions")
	paced := fs.Duration("paced", 30*time.Second, "length of the phase with -rate decisions/s")
	rate := fs.Float64("rate", 10, "decisions per second in the paced phase")
	readSpin := fs.Duration("read-spin", 0, "predictor Config.ReadSpin (0: its default; negative: off)")
	sidecarArgs := fs.String("sidecar-args", "", "extra sidecar flags, e.g. \"--spin-us 0\" (default: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" || *rate <= 0 {
		return errors.New("-model is required and -rate must be > 0")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := predictor.New(ctx, predictor.Config{
		ModelDir: *model,
		ReadSpin: *readSpin,
		Args:     strings.Fields(*sidecarArgs),
		Logger:   slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fmt.Errorf("predictor.New: %w", err)
	}
	defer p.Close()
	h := p.Health()
	if h.State != predictor.StateReady || h.PID == 0 {
		return fmt.Errorf("sidecar not ready (state %s: %s)", h.State, h.LastError)
	}
	features := make([]float32, len(h.Features))
	for i := 0; i < 100; i++ { // warm-up, as a bot's first decisions
		if _, err := p.Decide(ctx, features); err != nil {
			return fmt.Errorf("warm-up decision: %w", err)
		}
	}
	var phases []phase
	for _, ph := range []struct {
		name string
		dur  time.Duration
		gap  time.Duration
	}{{"idle", *idle, 0}, {fmt.Sprintf("%g decisions/s", *rate), *paced, time.Duration(float64(time.Second) / *rate)}} {
		r, err := measure(ctx, p, h.PID, features, ph.dur, ph.gap)
		if err != nil {
			return err
		}
		r.Name = ph.name
		phases = append(phases, r)
	}
	if p.Health().PID != h.PID {
		return errors.New("the sidecar restarted during the measurement")
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"model": *model, "sidecar_pid": h.PID, "phases": phases})
}

// measure runs one phase: a decision every gap (none when gap is 0) for dur.
func measure(ctx context.Context, p *predictor.Predictor, pid int, features []float32, dur, gap time.Duration) (phase, error) {
	goCPU0, scCPU0, err := cpuNow(pid)
	if err != nil {
		return phase{}, err
	}
	start := time.Now()
	var r phase
	if gap == 0 {
		time.Sleep(dur)
	} else {
		tick := time.NewTicker(gap)
		for time.Since(start) < dur {
			<-tick.C
			d, err := p.Decide(ctx, features)
			if err != nil {
				tick.Stop()
				return phase{}, fmt.Errorf("decision: %w", err)
			}
			r.Decisions++
			if d.Source != predictor.SourceModel {
				r.FallbackAnswers++
			}
		}
		tick.Stop()
	}
	wall := time.Since(start).Seconds()
	goCPU1, scCPU1, err := cpuNow(pid)
	if err != nil {
		return phase{}, err
	}
	r.Seconds = round(wall, 3)
	r.GoCPUSeconds = round(goCPU1-goCPU0, 4)
	r.SidecarCPUSecs = round(scCPU1-scCPU0, 4)
	r.GoCorePct = round(100*(goCPU1-goCPU0)/wall, 3)
	r.SidecarCorePct = round(100*(scCPU1-scCPU0)/wall, 3)
	return r, nil
}

func round(x float64, digits int) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', digits, 64), 64)
	return v
}

// cpuNow returns the CPU seconds used so far by this process and by pid.
func cpuNow(pid int) (self, sidecar float64, err error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, fmt.Errorf("getrusage: %w", err)
	}
	self = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	sidecar, err = threadsRunTime(pid)
	return self, sidecar, err
}

// threadsRunTime sums the run time (ns, first field of schedstat) of pid's threads.
func threadsRunTime(pid int) (float64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no threads of pid %d in /proc", pid)
	}
	var ns int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that just ended
		}
		fields := strings.Fields(string(b))
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", t, err)
		}
		ns += v
	}
	return float64(ns) / 1e9, nil
}
