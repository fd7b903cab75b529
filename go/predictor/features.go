package predictor

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Features is the served model's feature order, from its manifest as the
// sidecar reports it in `ready`: the order Decide's slices must follow. Nil
// before the first model is served and while the sidecar has none. A bot that builds slices itself should compare it
// with its own order at start-up (or set Config.Features, which does that),
// or use DecideNamed, which needs no order.
func (p *Predictor) Features() []string {
	return slices.Clone(p.view.Load().modelLayout.names)
}

// DecideNamed is Decide with features by name: the predictor lays them out
// in the served model's order, so a bot never depends on that order. Every
// feature the model takes must be given, and no other: a missing or unknown
// name is ErrInvalidInput (answered by the fallback, never sent), not a
// silent zero. While no model is served the fallback answers, and the names
// are those of Config.Features (default tick_ratio, depth_ratio, price_dist).
func (p *Predictor) DecideNamed(ctx context.Context, features map[string]float32) (Decision, error) {
	return p.decideNamed(ctx, features, modelBar)
}

func (p *Predictor) decideNamed(ctx context.Context, features map[string]float32, b bar) (Decision, error) {
	start := time.Now()
	v := p.view.Load().withModelLayout()
	if b.err != nil {
		p.m.error("bad_input")
		return p.fallback(v, nil, b, ReasonBadInput, b.err, start), b.err
	}
	row, err := byName(features, v.layout.names)
	if err != nil {
		p.m.error("bad_input")
		return p.fallback(v, nil, b, ReasonBadInput, err, start), err
	}
	return p.decideIn(ctx, v, row, features, b, start)
}

// withModelLayout is v with slices laid out in the served model's order
// (what a call by name uses): v itself when that is already its layout or
// no model is served. The copy is the call's own.
func (v *view) withModelLayout() *view {
	if v.modelLayout.names == nil || (v.orderErr == nil && slices.Equal(v.layout.names, v.modelLayout.names)) {
		return v
	}
	nv := *v
	nv.layout, nv.orderErr = v.modelLayout, nil
	return &nv
}

// byName lays features out in names' order.
func byName(features map[string]float32, names []string) ([]float32, error) {
	row := make([]float32, len(names))
	for i, n := range names {
		x, ok := features[n]
		if !ok {
			return nil, fmt.Errorf("%w: feature %q is missing; the model takes %v", ErrInvalidInput, n, names)
		}
		row[i] = x
	}
	if len(features) != len(names) {
		var unknown []string
		for n := range features {
			if !slices.Contains(names, n) {
				unknown = append(unknown, n)
			}
		}
		sort.Strings(unknown)
		return nil, fmt.Errorf("%w: unknown feature(s) %q; the model takes %v", ErrInvalidInput, unknown, names)
	}
	return row, nil
}

// orderMismatch is the error Decide's fallback carries while the bot's
// declared order (Config.Features) is not the served model's.
func orderMismatch(declared []string, version string, model []string) error {
	return fmt.Errorf("%w: the bot passes features in the order %v (Config.Features) but model %s takes %v; "+
		"retrain with --features %s, fix Config.Features, or use DecideNamed",
		ErrFeatureOrder, declared, version, model, strings.Join(model, ","))
}
