package predictor

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Predictor. The zero value of every field except
// ModelDir is a usable default.
type Config struct {
	// Command is the sidecar's argv. Default: automatic detection — the
	// project's virtualenv python (<root>/.venv/bin/python, root found from
	// SIGMAGATE_ROOT, the executable's or the working directory's parents, or
	// SIGMAGATE_PYTHON) running `-m infer`, else an `infer` executable on
	// PATH. "--model ModelDir" and the other flags below are appended.
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

	// Args are extra sidecar arguments, e.g. {"--threads", "1"}.
	Args []string

	// Timeout bounds one prediction, from the call to its answer. Default 5s:
	// long enough for a reload or a GC pause on a loaded host, short enough
	// that a hung sidecar costs a trade its fallback decision, not the bot.
	Timeout time.Duration

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
	// Default 4: the sidecar keeps working on one batch while the next ones
	// are on the wire, yet requests still pile up into large batches.
	MaxInFlight int

	// ReadSpin is how long the reader polls the sidecar's stdout for more
	// bytes before parking in Go's poller. Default 50µs: an answer usually
	// comes back within that, and catching it without a scheduler wake-up
	// saves more than the model costs. An idle predictor spends at most this
	// much CPU once before it parks. Negative disables spinning.
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

	// Features is the order of the feature slices the bot passes, used by
	// the fallback and the length check only until the sidecar reports the
	// model's own order in `ready` (which then wins). Default: tick_ratio,
	// depth_ratio, price_dist — the order the bot records them in.
	Features []string

	// DefaultThreshold is what Decide uses until a model reports its own
	// default threshold (the manifest's default_threshold, which then wins).
	// Default 0.65, train's default.
	DefaultThreshold float64

	// Logger receives the predictor's logs and the sidecar's stderr, one
	// record per JSON line. Default slog.Default().
	Logger *slog.Logger

	// Registerer, when set, gets the predictor's Prometheus collectors.
	// Registering twice on one registry fails, so give each Predictor its
	// own registry or a prometheus.WrapRegistererWith label.
	Registerer prometheus.Registerer

	// Drift tunes live drift monitoring (drift.go); the zero value is the
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
	DefaultMaxInFlight            = 4
	DefaultReadSpin               = 50 * time.Microsecond
	DefaultMaxConsecutiveTimeouts = 3
	DefaultRestartBackoffMin      = 100 * time.Millisecond
	DefaultRestartBackoffMax      = 10 * time.Second
	DefaultDecideThreshold        = 0.65
)

// The bot's feature order, for Config.Features' default.
var defaultFeatures = []string{featTick, featDepth, featDist}

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
	if c.Features == nil {
		c.Features = append([]string(nil), defaultFeatures...)
	}
	if c.DefaultThreshold == 0 {
		c.DefaultThreshold = DefaultDecideThreshold
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.Timeout < 0 || c.StartTimeout < 0 || c.KillGrace < 0:
		return c, errors.New("predictor: Timeout, StartTimeout and KillGrace must not be negative")
	case c.MaxBatch < 1 || c.MaxBatch > 65536:
		return c, fmt.Errorf("predictor: MaxBatch %d is outside 1…65536 (the protocol's limit)", c.MaxBatch)
	case c.MaxInFlight < 1:
		return c, fmt.Errorf("predictor: MaxInFlight %d must be at least 1", c.MaxInFlight)
	case c.RestartBackoffMin > c.RestartBackoffMax:
		return c, fmt.Errorf("predictor: RestartBackoffMin %v exceeds RestartBackoffMax %v", c.RestartBackoffMin, c.RestartBackoffMax)
	case c.DefaultThreshold < 0 || c.DefaultThreshold > 1:
		return c, fmt.Errorf("predictor: DefaultThreshold %v is outside [0, 1]", c.DefaultThreshold)
	case c.ModelDir == "" && len(c.Command) == 0:
		return c, errors.New("predictor: Config.ModelDir is empty; set it to a model directory or a models/current symlink")
	}
	if c.ModelDir != "" {
		abs, err := filepath.Abs(c.ModelDir)
		if err != nil {
			return c, fmt.Errorf("predictor: ModelDir %q: %w", c.ModelDir, err)
		}
		c.ModelDir = abs
	}
	return c, nil
}
