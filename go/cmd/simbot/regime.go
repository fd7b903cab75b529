package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sigmagate/sigmagate/go/predictor"
)

// The simulated market changes regime on SIGUSR1 (the demo's last phase):
// from then on every replayed candidate looks like a volatile, one-sided
// market — price dislocations 2.5 times wider and order flow leaning to the
// buy side — so the features no longer look like the data the model was
// trained on, which the predictor's drift monitor must notice.
var shifted atomic.Bool

// marketFeatures is the candidate as the current regime presents it. The
// recorded slice is never modified.
func marketFeatures(f []float32) []float32 {
	if !shifted.Load() {
		return f
	}
	// tick_ratio in [-1, 1] maps to [-0.05, 0.95]: still a valid imbalance.
	return []float32{f[0]*0.5 + 0.45, f[1], f[2] * 2.5}
}

// watchRegime switches the regime on SIGUSR1 (where there is one) and reports the predictor's
// drift alerts on stderr as they appear. The returned func stops both.
func watchRegime(p *predictor.Predictor) (stop func()) {
	sig := make(chan os.Signal, 1)
	notifyRegimeSwitch(sig)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		printed := map[string]bool{} // alerts already shown: each is printed once
		for {
			select {
			case <-done:
				return
			case <-sig:
				shifted.Store(true)
				fmt.Fprintln(os.Stderr, "simbot: SIGUSR1: the market changes regime (volatile, one-sided order flow)")
			case <-t.C:
				d := p.Health().Drift
				fresh := false
				for _, a := range d.Alerts {
					if !printed[d.ModelVersion+a] {
						printed[d.ModelVersion+a], fresh = true, true
					}
				}
				if fresh {
					alerts := strings.Join(d.Alerts, ",")
					fmt.Fprintf(os.Stderr, "simbot: DRIFT model %s over %d decisions: %s; PSI %s; OOD %s; approval %.3f (training %.3f)\n",
						d.ModelVersion, d.Decisions, alerts, fmtMap(d.PSI), fmtMap(d.OODShare), d.ApprovalRate, d.ReferenceApprovalRate)
				}
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		<-exited
	}
}

func fmtMap(m map[string]float64) string {
	var parts []string
	for _, k := range []string{"tick_ratio", "depth_ratio", "price_dist"} {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%.3f", k, v))
		}
	}
	return strings.Join(parts, " ")
}
