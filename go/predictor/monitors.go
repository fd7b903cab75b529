package predictor

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigmagate/sigmagate/go/internal/drift"
)

// The monitors watch model decisions off the decision path: drift (the live
// window against the training reference) and shadow (a candidate model
// scored on the same inputs). Their hooks in decide.go are one line each.

// DriftConfig tunes live drift monitoring (Config.Drift): the live window of
// model decisions is compared with the served model's manifest `reference`
// (its training distribution). The zero value is the documented defaults.
type DriftConfig = drift.Config

// DriftStatus is the last evaluation of the live window (Health().Drift).
type DriftStatus = drift.Status

func (p *Predictor) initMonitors() {
	p.drift = drift.New(p.cfg.Drift, p.log)
	p.shadow = newShadowWatcher(p)
}

func (p *Predictor) registerMonitors(r prometheus.Registerer) error {
	var cs []prometheus.Collector
	cs = append(cs, p.drift.Collectors()...)
	if p.shadow != nil {
		cs = append(cs, p.shadow.m.collectors()...)
	}
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("predictor: register metrics (use one registry per Predictor): %w", err)
		}
	}
	return nil
}

func (p *Predictor) startMonitors() {
	p.drift.Start()
	p.shadow.start()
}

// closeMonitors stops the monitors' goroutines; the shadow writes its final
// report and stops its sidecar.
func (p *Predictor) closeMonitors() {
	p.shadow.close()
	p.drift.Close()
}

// monitor is the decision path's hook for a model decision: one drift ring
// write and, with a shadow, one non-blocking channel send. owned says the
// slice is the call's own copy; otherwise it is the bot's, free to reuse
// once Decide returns, and the shadow gets a copy (the one allocation, and
// only while a shadow runs).
func (p *Predictor) monitor(features []float32, owned bool, names []string, d *Decision) {
	p.drift.Observe(features, d.Probability)
	p.shadow.offer(features, owned, names, d)
}
