// Command bot is a complete, minimal trading bot behind sigmagate, the one
// README.md ("Integrate your bot") walks through. For each candidate trade it
//
//  1. records the candidate's features to BoltDB in the layout `train fit`
//     learns from (go/featurestore; docs/RECORD_LAYOUT.md), and
//  2. asks the gate whether to take the trade (go/predictor).
//
// Its market is a random walk, so the records it writes are marked Simulated:
// a model trained on them says so in its manifest, and deploy_model.sh keeps
// such a model out of a real models directory. A real bot leaves Simulated
// false and fills the fields from its own order book.
//
//	go run ./examples/bot -model ../models/current -db /tmp/bot.db -every 2s
//
// With -snapshot FILE it keeps a consistent copy of the database there
// (rewritten every -snapshot-every, default 1h, and at exit), which the
// exporter and a nightly `deploy_model.sh -b FILE` read while the bot runs:
// bbolt lets no other process open the file the bot writes.
//
// The predictor finds the Python sidecar through SIGMAGATE_ROOT (the sigmagate
// checkout; its .venv/bin/python runs `-m infer`) or SIGMAGATE_PYTHON (that
// interpreter), or through -python, which sets Config.Command explicitly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sigmagate/sigmagate/go/featurestore"
	"github.com/sigmagate/sigmagate/go/predictor"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bot:", err)
		os.Exit(1)
	}
}

func run(args []string) (err error) {
	fs := flag.NewFlagSet("bot", flag.ContinueOnError)
	model := fs.String("model", "models/current", "the model directory, or the current symlink deploy_model.sh maintains")
	db := fs.String("db", "data/features.db", "BoltDB the bot records its candidates to")
	mode := fs.String("mode", "sidecar", "sidecar (the Python sidecar answers) or replica (the verified in-process replica answers; best for occasional decisions)")
	every := fs.Duration("every", time.Second, "one candidate trade this often")
	n := fs.Int("n", 0, "stop after this many decisions (0: until SIGINT/SIGTERM)")
	threshold := fs.Float64("threshold", 0, "approve threshold (0: the model's threshold for the candidate's symbol)")
	python := fs.String("python", "", "run the sidecar as PYTHON -m infer (Config.Command) instead of detecting it")
	pidfile := fs.String("pidfile", "", "the sidecar's --pidfile, for deploy_model.sh's reload")
	status := fs.String("status-file", "", "the sidecar's --status-file, for deploy_model.sh's check")
	snapshot := fs.String("snapshot", "", "keep a consistent copy of -db here, rewritten every -snapshot-every and at exit: the file the exporter and deploy_model.sh -b read while the bot holds -db")
	snapshotInterval := fs.Duration("snapshot-every", time.Hour, "how often -snapshot is rewritten")
	metrics := fs.String("metrics", "", "serve the gate's Prometheus metrics at http://ADDR/metrics (monitoring/ alerts on them), e.g. 127.0.0.1:9464")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *snapshotInterval <= 0 {
		return fmt.Errorf("-snapshot-every %v: must be positive", *snapshotInterval)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	cfg := predictor.Config{
		ModelDir: *model,
		Logger:   log,
		// The order this bot lays its features out in: a model trained on
		// another order is refused (the fallback answers) instead of misread.
		Features: []string{"tick_ratio", "depth_ratio", "price_dist"},
	}
	if *python != "" {
		cfg.Command = []string{*python, "-m", "infer"}
	}
	cfg.PIDFile, cfg.StatusFile = *pidfile, *status
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	if *metrics != "" {
		srv := &http.Server{Addr: *metrics, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener", "addr", *metrics, "err", err)
			}
		}()
		defer srv.Close()
	}
	switch *mode {
	case "sidecar":
	case "replica":
		cfg.Mode = predictor.ModeReplica
	default:
		return fmt.Errorf("-mode %q: want sidecar or replica", *mode)
	}
	// New returns at once; the sidecar starts in the background and the first
	// decisions may come from the fallback until it is up (Decision.Source says).
	gate, err := predictor.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("start the gate: %w", err)
	}
	defer gate.Close()

	store, err := featurestore.Create(*db)
	if err != nil {
		return fmt.Errorf("open %s: %w", *db, err)
	}
	defer store.Close()
	if *snapshot != "" {
		stopSnapshots := snapshotEvery(ctx, store, *snapshot, *snapshotInterval, log)
		defer func() {
			if serr := stopSnapshots(); serr != nil && err == nil {
				err = serr
			}
		}()
	}

	m := newMarket()
	lat := map[predictor.Source][]time.Duration{}
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for i := 1; *n == 0 || i <= *n; i++ {
		rec := m.next()
		if err := store.Put(rec); err != nil {
			return fmt.Errorf("record candidate %d: %w", i, err)
		}
		features := []float32{float32(rec.TickRatio), float32(rec.DepthRatio), float32(rec.PriceDist)}
		var d predictor.Decision
		if *threshold > 0 {
			d, err = gate.DecideThreshold(ctx, features, *threshold)
		} else {
			// The model's own threshold for this symbol: its symbol_thresholds
			// entry when training found the symbol weaker, else default_threshold.
			d, err = gate.DecideSymbol(ctx, rec.Symbol, features)
		}
		switch {
		case err != nil:
			// Misconfiguration (bad input, another feature order): nothing is approved.
			log.Error("decision refused", "err", err)
		case d.Err != nil && !errors.Is(d.Err, context.Canceled):
			// The replica or the heuristic answered; d.Err says why not the model.
			log.Warn("decision from the fallback", "source", d.Source, "reason", d.Reason, "err", d.Err)
		}
		lat[d.Source] = append(lat[d.Source], d.Latency)
		fmt.Printf("decision %d: %s approve=%t p=%.3f threshold=%.4g by=%s model=%q latency=%s\n",
			i, rec.Symbol, d.Approve, d.Probability, d.Threshold, d.Source, d.ModelVersion, d.Latency)
		select {
		case <-ctx.Done():
			return summary(lat)
		case <-tick.C:
		}
	}
	return summary(lat)
}

// snapshotEvery copies the database to path every interval while the bot
// runs, and once more when stop is called, so the exporter and a nightly
// retrain always have a recent copy to read: they cannot open the database
// the bot holds.
func snapshotEvery(ctx context.Context, store *featurestore.Writer, path string, every time.Duration, log *slog.Logger) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := store.Snapshot(ctx, path); err != nil && ctx.Err() == nil {
					log.Error("snapshot of the feature database", "path", path, "err", err)
				}
			}
		}
	}()
	return func() error {
		cancel()
		<-done
		// The bot's own context may be done (SIGTERM): the last copy gets its own.
		final, cancelFinal := context.WithTimeout(context.Background(), time.Minute)
		defer cancelFinal()
		return store.Snapshot(final, path)
	}
}

// summary prints the decision latency percentiles (the predictor's own
// timing) per source: model (the sidecar), replica, heuristic.
func summary(lat map[predictor.Source][]time.Duration) error {
	for _, src := range []predictor.Source{predictor.SourceModel, predictor.SourceReplica, predictor.SourceHeuristic} {
		s := slices.Clone(lat[src])
		if len(s) == 0 {
			continue
		}
		slices.Sort(s)
		q := func(f float64) time.Duration { return s[int(math.Ceil(f*float64(len(s))))-1] }
		fmt.Printf("latency, %d decisions by %s: p50 %s  p90 %s  max %s\n", len(s), src, q(0.5), q(0.9), s[len(s)-1])
	}
	return nil
}

// market is a stand-in for the bot's order book: a price wandering around its
// VWAP. A real bot computes these fields from its own feed.
type market struct {
	rng                *rand.Rand
	price, vwap, sigma float64
}

func newMarket() *market {
	return &market{rng: rand.New(rand.NewPCG(1, 2)), price: 64000, vwap: 64000, sigma: 40}
}

func (m *market) next() featurestore.FeatureRecord {
	m.price += m.sigma * 0.5 * m.rng.NormFloat64()
	m.vwap += 0.05 * (m.price - m.vwap)
	tick := math.Tanh(m.rng.NormFloat64())
	depth := math.Tanh(0.7*tick + 0.5*m.rng.NormFloat64())
	vol := 5 + m.rng.ExpFloat64()
	return featurestore.FeatureRecord{
		Symbol:     "BTCUSDT",
		Timestamp:  time.Now().UTC(),
		TickRatio:  tick,
		DepthRatio: depth,
		PriceDist:  (m.price - m.vwap) / m.sigma,
		Price:      m.price,
		VWAP:       m.vwap,
		StdDev:     m.sigma,
		BidVol:     vol * (1 + depth) / 2,
		AskVol:     vol * (1 - depth) / 2,
		Simulated:  true, // a made-up market; a real bot leaves this false
	}
}
