package sidecar

import (
	"errors"
	"sync/atomic"
)

// The errors a Call fails with. The predictor exports them under the same
// names; match them with errors.Is. A sidecar error answer is an *rpc.Error
// wrapped in ErrSidecar (or ErrNoModel).
var (
	// ErrUnavailable: no sidecar is up, or it died while the request was in flight.
	ErrUnavailable = errors.New("predictor: sidecar unavailable")
	// ErrNoModel: the sidecar runs but has no model loaded.
	ErrNoModel = errors.New("predictor: sidecar has no model loaded")
	// ErrSidecar: the sidecar answered with an error.
	ErrSidecar = errors.New("predictor: sidecar error")
	// ErrClosed: the session was shut down.
	ErrClosed = errors.New("predictor: closed")
	// ErrProtocolVersion: the sidecar speaks another protocol version.
	ErrProtocolVersion = errors.New("predictor: sidecar protocol version mismatch")
)

// Why a Call failed; the predictor's Reason* constants of the same values.
const (
	ReasonChildDown = "child_down" // no sidecar running, or it died mid-request
	ReasonClosed    = "closed"     // the session was shut down by its owner (ErrClosed)
	ReasonNoModel   = "no_model"   // the sidecar runs but has no model loaded
	ReasonError     = "error"      // the sidecar answered with an error
)

// Call is one record waiting for its probability. Whoever creates it puts it
// on Options.Queue (or hands it to Session.SendNow); the session answers it
// by closing Done, having set P, Version and OOD, or Reason and Err.
type Call struct {
	Features  []float32
	done      chan struct{}
	abandoned atomic.Bool

	// state and late implement Hedge: whichever of the caller (hedging) and
	// the finisher (answering) moves state off callWaiting first wins.
	state atomic.Int32
	late  func(*Call)

	// Written before Done is closed:
	P       float64
	Version string
	OOD     bool
	Reason  string
	Err     error
}

// NewCall returns a call for features (not copied: keep them unchanged
// until the call is answered).
func NewCall(features []float32) *Call {
	return &Call{Features: features, done: make(chan struct{})}
}

// Done is closed once the call is answered or failed.
func (c *Call) Done() <-chan struct{} { return c.done }

// Abandon tells the writer that nobody waits for the answer any more: a
// call still queued is skipped.
func (c *Call) Abandon() { c.abandoned.Store(true) }

// Resolve answers the call with a probability; only for the reader that
// took the call from its Writer.
func (c *Call) Resolve(p float64, version string, ood bool) {
	c.P, c.Version, c.OOD = p, version, ood
	c.finish()
}

// Fail answers the call with an error; only for a call no session holds
// (one still queued after every session ended).
func (c *Call) Fail(reason string, err error) {
	c.Reason, c.Err = reason, err
	c.finish()
}

const (
	callWaiting int32 = iota
	callAnswered
	callHedged
	callExpired
)

// Hedge tells the call that its caller has answered elsewhere and stopped
// waiting, but still wants to hear how it ends: late is called once, on
// the goroutine that finishes the call (the session's reader, or whoever
// fails it), with P… or Err set. The call stays queued or in flight. Hedge
// reports false, and never calls late, when the call was finished first:
// Done is then closed and the answer is the caller's to use. Calling Hedge
// costs the finisher nothing but one atomic compare-and-swap, so no
// goroutine waits for a hedged call.
func (c *Call) Hedge(late func(*Call)) bool {
	c.late = late // published by the swap below, read only after it
	return c.state.CompareAndSwap(callWaiting, callHedged)
}

// Expire takes a hedged call's end from its late callback: whoever gave up
// on the call (a deadline) accounts for it, and late is never called. It
// reports false when the call was finished first (late then has run or
// runs), or was not hedged.
func (c *Call) Expire() bool { return c.state.CompareAndSwap(callHedged, callExpired) }

// finish closes Done, then hands the call to its hedge if its caller left
// and it has not expired.
func (c *Call) finish() {
	close(c.done)
	if c.state.CompareAndSwap(callWaiting, callAnswered) {
		return // the caller takes the answer from Done
	}
	if c.state.CompareAndSwap(callHedged, callAnswered) {
		c.late(c)
	} // else expired: whoever expired it accounted for it
}
