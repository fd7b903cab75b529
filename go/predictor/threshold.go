package predictor

import (
	"fmt"
	"math"
	"slices"
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
	err      error // the bot's threshold is no threshold: the call is refused
}

// explicitBar is the bar of a threshold the bot gives. One that is not a
// number in [0, 1] (a percentage, a sign slip, NaN) is refused as invalid
// input rather than applied: below 0 it would approve every trade, above 1
// none, and either silently.
func explicitBar(t float64) bar {
	if !(t >= 0 && t <= 1) {
		return bar{explicit: math.NaN(), err: fmt.Errorf("%w: threshold %v is not a number in [0, 1]", ErrInvalidInput, t)}
	}
	return bar{explicit: t}
}

// modelBar is the model's default threshold.
var modelBar = bar{explicit: math.NaN()}

func symbolBar(symbol string) bar { return bar{explicit: math.NaN(), symbol: symbol, bySymbol: true} }

// of is b's threshold under the thresholds t.
func (b bar) of(t servedThresholds) float64 {
	switch {
	case !math.IsNaN(b.explicit):
		return b.explicit
	case b.bySymbol && t.man != nil:
		// A symbol's own threshold, else the sidecar's default, which is its
		// --threshold when it was given one, not the manifest's.
		if th, ok := t.man.SymbolThresholds[b.symbol]; ok {
			return th
		}
		return t.def
	default:
		return t.def
	}
}

// servedThresholds is one model version's thresholds as it was served: the
// sidecar's default (its manifest's, or its --threshold) and its manifest's
// per-symbol ones; and the feature order it takes.
type servedThresholds struct {
	version  string
	def      float64
	man      *manifest.Manifest
	features []string
}

func (v *view) thresholds() servedThresholds {
	return servedThresholds{version: v.version, def: v.threshold, man: v.man, features: v.modelLayout.names}
}

// thresholdHistory remembers the thresholds and feature orders of the last
// few versions served: enough for the answers still out when a reload
// completes.
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

// sameColumns reports whether version, which answered a call laid out as
// names, takes its features in that order. A reload that changes the order
// can land between a call's layout and its answer: such an answer was scored
// in the wrong columns. A version no longer remembered is not trusted.
func (p *Predictor) sameColumns(version string, names []string, v *view) ([]string, bool) {
	if version == v.version && v.modelLayout.names != nil {
		return v.modelLayout.names, slices.Equal(v.modelLayout.names, names)
	}
	t, ok := p.served.find(version)
	if !ok {
		return nil, false
	}
	return t.features, slices.Equal(t.features, names)
}
