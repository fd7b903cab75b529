package predictor

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// The monitors watch model decisions off the decision path: drift (the live
// window against the training reference) and shadow (a candidate model
// scored on the same inputs). Their hooks in decide.go are one line each.

func (p *Predictor) initMonitors() {
	p.drift = newDrift(p.cfg.Drift, p.log)
	p.shadow = newShadowWatcher(p)
}

func (p *Predictor) registerMonitors(r prometheus.Registerer) error {
	var cs []prometheus.Collector
	if p.drift != nil {
		cs = append(cs, p.drift.m.collectors()...)
	}
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
	p.drift.start()
	p.shadow.start()
}

// closeMonitors stops the monitors' goroutines; the shadow writes its final
// report and stops its sidecar.
func (p *Predictor) closeMonitors() {
	p.shadow.close()
	p.drift.close()
}

// monitor is the decision path's hook for a model decision: one drift ring
// write and, with a shadow, one non-blocking channel send; no allocation.
func (p *Predictor) monitor(features []float32, d *Decision) {
	p.drift.observe(features, d.Probability)
	p.shadow.offer(features, d)
}
