package predictor

import (
	"math"
	"sync"

	"github.com/sigmagate/sigmagate/go/manifest"
)

// bar is the threshold a decision was asked at: an explicit one
// (DecideThreshold), or the model's own — its default (Decide) or its
// threshold for a symbol (DecideSymbol). The model's own depends on which
// model answers: a call sent just before a reload may be answered by the new
// model, and a hedged call by the replica of the previous one, so it is
// read for the version that answered, not the version served when the call
// began.
type bar struct {
	explicit float64 // NaN: the model's own threshold
	symbol   string
	bySymbol bool
}

func explicitBar(t float64) bar { return bar{explicit: t} }

// modelBar is the model's default threshold.
var modelBar = bar{explicit: math.NaN()}

func symbolBar(symbol string) bar { return bar{explicit: math.NaN(), symbol: symbol, bySymbol: true} }

// of is b's threshold under the thresholds t.
func (b bar) of(t servedThresholds) float64 {
	switch {
	case !math.IsNaN(b.explicit):
		return b.explicit
	case b.bySymbol && t.man != nil:
		return t.man.ThresholdFor(b.symbol)
	default:
		return t.def
	}
}

// servedThresholds is one model version's thresholds as it was served: the
// sidecar's default (its manifest's, or its --threshold) and its manifest's
// per-symbol ones.
type servedThresholds struct {
	version string
	def     float64
	man     *manifest.Manifest
}

func (v *view) thresholds() servedThresholds {
	return servedThresholds{version: v.version, def: v.threshold, man: v.man}
}

// thresholdHistory remembers the thresholds of the last few versions
// served: enough for the answers still out when a reload completes.
type thresholdHistory struct {
	mu   sync.Mutex
	last []servedThresholds // newest last
}

const thresholdHistoryLen = 4

func (h *thresholdHistory) add(t servedThresholds) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, o := range h.last {
		if o.version == t.version {
			h.last = append(h.last[:i], h.last[i+1:]...)
			break
		}
	}
	h.last = append(h.last, t)
	if len(h.last) > thresholdHistoryLen {
		h.last = h.last[len(h.last)-thresholdHistoryLen:]
	}
}

func (h *thresholdHistory) find(version string) (servedThresholds, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.last) - 1; i >= 0; i-- {
		if h.last[i].version == version {
			return h.last[i], true
		}
	}
	return servedThresholds{}, false
}

// thresholdFor is b's threshold for an answer from version, asked while v
// was served: v's own when v served that version (every call outside a
// reload), else that version's as it was served.
func (p *Predictor) thresholdFor(b bar, v *view, version string) float64 {
	if !math.IsNaN(b.explicit) || version == v.version {
		return b.of(v.thresholds())
	}
	if t, ok := p.served.find(version); ok {
		return b.of(t)
	}
	return b.of(v.thresholds())
}
