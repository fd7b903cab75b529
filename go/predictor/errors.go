package predictor

import "errors"

// Errors returned by Predict, PredictContext and Decide. Match them with
// errors.Is; a sidecar error answer is an *rpc.Error wrapped in ErrSidecar.
var (
	// ErrInvalidInput: NaN, ±Inf or a feature count that is not the model's.
	// Such input is never sent to the sidecar.
	ErrInvalidInput = errors.New("predictor: invalid features")
	// ErrTimeout: no answer within Config.Timeout.
	ErrTimeout = errors.New("predictor: prediction timed out")
	// ErrUnavailable: no sidecar is up, or it died while the request was in flight.
	ErrUnavailable = errors.New("predictor: sidecar unavailable")
	// ErrNoModel: the sidecar runs but has no model loaded.
	ErrNoModel = errors.New("predictor: sidecar has no model loaded")
	// ErrOverloaded: the request queue is full.
	ErrOverloaded = errors.New("predictor: request queue full")
	// ErrSidecar: the sidecar answered with an error.
	ErrSidecar = errors.New("predictor: sidecar error")
	// ErrClosed: Close was called.
	ErrClosed = errors.New("predictor: closed")
	// ErrFeatureOrder: Config.Features (the order of the bot's slices) is not
	// the served model's order; Decide answers from the fallback until it is.
	ErrFeatureOrder = errors.New("predictor: feature order differs from the model's")
)
