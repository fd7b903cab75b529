package predictor

import (
	"errors"

	"github.com/sigmagate/sigmagate/go/internal/sidecar"
)

// Errors returned by Predict, PredictContext and Decide. Match them with
// errors.Is; a sidecar error answer is an *rpc.Error wrapped in ErrSidecar.
var (
	// ErrInvalidInput: NaN, ±Inf or a feature count that is not the model's.
	// Such input is never sent to the sidecar.
	ErrInvalidInput = errors.New("predictor: invalid features")
	// ErrTimeout: no answer within Config.Timeout.
	ErrTimeout = errors.New("predictor: prediction timed out")
	// ErrUnavailable: no sidecar is up, or it died while the request was in flight.
	ErrUnavailable = sidecar.ErrUnavailable
	// ErrNoModel: the sidecar runs but has no model loaded.
	ErrNoModel = sidecar.ErrNoModel
	// ErrOverloaded: the request queue is full.
	ErrOverloaded = errors.New("predictor: request queue full")
	// ErrSidecar: the sidecar answered with an error.
	ErrSidecar = sidecar.ErrSidecar
	// ErrClosed: Close was called.
	ErrClosed = sidecar.ErrClosed
	// ErrProtocolVersion: the sidecar speaks another protocol version
	// (docs/PROTOCOL.md) than this predictor; Health().LastError says which
	// side to upgrade. The predictor keeps restarting it with backoff.
	ErrProtocolVersion = sidecar.ErrProtocolVersion
	// ErrFeatureOrder: Config.Features (the order of the bot's slices) is not
	// the served model's order; Decide approves nothing (source reject) and
	// returns it until it is.
	ErrFeatureOrder = errors.New("predictor: feature order differs from the model's")
)
