package predictor

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigmagate/sigmagate/go/defaults"
	"github.com/sigmagate/sigmagate/go/internal/sidecar"
)

// Config configures a Predictor. The zero value of every field except
// ModelDir is a usable default.
type Config struct {
	// Command is the sidecar's argv. Default: automatic detection — the
	// project's virtualenv python (<root>/.venv/bin/python, root found from
	// SIGMAGATE_ROOT, the executable's or the working directory's parents, or
	// SIGMAGATE_PYTHON) running `-m infer`, else an `infer` executable on
	// PATH. "--model ModelDir" and the other flags below are appended. A
	// relative program path with a slash is resolved in Dir, as os/exec does.
	Command []string

	// Dir is the sidecar's working directory. Default: the detected project
	// root when Command is detected (so `python -m infer` imports the
	// checkout's package), else the bot's own working directory.
	Dir string

	// Env is added to the bot's environment for the sidecar.
	Env []string

	// ModelDir is the model directory (or a `current` symlink) the sidecar
	// serves, passed as --model. Required unless Command already carries it.
	// A relative path is made absolute against the bot's working directory.
	ModelDir string

	// Variant is passed as --variant when set. Default: the manifest's
	// serve_variant.
	Variant string

	// PIDFile and StatusFile are passed as --pidfile and --status-file when
	// set: the sidecar's pid, which scripts/deploy_model.sh signals to reload
	// it, and its status file, which the deploy reads to verify the reload.
	// The sidecar runs in Dir, usually not the bot's directory, so a relative
	// path is made absolute against the bot's working directory, where it was
	// meant. A shadow model's sidecar gets neither (they name the live one).
	PIDFile, StatusFile string

	// Args are extra sidecar arguments, e.g. {"--threads", "1"}, passed as
	// given.
	Args []string

	// Timeout bounds one prediction, from the call to its answer. Default 5s:
	// long enough for a reload or a GC pause on a loaded host, short enough
	// that a hung sidecar costs a trade its fallback decision, not the bot.
	// With hedging on (the default) a decision waits only HedgeDelay;
	// Timeout then still judges the hedged call (MaxConsecutiveTimeouts).
	Timeout time.Duration

	// HedgeDelay is how long a decision waits for the sidecar before the
	// verified in-process replica of the same model answers it instead
	// (Source replica, Reason slow); the sidecar's late answer is then
	// compared with the replica's (Health().Hedge, the
	// sigmagate_predictor_hedge_* metrics). With no verified replica of the
	// served version (DisableReplica, a family the replica does not cover,
	// a reload whose replica is still being checked) Fallback answers at
	// the delay instead, with Reason slow: a hung sidecar costs a decision
	// the delay, never Timeout. Default (0): adaptive, HedgeP99Multiple × the
	// sidecar's recent p99 latency, within HedgeDelayFloor…HedgeDelayCap
	// (2…20 ms; hedge.go says why). Negative: never hedge.
	HedgeDelay time.Duration

	// StartTimeout bounds the wait for `ready` after spawning the sidecar.
	// Default 60s: importing onnxruntime and loading a model can take tens of
	// seconds on a cold, busy machine.
	StartTimeout time.Duration

	// KillGrace is how long Close and restarts wait after SIGTERM before
	// SIGKILL. Default 3s: enough for the sidecar to answer what it has read
	// and flush.
	KillGrace time.Duration

	// MaxBatch caps how many waiting predictions are coalesced into one
	// `predict` request. Default 1024: far below the protocol's 65,536-record
	// and 1 MiB limits, large enough that batching never throttles.
	MaxBatch int

	// MaxInFlight caps the `predict` batches sent but not yet answered.
	// Default 1: the sidecar scores one read at a time anyway, and while it
	// works the waiting predictions pile up into the next batch, which then
	// carries them all in one request. More in flight split that batch into
	// smaller requests, each paying the sidecar's per-request cost: with 4
	// in flight (gatebench -max-in-flight), 8 goroutines got no more
	// decisions a second than 1; with 1 they get more (docs/BENCHMARKS.md,
	// "Old against new"). The price is a longer tail at saturation, when a
	// decision may wait for a whole batch before its own: a bot that values
	// p99 over throughput under full load can raise it.
	MaxInFlight int

	// ReadSpin is how long the reader polls the sidecar's stdout for more
	// bytes before parking in Go's poller. Default 50µs: an answer usually
	// comes back within that, and catching it without a scheduler wake-up
	// saves more than the model costs. While a request is in flight the
	// reader keeps polling for its answer, up to 1 ms (or ReadSpin if
	// longer), where that pays: under load every batch's answer is then read
	// without a wake-up on either side. Every few thousand answers it
	// alternates polling and parking for a few dozen and keeps polling only
	// if the answers came faster, so on a host short of CPU (where polling
	// would take the sidecar's CPU) and under sparse traffic it parks. An
	// idle predictor spends at most ReadSpin of CPU once before it parks.
	// Negative disables spinning.
	ReadSpin time.Duration

	// MaxConsecutiveTimeouts is how many predictions in a row may time out
	// before the sidecar is considered hung, killed and restarted. Default 3:
	// one slow answer is tolerated, a stopped process is not.
	MaxConsecutiveTimeouts int

	// RestartBackoffMin and RestartBackoffMax bound the exponential backoff
	// between restarts (and between reload attempts while no model loads).
	// Defaults 100ms and 10s: a crash is retried almost at once, a sidecar
	// that keeps crashing does not spin the CPU.
	RestartBackoffMin time.Duration
	RestartBackoffMax time.Duration

	// Features declares the order of the feature slices the bot passes to
	// Decide, Approve and Predict. When set and the served model's order (its
	// manifest's, reported in `ready`) differs, the predictor logs an error
	// naming both orders and Decide approves nothing (source reject, reason
	// feature_order; Decision.Err wraps ErrFeatureOrder) instead of scoring
	// features in the wrong columns; DecideNamed still reaches the model.
	// Default (nil): the slices follow the served model's order (Features()),
	// tick_ratio, depth_ratio, price_dist until a model is served.
	Features []string

	// DefaultThreshold is what Decide uses until a model reports its own
	// default threshold (the manifest's default_threshold, which then wins).
	// Default defaults.DefaultThreshold (0.65), train's default.
	DefaultThreshold float64

	// Logger receives the predictor's logs and the sidecar's stderr, one
	// record per JSON line. Default slog.Default().
	Logger *slog.Logger

	// Mode: ModeSidecar (default) or ModeReplica, where the verified
	// in-process replica answers every decision (see replica_native.go and
	// docs/ML_PIPELINE.md for when to pick which).
	Mode Mode

	// Fallback chooses what answers when neither the sidecar nor its
	// verified replica can (an outage, or a sidecar slower than the hedge
	// delay, with no replica): FallbackHeuristic
	// (default), FallbackReject or FallbackCustom with FallbackFunc (setting
	// only FallbackFunc implies FallbackCustom). Bad input and a feature
	// order that is not the model's always get reject, whatever this says.
	Fallback     FallbackPolicy
	FallbackFunc FallbackFunc

	// DisableReplica: never build the in-process replica; Fallback answers
	// whenever the sidecar cannot, or has not within the hedge delay.
	DisableReplica bool

	// ReplicaSampleEvery: in ModeReplica, one decision in this many (and the
	// first) is re-scored on the sidecar in the background; with no new one
	// for 10 s, the last is re-scored again, so a hung sidecar times out as
	// it would in ModeSidecar and is restarted. Default 1000.
	ReplicaSampleEvery int

	// corruptReplicaCheck, set by tests only, alters the sidecar's answers
	// before the replica is compared with them: at load ("check") or for a
	// native-mode sample ("sample").
	corruptReplicaCheck func(phase string, sidecar []float64)
	// replicaProbeEvery, set by tests only, replaces replicaProbeEvery.
	replicaProbeEvery time.Duration
	// stallReplicaCheck, set by tests only, fails a replica check's scoring on
	// the sidecar as a stalled sidecar would, while it returns an error.
	stallReplicaCheck func() error

	// Registerer, when set, gets the predictor's Prometheus collectors.
	// Registering twice on one registry fails, so give each Predictor its
	// own registry or a prometheus.WrapRegistererWith label.
	Registerer prometheus.Registerer

	// Drift tunes live drift monitoring; the zero value is the
	// documented defaults.
	Drift DriftConfig

	// ShadowModelDir is a candidate model scored on every decision beside the
	// served one, never changing the answer (shadow.go). Default: the
	// `shadow` symlink next to ModelDir, when it exists; it is re-checked
	// every Shadow.Poll, so a shadow deployed later is picked up.
	ShadowModelDir string
	Shadow         ShadowConfig
}

// Defaults, exported so that callers and tests can refer to them.
const (
	DefaultTimeout                = 5 * time.Second
	DefaultStartTimeout           = 60 * time.Second
	DefaultKillGrace              = 3 * time.Second
	DefaultMaxBatch               = 1024
	DefaultMaxInFlight            = 1
	DefaultReadSpin               = 50 * time.Microsecond
	DefaultMaxConsecutiveTimeouts = 3
	DefaultRestartBackoffMin      = 100 * time.Millisecond
	DefaultRestartBackoffMax      = 10 * time.Second
	DefaultDecideThreshold        = defaults.DefaultThreshold
)

// checkNames accepts a non-empty list of distinct, non-empty names.
func checkNames(names []string) error {
	if len(names) == 0 {
		return errors.New("empty; leave it nil to follow the model's order")
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || seen[n] {
			return fmt.Errorf("%q is empty or listed twice in %v", n, names)
		}
		seen[n] = true
	}
	return nil
}

// The bot's feature order before a model is served, when Config.Features is nil.
var defaultFeatures = defaults.DefaultFeatures

// withDefaults fills in zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.KillGrace == 0 {
		c.KillGrace = DefaultKillGrace
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.ReadSpin == 0 {
		c.ReadSpin = DefaultReadSpin
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxConsecutiveTimeouts == 0 {
		c.MaxConsecutiveTimeouts = DefaultMaxConsecutiveTimeouts
	}
	if c.RestartBackoffMin == 0 {
		c.RestartBackoffMin = DefaultRestartBackoffMin
	}
	if c.RestartBackoffMax == 0 {
		c.RestartBackoffMax = DefaultRestartBackoffMax
	}
	if c.Features != nil {
		c.Features = append([]string(nil), c.Features...)
		if err := checkNames(c.Features); err != nil {
			return c, fmt.Errorf("predictor: Config.Features: %w", err)
		}
	}
	if c.DefaultThreshold == 0 {
		c.DefaultThreshold = DefaultDecideThreshold
	}
	if c.ReplicaSampleEvery <= 0 {
		c.ReplicaSampleEvery = DefaultReplicaSampleEvery
	}
	if err := c.fallbackPolicy(); err != nil {
		return c, err
	}
	if c.Mode == ModeReplica && c.DisableReplica {
		return c, errors.New("predictor: Mode is ModeReplica but DisableReplica is set")
	}
	if c.Mode != ModeSidecar && c.Mode != ModeReplica {
		return c, fmt.Errorf("predictor: Mode %q is neither ModeSidecar (\"\") nor ModeReplica (%q)", c.Mode, ModeReplica)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.Timeout < 0 || c.StartTimeout < 0 || c.KillGrace < 0:
		return c, errors.New("predictor: Timeout, StartTimeout and KillGrace must not be negative")
	case c.MaxBatch < 1 || c.MaxBatch > 65536:
		return c, fmt.Errorf("predictor: MaxBatch %d is outside 1…65536 (the protocol's limit)", c.MaxBatch)
	case c.HedgeDelay > 0 && c.HedgeDelay >= c.Timeout:
		return c, fmt.Errorf("predictor: HedgeDelay %v is not below Timeout %v; a hedge that late is no hedge (use a negative HedgeDelay to turn it off)", c.HedgeDelay, c.Timeout)
	case c.MaxInFlight < 1:
		return c, fmt.Errorf("predictor: MaxInFlight %d must be at least 1", c.MaxInFlight)
	case c.Drift.MinDecisions > c.driftWindow() && c.driftWindow() > 0:
		return c, fmt.Errorf("predictor: Drift.MinDecisions %d exceeds Drift.Window %d: the window would never hold enough decisions to be judged", c.Drift.MinDecisions, c.driftWindow())
	case c.RestartBackoffMin < 0 || c.MaxConsecutiveTimeouts < 0:
		// Zero means the default; below it there is no restart backoff, or
		// every first timeout kills the sidecar.
		return c, errors.New("predictor: RestartBackoffMin and MaxConsecutiveTimeouts must not be negative")
	case c.RestartBackoffMin > c.RestartBackoffMax:
		return c, fmt.Errorf("predictor: RestartBackoffMin %v exceeds RestartBackoffMax %v", c.RestartBackoffMin, c.RestartBackoffMax)
	case !(c.DefaultThreshold >= 0 && c.DefaultThreshold <= 1): // NaN too
		return c, fmt.Errorf("predictor: DefaultThreshold %v is not a number in [0, 1]", c.DefaultThreshold)
	case c.ModelDir == "" && len(c.Command) == 0:
		return c, errors.New("predictor: Config.ModelDir is empty; set it to a model directory or a models/current symlink")
	}
	for _, f := range []struct {
		name string
		path *string
	}{{"ModelDir", &c.ModelDir}, {"PIDFile", &c.PIDFile}, {"StatusFile", &c.StatusFile}} {
		if *f.path == "" {
			continue
		}
		abs, err := filepath.Abs(*f.path)
		if err != nil {
			return c, fmt.Errorf("predictor: %s %q: %w", f.name, *f.path, err)
		}
		*f.path = abs
	}
	return c, nil
}

// driftWindow is the drift window's size (Drift.Window, or its default when 0).
func (c *Config) driftWindow() int {
	if c.Drift.Window == 0 {
		return defaults.DriftWindow
	}
	return c.Drift.Window
}

// sidecarCommand resolves the argv and working directory of the sidecar.
func (c *Config) sidecarCommand() (argv []string, dir string, err error) {
	argv = append([]string(nil), c.Command...)
	dir = c.Dir
	if len(argv) == 0 {
		var root string
		argv, root, err = sidecar.Detect()
		if err != nil {
			return nil, "", err
		}
		if dir == "" {
			dir = root
		}
	}
	if c.ModelDir != "" {
		argv = append(argv, "--model", c.ModelDir)
	}
	if c.Variant != "" {
		argv = append(argv, "--variant", c.Variant)
	}
	if c.PIDFile != "" {
		argv = append(argv, "--pidfile", c.PIDFile)
	}
	if c.StatusFile != "" {
		argv = append(argv, "--status-file", c.StatusFile)
	}
	return append(argv, c.Args...), dir, nil
}

// DetectSidecar reports the argv and working directory automatic detection
// would use when Config.Command is empty (tools such as cmd/gatecheck use it
// to find the same Python).
func DetectSidecar() (argv []string, dir string, err error) { return sidecar.Detect() }
