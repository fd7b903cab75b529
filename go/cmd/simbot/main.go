// Command simbot is a simulated trading bot: it loads the candidate trades the
// bot recorded in a BoltDB (package featurestore), starts the sidecar through
// package predictor exactly as the real bot would, and replays the candidates
// as gate decisions from several goroutines at a configurable rate. It keeps
// going through model reloads (SIGHUP to the sidecar) and sidecar crashes, and
// prints, when it stops (-duration elapsed, SIGINT or SIGTERM): the approval
// rate, latency percentiles, fallback counts by reason and the model versions
// seen.
//
//	simbot -db build/demo/features.db -model models/current -workers 8 -rate 2000
//
// Exit status: 0 done; 1 the run failed; 2 bad arguments, or a -db that is
// missing, empty or not a bbolt database.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sigmagate/sigmagate/go/predictor"
)

type options struct {
	db, model, pidfile, statusFile, logFile, jsonOut string
	metricsAddr, metricsFile                         string
	workers                                          int
	rate                                             float64
	duration, timeout, progress                      time.Duration
	threshold                                        float64
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "simbot:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "simbot:", err)
		if errors.As(err, new(dbError)) {
			os.Exit(2) // a wrong -db, as export reports it
		}
		os.Exit(1)
	}
	s.print(os.Stdout)
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("simbot", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.db, "db", "", "BoltDB in the bot's layout to replay (read once at start)")
	fs.StringVar(&o.model, "model", "models/current", "model directory or current symlink the sidecar serves")
	fs.StringVar(&o.pidfile, "pidfile", "", "passed to the sidecar as --pidfile (what deploy_model.sh signals)")
	fs.StringVar(&o.statusFile, "status-file", "", "passed to the sidecar as --status-file")
	fs.StringVar(&o.logFile, "log", "", "write the predictor's and sidecar's JSON logs here (default: discard)")
	fs.StringVar(&o.jsonOut, "json", "", "also write the summary as JSON to this file")
	fs.StringVar(&o.metricsAddr, "metrics", "", "serve the predictor's Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464)")
	fs.StringVar(&o.metricsFile, "metrics-file", "", "write the predictor's Prometheus metrics to this file at exit")
	fs.IntVar(&o.workers, "workers", 8, "goroutines asking for decisions concurrently")
	fs.Float64Var(&o.rate, "rate", 2000, "decisions per second across all workers (0: as fast as possible)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: run until SIGINT/SIGTERM)")
	fs.DurationVar(&o.timeout, "timeout", predictor.DefaultTimeout, "per-decision timeout before the fallback answers")
	fs.DurationVar(&o.progress, "progress", 5*time.Second, "print a progress line this often (0: never)")
	fs.Float64Var(&o.threshold, "threshold", 0, "approve threshold (0: the model's default from its manifest)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.db == "":
		return o, errors.New("-db is required")
	case o.workers < 1:
		return o, errors.New("-workers must be at least 1")
	case o.rate < 0 || o.threshold < 0 || o.threshold > 1:
		return o, errors.New("-rate must be >= 0 and -threshold in [0, 1]")
	}
	return o, nil
}

func run(ctx context.Context, o options) (Summary, error) {
	signals, skipped, err := loadSignals(o.db)
	if err != nil {
		return Summary{}, err
	}
	fmt.Fprintf(os.Stderr, "simbot: %d signals loaded from %s (%d skipped); %d workers at %s\n",
		len(signals), o.db, skipped, o.workers, rateText(o.rate))

	logOut := io.Discard
	if o.logFile != "" {
		f, err := os.Create(o.logFile)
		if err != nil {
			return Summary{}, fmt.Errorf("log file: %w", err)
		}
		defer f.Close()
		logOut = f
	}
	reg := prometheus.NewRegistry()
	p, err := predictor.New(ctx, predictor.Config{
		ModelDir:   o.model,
		PIDFile:    o.pidfile,
		StatusFile: o.statusFile,
		Timeout:    o.timeout,
		Logger:     slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registerer: reg,
	})
	if err != nil {
		return Summary{}, err
	}
	if o.metricsAddr != "" {
		stop, err := serveMetrics(o.metricsAddr, reg)
		if err != nil {
			p.Close()
			return Summary{}, err
		}
		defer stop()
	}
	h := p.Health()
	fmt.Fprintf(os.Stderr, "simbot: sidecar %s, pid %d, model %q\n", h.State, h.PID, h.ModelVersion)

	runCtx := ctx
	if o.duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	start := time.Now()
	stopRegime := watchRegime(p) // regime.go: SIGUSR1 shifts the market
	stats := replay(runCtx, p, signals, o)
	stopRegime()
	elapsed := time.Since(start)
	health := p.Health()
	if o.metricsFile != "" {
		// Before Close, so the gauges still describe the running sidecar.
		if err := prometheus.WriteToTextfile(o.metricsFile, reg); err != nil {
			fmt.Fprintln(os.Stderr, "simbot: metrics file:", err)
		}
	}
	if err := p.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "simbot: close:", err)
	}
	s := summarize(stats, elapsed, health)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(s, "", "  ")
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			return s, fmt.Errorf("write %s: %w", o.jsonOut, err)
		}
	}
	return s, nil
}

// serveMetrics exposes reg over HTTP until the returned stop is called.
func serveMetrics(addr string, reg *prometheus.Registry) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed after Shutdown
	fmt.Fprintf(os.Stderr, "simbot: metrics at http://%s/metrics\n", ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // best effort at exit
	}, nil
}
