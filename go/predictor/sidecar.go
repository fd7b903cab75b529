// The predictor's side of the sidecar's life (go/internal/sidecar runs and
// restarts the process): what each start, handshake, model load and exit
// means for the view the decision path reads, and for the metrics.

package predictor

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
	"github.com/sigmagate/sigmagate/go/internal/sidecar"
	"github.com/sigmagate/sigmagate/go/manifest"
)

// sidecarOptions are the sidecar package's settings and the predictor's
// hooks. signalFirst is called when the first start attempt has an outcome
// (New waits for it).
func (p *Predictor) sidecarOptions(signalFirst func()) *sidecar.Options {
	cfg := &p.cfg
	return &sidecar.Options{
		Command:      cfg.sidecarCommand,
		Env:          cfg.Env,
		Queue:        p.queue,
		MaxBatch:     cfg.MaxBatch,
		MaxInFlight:  cfg.MaxInFlight,
		ReadSpin:     cfg.ReadSpin,
		StartTimeout: cfg.StartTimeout,
		KillGrace:    cfg.KillGrace,
		BackoffMin:   cfg.RestartBackoffMin,
		BackoffMax:   cfg.RestartBackoffMax,
		Log:          p.log,
		ChildLog:     cfg.Logger.With("component", "sigmagate.infer"),
		Hooks: sidecar.Hooks{
			Error:        p.m.error,
			Batch:        func(n int) { p.m.batchSize.Observe(float64(n)) },
			Answered:     func() { p.consecTimeouts.Store(0) },
			ModelLoaded:  p.setModel,
			ReloadFailed: func(msg string) { p.update(func(v *view) { v.noteErr(msg) }) },
			Starting: func(restartReason string) {
				if restartReason != "" {
					p.m.restart(restartReason)
				}
				p.update(func(v *view) { v.state, v.sess, v.pid = StateStarting, nil, 0 })
			},
			StartFailed: func(err error) {
				p.setDown(err)
				p.log.Error("cannot start the sidecar; answering from the fallback", "err", err)
				signalFirst()
			},
			Spawned: func(s *sidecar.Session) { p.update(func(v *view) { v.pid = s.PID() }) },
			Ready: func(s *sidecar.Session, info *rpc.Info) {
				p.consecTimeouts.Store(0)
				p.setModel(s, info)
				signalFirst()
			},
			NoModel: func() bool { return p.view.Load().state == StateNoModel },
			Ended: func(_ *sidecar.Session, err error) {
				p.setDown(err)
				// Calls queued after the session died have no writer until the next
				// sidecar is up (seconds): answer them from the fallback now.
				p.drainQueue(ReasonChildDown, fmt.Errorf("%w: %w", ErrUnavailable, err))
				signalFirst()
			},
			Closed: p.setClosed,
		},
	}
}

// supervise runs the sidecar until Close; firstUp is closed when the first
// start attempt has an outcome.
func (p *Predictor) supervise(firstUp chan struct{}) {
	defer close(p.done)
	var once sync.Once
	signalFirst := func() { once.Do(func() { close(firstUp) }) }
	defer signalFirst()
	sidecar.Supervise(p.ctx, p.sidecarOptions(signalFirst))
}

// setModel publishes the session and the model it reports.
func (p *Predictor) setModel(s *sidecar.Session, info *rpc.Info) {
	var man *manifest.Manifest
	if info.Model != nil {
		man = p.loadManifest(info.Model)
	}
	if info.Model != nil {
		// Before the view: the version's answers may come back before it is published.
		p.served.add(servedThresholds{version: info.Model.Version, def: info.Model.Threshold, man: man, features: info.Model.Features})
	}
	p.update(func(v *view) {
		if v.state == StateClosed {
			return // Close is stopping this session; keep new calls on the fallback
		}
		v.sess, v.pid, v.man = s, s.PID(), man
		if info.Model == nil {
			v.state, v.version, v.variant, v.loadedAt = StateNoModel, "", "", time.Time{}
			v.threshold = p.cfg.DefaultThreshold
			v.modelLayout, v.orderErr = featureLayout{}, nil
			if info.Error != nil {
				v.noteErr(*info.Error)
			}
			return
		}
		m := info.Model
		v.modelLayout, v.orderErr = newLayout(m.Features), nil
		switch {
		case p.cfg.Features != nil:
			if !slices.Equal(p.cfg.Features, m.Features) {
				v.orderErr = orderMismatch(p.cfg.Features, m.Version, m.Features)
			}
		case !slices.Equal(v.layout.names, m.Features):
			p.log.Info("feature order from the model", "features", m.Features, "was", v.layout.names)
			v.layout = v.modelLayout
		}
		v.state, v.version, v.variant, v.threshold = StateReady, m.Version, m.Variant, m.Threshold
		v.loadedAt, _ = time.Parse(time.RFC3339Nano, m.LoadedAt)
		if v.loadedAt.IsZero() {
			v.loadedAt = time.Now()
		}
	})
	p.m.modelInfo.Reset()
	p.m.modelCreated.Reset()
	if man != nil {
		if t, err := time.Parse(time.RFC3339Nano, man.Created); err == nil {
			p.m.modelCreated.WithLabelValues(man.Version).Set(float64(t.UnixNano()) / 1e9)
		} else {
			p.log.Warn("the served manifest's created time is unreadable; sigmagate_predictor_model_created_timestamp_seconds is not exported",
				"version", man.Version, "created", man.Created, "err", err)
		}
	}
	if err := p.view.Load().orderErr; err != nil && info.Model != nil {
		p.log.Error("feature order mismatch: Decide approves nothing (source reject, reason feature_order) and returns ErrFeatureOrder until it is fixed; DecideNamed is unaffected",
			"bot_features", p.cfg.Features, "model_features", info.Model.Features, "version", info.Model.Version, "err", err)
	}
	if info.Model != nil {
		p.m.modelInfo.WithLabelValues(info.Model.Version, info.Model.Variant).Set(1)
		p.drift.ModelLoaded(info.Model.Version, info.Model.Path)
		p.log.Info("sidecar serving model", "pid", s.PID(), "version", info.Model.Version, "variant", info.Model.Variant, "threshold", info.Model.Threshold)
	} else {
		msg := "unknown"
		if info.Error != nil {
			msg = *info.Error
		}
		p.log.Warn("sidecar has no usable model; answering from the fallback and retrying", "pid", s.PID(), "why", msg)
	}
	p.replicaOnModel(s, info)
}

// loadManifest reads the manifest of the model the sidecar reports
// serving: its per-symbol thresholds and creation time are not in the
// handshake. Without it (an unreadable or moved directory) every symbol
// gets the served model's default threshold.
func (p *Predictor) loadManifest(mi *rpc.ModelInfo) *manifest.Manifest {
	dir := mi.Path
	if dir == "" {
		dir = p.cfg.ModelDir
	}
	m, err := manifest.Load(dir)
	if err == nil && m.Version != mi.Version {
		err = fmt.Errorf("%s holds version %s, the sidecar serves %s (the model moved)", dir, m.Version, mi.Version)
	}
	if err != nil {
		p.log.Warn("cannot read the served model's manifest: every symbol gets its default threshold", "version", mi.Version, "err", err)
		return nil
	}
	return m
}

func (p *Predictor) setDown(err error) {
	p.update(func(v *view) {
		v.state, v.sess, v.pid = StateDown, nil, 0
		if err != nil {
			v.noteErr(err.Error())
		}
	})
}

func (p *Predictor) setClosed() {
	p.update(func(v *view) { v.state, v.sess, v.pid = StateClosed, nil, 0 })
}
