// Package predictor is the bot's side of sigmagate: it runs the `infer`
// sidecar as a supervised child process, talks msgpack-rpc to it over
// stdin/stdout (docs/PROTOCOL.md), coalesces concurrent requests into
// batches, and answers every call within Config.Timeout — from the model
// when it can; when the sidecar cannot answer in time, from the verified
// in-process replica of the same model (go/replica), and from the bot's old
// heuristic only when there is none.
//
// The parts, by concept: the sidecar's process, its msgpack-rpc session and
// its supervision (restarts with backoff, graceful shutdown, finding Python)
// live in go/internal/sidecar; this package turns their events into the
// state Health reports and the decision path reads. The decision path
// itself is the fallback ladder: the verified replica (built and checked
// against the sidecar at each model load; in ModeReplica it answers first),
// then the heuristic. Two monitors watch model decisions off that path:
// live drift against the model's training reference (go/internal/drift) and
// an optional shadow model scored on the same inputs. Everything is
// exported as Prometheus metrics and Health counters.
package predictor

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/drift"
	"github.com/sigmagate/sigmagate/go/internal/sidecar"
	"github.com/sigmagate/sigmagate/go/manifest"
)

// State is the sidecar's state as the predictor sees it.
type State string

const (
	StateStarting State = "starting" // spawned, waiting for ready
	StateReady    State = "ready"    // serving a model
	StateNoModel  State = "no_model" // running without a usable model; retrying reloads
	StateDown     State = "down"     // not running; a restart is scheduled
	StateClosed   State = "closed"   // Close was called
)

// Source says who made a Decision.
type Source string

const (
	SourceModel     Source = "model"                   // the sidecar's onnxruntime
	SourceReplica   Source = "replica"                 // the verified in-process replica of the same model version
	SourceHeuristic Source = Source(FallbackHeuristic) // the bot's old heuristic (fallback.go)
	SourceReject    Source = Source(FallbackReject)    // nothing approved: Config.Fallback reject, or bad input / feature order
	SourceCustom    Source = Source(FallbackCustom)    // Config.FallbackFunc
)

// Decision is one answer with its provenance.
type Decision struct {
	Approve bool
	// Probability is the model's class-1 probability (also from the
	// replica); with the heuristic, its confidence min(1, (|tick_ratio| +
	// |depth_ratio|)/2); with a FallbackFunc, its confidence; with reject, 0.
	Probability float64
	Threshold   float64
	Source      Source
	// Reason is empty when the sidecar answered (or the replica in
	// ModeReplica), else one of the Reason* constants: why the sidecar did not.
	Reason string
	// ModelVersion is the version of the model that answered ("" for the heuristic).
	ModelVersion string
	// OutOfDistribution: a feature lies outside the model's training range.
	OutOfDistribution bool
	// Err is why the sidecar did not answer, nil when it (or native mode) did.
	Err     error
	Latency time.Duration
}

// Predictor is safe for use by many goroutines.
type Predictor struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics
	queue chan *sidecar.Call

	mu   sync.Mutex // serialises view updates
	view atomic.Pointer[view]
	// served: the thresholds of the last versions served, for answers given
	// by a version other than the one served when their call began.
	served thresholdHistory

	consecTimeouts atomic.Int64
	h              *hedger // hedged decisions (hedge.go)

	// The replica (replica.go, replica_native.go).
	rm         *replicaMetrics
	rep        atomic.Pointer[replicaState]
	nativeOff  atomic.Bool
	nativeWhyV atomic.Pointer[string]
	samples    chan sample
	bg         sync.WaitGroup // replica checks and the sampler
	drift      *drift.Monitor // nil when Config.Drift.Window < 0
	shadow     *shadowWatcher // nil when no shadow can exist (shadow.go)

	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // supervisor exited
	closeOnce sync.Once
}

// view is an immutable snapshot of what the hot path needs.
type view struct {
	state State
	sess  *sidecar.Session // set in StateReady and StateNoModel
	// layout is the order of the slices Decide gets: Config.Features when
	// set, else the served model's order (default order before one is served).
	layout featureLayout
	// modelLayout is the served model's order (names nil while none is served).
	modelLayout featureLayout
	// orderErr is set while Config.Features is not the served model's order.
	orderErr  error
	threshold float64
	// man is the served model's manifest (nil while none is served, or
	// when it could not be read): its per-symbol thresholds.
	man      *manifest.Manifest
	version  string
	variant  string
	loadedAt time.Time
	pid      int
	lastErr  string
	errAt    time.Time // when lastErr was set
}

// noteErr records msg as the last error.
func (v *view) noteErr(msg string) { v.lastErr, v.errAt = msg, time.Now() }

// New starts the sidecar and waits up to Config.StartTimeout (or ctx) for
// its ready handshake. If the sidecar cannot start, or starts without a
// model, New still returns a working Predictor — it answers from the
// fallback and keeps trying in the background — and logs why. New returns
// an error only for an invalid Config.
func New(ctx context.Context, cfg Config) (*Predictor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Predictor{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "sigmagate.predictor"),
		queue: make(chan *sidecar.Call, 16384),
		done:  make(chan struct{}),
	}
	p.m = newMetrics(p)
	p.rm = newReplicaMetrics(p.m)
	p.h = newHedger(&cfg)
	p.initMonitors()
	names := cfg.Features
	if names == nil {
		names = defaultFeatures
	}
	p.view.Store(&view{state: StateStarting, layout: newLayout(names), threshold: cfg.DefaultThreshold})
	if cfg.Registerer != nil {
		if err := p.m.register(cfg.Registerer); err != nil {
			return nil, err
		}
		for _, c := range append(p.rm.collectors(), p.h.collectors()...) {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("predictor: register metrics (use one registry per Predictor): %w", err)
			}
		}
		if err := p.registerMonitors(cfg.Registerer); err != nil {
			return nil, err
		}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.startMonitors()
	p.bg.Add(1)
	go p.hedgeLoop()
	if cfg.Mode == ModeReplica {
		p.samples = make(chan sample, 16)
		p.bg.Add(1)
		go p.sampleLoop()
	}
	firstUp := make(chan struct{})
	go p.supervise(firstUp)
	t := time.NewTimer(cfg.StartTimeout)
	defer t.Stop()
	select {
	case <-firstUp:
	case <-t.C:
		p.log.Warn("sidecar not ready yet; answering from the fallback meanwhile", "waited", cfg.StartTimeout)
	case <-ctx.Done():
		p.log.Warn("New's context ended before the sidecar was ready; answering from the fallback meanwhile", "err", ctx.Err())
	}
	return p, nil
}

// Approve reports whether to take the trade: the model's p >= threshold, or
// the replica's or Config.Fallback's decision when the model cannot answer;
// false for invalid input, including a threshold outside [0, 1]. A NaN
// threshold means the model's default.
func (p *Predictor) Approve(features []float32, threshold float64) bool {
	return p.ApproveContext(context.Background(), features, threshold)
}

// ApproveContext is Approve bounded also by ctx.
func (p *Predictor) ApproveContext(ctx context.Context, features []float32, threshold float64) bool {
	b := modelBar
	if !math.IsNaN(threshold) {
		b = explicitBar(threshold)
	}
	d, _ := p.decide(ctx, features, b)
	return d.Approve
}

// Predict returns the model's [p0, p1] — from the sidecar, or from the
// verified replica of the same model when the sidecar cannot answer (or in
// ModeReplica). When neither can, it returns an error (ErrTimeout,
// ErrUnavailable, ErrNoModel, ErrSidecar, ErrInvalidInput, ErrClosed…) and
// no probabilities: use Decide to get the heuristic's decision instead.
func (p *Predictor) Predict(features []float32) ([]float32, error) {
	return p.PredictContext(context.Background(), features)
}

// PredictContext is Predict bounded also by ctx.
func (p *Predictor) PredictContext(ctx context.Context, features []float32) ([]float32, error) {
	d, err := p.decide(ctx, features, modelBar)
	if err != nil {
		return nil, err
	}
	if d.Source != SourceModel && d.Source != SourceReplica {
		return nil, d.Err
	}
	return []float32{float32(1 - d.Probability), float32(d.Probability)}, nil
}

// Decide answers with the serving model's default threshold (from its
// manifest) and says who answered and why. The error is non-nil only for a
// misconfiguration — invalid input (ErrInvalidInput) or Config.Features in
// another order than the served model's (ErrFeatureOrder) — and the
// Decision then approves nothing (Source reject). Every other failure is a
// Decision from the replica or Config.Fallback with Reason and Err set.
func (p *Predictor) Decide(ctx context.Context, features []float32) (Decision, error) {
	return p.decide(ctx, features, modelBar)
}

// DecideThreshold is Decide with an explicit threshold. A threshold that is
// not a number in [0, 1] (NaN, ±Inf, 65 for 65 %) is invalid input: the
// Decision approves nothing and the error is ErrInvalidInput.
func (p *Predictor) DecideThreshold(ctx context.Context, features []float32, threshold float64) (Decision, error) {
	return p.decide(ctx, features, explicitBar(threshold))
}

// DecideSymbol is Decide at the answering model's threshold for symbol
// (Threshold(symbol) while no reload is under way): an answer given by a
// model version other than the one served when the call began — a reload
// completing meanwhile — is judged by that version's threshold.
func (p *Predictor) DecideSymbol(ctx context.Context, symbol string, features []float32) (Decision, error) {
	return p.decide(ctx, features, symbolBar(symbol))
}

// Threshold is the decision threshold the served model sets for symbol:
// its manifest's symbol_thresholds entry, else its default_threshold; with
// no model served, Config.DefaultThreshold.
func (p *Predictor) Threshold(symbol string) float64 {
	return symbolBar(symbol).of(p.view.Load().thresholds())
}

// Reload asks the sidecar to re-resolve its model path and load the model
// found there (SIGHUP). It returns at once; ModelVersion changes when the
// sidecar reports the new model. A failed reload keeps the old model serving.
func (p *Predictor) Reload() error {
	v := p.view.Load()
	if v.sess == nil {
		return fmt.Errorf("%w: no sidecar is running (state %s); it loads the current model when it starts", ErrUnavailable, v.state)
	}
	return v.sess.Reload()
}

// ModelVersion is the version of the model being served, "" when none.
func (p *Predictor) ModelVersion() string { return p.view.Load().version }

// Close stops the sidecar — stdin closed and SIGTERM to its process group,
// SIGKILL after Config.KillGrace — and waits until the process and every
// goroutine of the predictor are gone (at most a second more when a process
// that left the group still holds the sidecar's pipes: it is warned of and
// cut off, not waited for). Safe to call more than once. Calls
// still waiting at Close, and calls after it, approve nothing (Source
// reject, Reason closed, Err ErrClosed): a gate being shut down is no
// outage to bridge with the heuristic.
func (p *Predictor) Close() error {
	p.closeOnce.Do(func() {
		p.cancel()
		<-p.done
		p.closeMonitors()
		p.drainQueue(ReasonClosed, ErrClosed)
		p.bg.Wait()
	})
	return nil
}

// drainQueue fails every queued call; only called while no writer runs.
func (p *Predictor) drainQueue(reason string, err error) {
	for {
		select {
		case c := <-p.queue:
			c.Fail(reason, err)
		default:
			return
		}
	}
}

// update applies f to a copy of the current view and publishes it.
func (p *Predictor) update(f func(v *view)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	nv := *p.view.Load()
	f(&nv)
	p.view.Store(&nv)
}
