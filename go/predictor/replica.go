package predictor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
	"github.com/sigmagate/sigmagate/go/internal/sidecar"
	"github.com/sigmagate/sigmagate/go/manifest"
	"github.com/sigmagate/sigmagate/go/replica"
)

// The replica (go/replica) is an in-process copy of the served tree model.
// It answers when the sidecar cannot (the fallback ladder: model, then
// replica, then heuristic) and, with Config.Mode = ModeReplica, answers
// every decision. It is used only for the model version the sidecar reported
// serving, and only after it scored the model's check vectors exactly as the
// sidecar did (within replica.Tolerance).

// ReplicaStatus is the replica's part of Health.
type ReplicaStatus struct {
	// Version is the verified replica's model version, "" when none.
	Version string
	// Nodes is the number of tree nodes it evaluates.
	Nodes int
	// Native: the replica answers every decision (ModeReplica, and no sample
	// has disagreed with the sidecar).
	Native bool
	// Why says why there is no replica (or why native mode was left).
	Why string
}

// replicaState is what the hot path reads; published atomically.
type replicaState struct {
	r        *replica.Replica // nil when none is verified for the served version
	version  string
	features []string  // the order r takes its features in
	lo, hi   []float64 // the training range of each feature (nil: none), for OutOfDistribution
	why      string
}

// replicaOnModel starts building and verifying the replica of the model the
// sidecar just reported serving. Until it passes, the previous replica is
// withdrawn unless it is of the same version.
func (p *Predictor) replicaOnModel(s *sidecar.Session, info *rpc.Info) {
	if info.Model == nil {
		return // no model: keep the last verified replica of what was served
	}
	if p.cfg.DisableReplica {
		p.rep.Store(&replicaState{why: "disabled by Config.DisableReplica"})
		return
	}
	version := info.Model.Version
	if cur := p.rep.Load(); cur != nil && cur.r != nil && cur.version == version {
		return
	}
	pending := &replicaState{why: "verifying the replica of " + version}
	p.rep.Store(pending)
	if p.ctx.Err() != nil {
		return
	}
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		p.verifyWithRetries(s, info, pending)
	}()
}

// verifyWithRetries checks the replica of the model info reports and
// publishes the outcome in place of state (unless a newer model load replaced
// it meanwhile: its own check publishes). A check that failed only because
// the sidecar did not score the check vectors in time (a stall, a loaded
// host) is tried again, 1 s, 2 s, 4 s … up to a minute later, while that
// sidecar serves: without a replica every later stall would cost decisions
// the full Timeout and the heuristic's answer.
func (p *Predictor) verifyWithRetries(s *sidecar.Session, info *rpc.Info, state *replicaState) {
	version := info.Model.Version
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		r, m, err := p.verifyReplica(s, info.Model)
		if err == nil {
			st := &replicaState{r: r, version: version, features: info.Model.Features}
			st.lo, st.hi, _ = m.TrainingRanges()
			if p.rep.CompareAndSwap(state, st) {
				p.log.Info("replica verified; it answers when the sidecar cannot", "version", version, "nodes", r.Nodes(), "native", p.cfg.Mode == ModeReplica)
			}
			return
		}
		retry := errors.Is(err, errSidecarCheck)
		why := err.Error()
		if retry {
			why += fmt.Sprintf("; checking again in %v", wait)
		}
		failed := &replicaState{version: version, why: why}
		if !p.rep.CompareAndSwap(state, failed) || !retry {
			return
		}
		state = failed
		t := time.NewTimer(wait)
		select {
		case <-p.ctx.Done():
			t.Stop()
			return
		case <-s.Dead():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// errSidecarCheck marks a replica check that failed because the sidecar did
// not score the check vectors: worth another try, unlike a mismatch.
var errSidecarCheck = errors.New("scoring the check vectors on the sidecar")

// verifyReplica builds the replica from the directory the sidecar serves and
// compares it with the sidecar on the check vectors; it returns the replica
// and the manifest it was built from.
func (p *Predictor) verifyReplica(s *sidecar.Session, mi *rpc.ModelInfo) (*replica.Replica, *manifest.Manifest, error) {
	dir := mi.Path
	if dir == "" {
		dir = p.cfg.ModelDir
	}
	fail := func(result string, err error) (*replica.Replica, *manifest.Manifest, error) {
		p.rm.checks.WithLabelValues(result).Inc()
		if result == "mismatch" {
			p.log.Error("replica REFUSED: it disagrees with the sidecar; the sidecar keeps serving, the heuristic is the fallback", "version", mi.Version, "err", err)
		} else {
			p.log.Warn("no replica for this model; the heuristic is the fallback", "version", mi.Version, "why", err)
		}
		return nil, nil, err
	}
	if dir == "" {
		return fail("unsupported", errors.New("no model directory known (Config.ModelDir is empty)"))
	}
	m, err := manifest.Load(dir)
	if err != nil {
		return fail("error", err)
	}
	if m.Version != mi.Version {
		return fail("error", fmt.Errorf("%s holds version %s, the sidecar serves %s (the model moved)", dir, m.Version, mi.Version))
	}
	if mi.Variant != "" {
		m.ServeVariant = mi.Variant
	}
	if v, err := m.Served(); err == nil && mi.SHA256 != "" && v.SHA256 != mi.SHA256 {
		return fail("error", fmt.Errorf("%s: variant %s has sha256 %s, the sidecar serves %s", dir, mi.Variant, v.SHA256, mi.SHA256))
	}
	r, err := replica.FromManifest(m)
	if err != nil {
		if errors.Is(err, replica.ErrUnsupported) {
			return fail("unsupported", fmt.Errorf("%s: %w", m.ModelFamily, err))
		}
		return fail("error", err)
	}
	cv, err := replica.LoadCheckVectors(m)
	if err != nil {
		return fail("unsupported", err)
	}
	want, err := p.askSidecar(s, cv.Rows, mi.Version)
	if err == nil && p.cfg.stallReplicaCheck != nil {
		err = p.cfg.stallReplicaCheck()
	}
	if err != nil {
		return fail("error", fmt.Errorf("%w: %w", errSidecarCheck, err))
	}
	if p.cfg.corruptReplicaCheck != nil {
		p.cfg.corruptReplicaCheck("check", want)
	}
	if err := r.Compare(cv.Rows, want); err != nil {
		return fail("mismatch", err)
	}
	p.rm.checks.WithLabelValues("passed").Inc()
	return r, m, nil
}

// askSidecar scores rows on the sidecar through the ordinary request path
// (they are batched like any other calls) and returns its probabilities.
// Every answer must come from the given model version.
func (p *Predictor) askSidecar(s *sidecar.Session, rows [][]float32, version string) ([]float64, error) {
	ctx, cancel := context.WithTimeout(p.ctx, max(p.cfg.Timeout, 10*time.Second))
	defer cancel()
	calls := make([]*sidecar.Call, len(rows))
	for i, r := range rows {
		calls[i] = sidecar.NewCall(r)
		select {
		case p.queue <- calls[i]:
		case <-s.Dead():
			return nil, errors.New("the sidecar died")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	out := make([]float64, len(rows))
	for i, c := range calls {
		select {
		case <-c.Done():
		case <-ctx.Done():
			for _, c := range calls {
				c.Abandon()
			}
			return nil, ctx.Err()
		}
		if c.Err != nil {
			return nil, fmt.Errorf("row %d: %w", i, c.Err)
		}
		if c.Version != version {
			return nil, fmt.Errorf("row %d was answered by version %s, not %s", i, c.Version, version)
		}
		out[i] = c.P
	}
	return out, nil
}

// fromReplica answers with the verified replica, or reports false when
// there is none or its answer is not a probability.
func (p *Predictor) fromReplica(v *view, features []float32, b bar, reason string, err error, start time.Time) (Decision, bool) {
	d, ok := p.replicaDecision(v, features, b, start)
	if !ok {
		return d, false
	}
	d.Reason, d.Err = reason, err
	p.rm.observe(reason, d.Latency)
	return d, true
}

// replicaDecision scores features on the verified replica, at the threshold
// of the version it replicates; false when there is none, when it takes its
// features in another order than the call's layout (the bot's declared order
// differs from the model's, or a reload changed it), or when its answer is
// not a probability.
func (p *Predictor) replicaDecision(v *view, features []float32, b bar, start time.Time) (Decision, bool) {
	st := p.rep.Load()
	if st == nil || st.r == nil || !slices.Equal(st.features, v.layout.names) {
		return Decision{}, false
	}
	prob := float64(st.r.Predict(features))
	if !(prob >= 0 && prob <= 1) {
		return Decision{}, false
	}
	threshold := p.thresholdFor(b, v, st.version)
	return Decision{Approve: prob >= threshold, Probability: prob, Threshold: threshold, Source: SourceReplica,
		ModelVersion: st.version, OutOfDistribution: st.outside(features), Latency: time.Since(start)}, true
}

// outside reports whether a feature lies outside its training range, as the
// sidecar's `ood` flag does (false when the manifest gives no ranges).
func (st *replicaState) outside(features []float32) bool {
	for i, x := range features {
		if i < len(st.lo) && (float64(x) < st.lo[i] || float64(x) > st.hi[i]) {
			return true
		}
	}
	return false
}

// replicaStatus is Health's view of the replica.
func (p *Predictor) replicaStatus() ReplicaStatus {
	st := p.rep.Load()
	if st == nil {
		return ReplicaStatus{Why: "no model has been served yet"}
	}
	rs := ReplicaStatus{Why: st.why}
	if st.r != nil {
		rs.Version, rs.Nodes = st.version, st.r.Nodes()
		rs.Native = p.cfg.Mode == ModeReplica && !p.nativeOff.Load()
		if p.cfg.Mode == ModeReplica && !rs.Native {
			rs.Why = "native mode left: " + p.nativeWhy()
		}
	}
	return rs
}

// probabilityEqual: a replica answer matches a sidecar answer.
func probabilityEqual(a, b float64) bool { return math.Abs(a-b) <= replica.Tolerance }
