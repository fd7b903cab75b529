// Package defaults holds Go's copies of the project's defaults that Go code
// reads, whose one definition is modelformat/defaults.py (`python -m
// modelformat defaults`); the test here fails when a copy drifts from it.
// The others (label parameters, the AUC floor, promotion) only Python and the
// deploy scripts use, so Go keeps no copy of them.
package defaults

import "time"

// DefaultThreshold is the decision threshold train writes into a manifest,
// and the predictor's until a model reports its own.
const DefaultThreshold = 0.65

// DefaultFeatures are the features train uses when none are named, in the
// order the bot lays them out.
var DefaultFeatures = []string{"tick_ratio", "depth_ratio", "price_dist"}

// KnownFeatures are every feature the bot records, the names train accepts:
// no model has more features than this. An array, so its length is a
// constant that fixed-size buffers can use.
var KnownFeatures = [...]string{"tick_ratio", "depth_ratio", "price_dist", "price", "vwap",
	"std_dev", "bid_vol", "ask_vol", "rolling_volatility", "bid_ask_spread", "volume_spike"}

// Live drift monitoring (predictor.DriftConfig's zero value).
const (
	DriftWindow       = 5000
	DriftPSI          = 0.2
	DriftOOD          = 0.05
	DriftApprovalLow  = 0.5
	DriftApprovalHigh = 2.0
	DriftEvery        = time.Second
	DriftWarnEvery    = time.Minute
)

// CheckVectorTolerance is the largest |p| difference allowed between two
// scorers of one graph on a model's check vectors (go/replica against the
// sidecar; the deploy's smoke test against training).
const CheckVectorTolerance = 1e-6
