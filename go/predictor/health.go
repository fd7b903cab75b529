package predictor

import "time"

// Health is a snapshot of the predictor's state and counters.
type Health struct {
	State        State
	PID          int
	ModelVersion string
	Variant      string
	Features     []string
	Threshold    float64
	LoadedAt     time.Time
	// LastError is the most recent failure (a start, exit, reload or
	// handshake), kept after the predictor recovers: a record, not a state.
	// LastErrorAt says when; State says whether the model serves now (an
	// error before LoadedAt is over).
	LastError           string
	LastErrorAt         time.Time
	Predictions         uint64 // answered by the model
	ReplicaAnswers      uint64 // answered by the replica (fallback and native)
	Replica             ReplicaStatus
	Hedge               HedgeStatus // hedged decisions and the sidecar's late answers
	Fallbacks           uint64      // answered by Config.Fallback, or rejected as misconfigured
	FallbacksByReason   map[string]uint64
	Timeouts            uint64
	Restarts            uint64
	Errors              uint64
	ConsecutiveTimeouts int64
	Drift               DriftStatus  // the live window against the model's training data
	Shadow              ShadowStatus // the shadow model's live comparison, if one runs
}

// Health returns a snapshot; it never blocks on the sidecar.
func (p *Predictor) Health() Health {
	v := p.view.Load()
	return Health{
		State: v.state, PID: v.pid, ModelVersion: v.version, Variant: v.variant,
		Features: append([]string(nil), v.layout.names...), Threshold: v.threshold,
		LoadedAt: v.loadedAt, LastError: v.lastErr, LastErrorAt: v.errAt,
		Predictions: p.m.nModel.Load(), ReplicaAnswers: p.rm.nAnswers.Load(), Replica: p.replicaStatus(), Hedge: p.h.status(), Fallbacks: p.m.nFallback.Load(), FallbacksByReason: p.m.fallbackCounts(),
		Timeouts: p.m.nTimeouts.Load(), Restarts: p.m.nRestarts.Load(), Errors: p.m.nErrors.Load(),
		ConsecutiveTimeouts: p.consecTimeouts.Load(),
		Drift:               p.drift.Snapshot(),
		Shadow:              p.shadow.snapshot(),
	}
}
