package predictor

import "time"

// The drift goroutine: it drains the ring into the window, starts a new
// window when the served model changes, and evaluates it (and warns) on
// every tick.

func (d *drift) run() {
	defer close(d.done)
	w := newDriftWindow(d.cfg.Window)
	var ref *driftRef
	lastWarn := map[string]time.Time{} // per alert
	tick := time.NewTicker(d.cfg.Every)
	defer tick.Stop()
	var cursor uint64
	drain := func() {
		var lost uint64
		cursor, lost = d.ring.drain(cursor, func(r driftRec) {
			if ref != nil {
				w.push(ref, r)
			}
		})
		d.dropped.Add(lost)
	}
	for {
		select {
		case <-d.stop:
			return
		case mdl := <-d.models:
			if ref != nil && ref.version == mdl.version {
				continue // the same model again (a restarted sidecar): keep the window
			}
			drain() // what the previous model decided belongs to its window
			ref = loadDriftRef(mdl, d.log)
			w.reset(ref)
			d.status.Store(&DriftStatus{ModelVersion: mdl.version, HasReference: ref.bins != nil})
		case <-d.ring.full:
			drain()
		case now := <-tick.C:
			drain()
			if ref == nil {
				continue
			}
			s := w.evaluate(ref, d.cfg, now)
			d.m.set(s)
			d.status.Store(&s)
			if due(lastWarn, s.Alerts, now, d.cfg.WarnEvery) {
				d.m.warnings.Inc()
				d.log.Warn("live features drifted from the model's training data; consider retraining",
					"model_version", s.ModelVersion, "alerts", s.Alerts, "decisions", s.Decisions,
					"psi", s.PSI, "ood_share", s.OODShare, "approval_rate", s.ApprovalRate,
					"reference_approval_rate", s.ReferenceApprovalRate,
					"psi_threshold", d.cfg.PSI, "ood_threshold", d.cfg.OOD)
			}
		}
	}
}

// due reports whether one of alerts was not warned about within every, and
// if so marks them all as warned now.
func due(last map[string]time.Time, alerts []string, now time.Time, every time.Duration) bool {
	warn := false
	for _, a := range alerts {
		if t, ok := last[a]; !ok || now.Sub(t) >= every {
			warn = true
		}
	}
	if warn {
		for _, a := range alerts {
			last[a] = now
		}
	}
	return warn
}
