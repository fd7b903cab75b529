// Package defaults holds Go's copies of the project's defaults, whose one
// definition is modelformat/defaults.py (`python -m modelformat defaults`);
// the test here fails when a copy drifts from it.
package defaults

import "time"

// Decision threshold train writes into a manifest, and the AUC floor a model
// must reach to be published.
const (
	DefaultThreshold = 0.65
	DefaultMinAUC    = 0.55
)

// Sigma-reversion label parameters (train/labels/labeler.py).
const (
	LabelLookaheadS     = 60.0
	LabelThresholdSigma = 1.5
	LabelMinDistSigma   = 0.5
	LabelMinStd         = 0.1
)

// DefaultFeatures are the features train uses when none are named, in the
// order the bot lays them out.
var DefaultFeatures = []string{"tick_ratio", "depth_ratio", "price_dist"}

// KnownFeatures are every feature the bot records.
var KnownFeatures = []string{"tick_ratio", "depth_ratio", "price_dist", "price", "vwap",
	"std_dev", "bid_vol", "ask_vol", "rolling_volatility", "bid_ask_spread", "volume_spike"}

// Promotion of a shadow model (deploy_model.sh --promote).
const (
	PromoteMinDecisions = 1000
	PromoteMinAgreement = 0.8
	PromoteApprovalLow  = 0.5
	PromoteApprovalHigh = 2.0
)

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
