package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sigmagate/sigmagate/go/defaults"
	"github.com/sigmagate/sigmagate/go/internal/stats"
	"github.com/sigmagate/sigmagate/go/manifest"
	"github.com/sigmagate/sigmagate/go/predictor"
)

// sample draws records from each feature's training distribution (normal
// around mean, clipped to [min, max]); without stats, from [-1, 1].
func sample(m *manifest.Manifest, n int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]float32, n)
	for i := range out {
		rec := make([]float32, len(m.Features))
		for j, name := range m.Features {
			st, ok := m.FeatureStats[name]
			if !ok || st.Std <= 0 {
				rec[j] = float32(r.Float64()*2 - 1)
				continue
			}
			rec[j] = float32(min(max(st.Mean+st.Std*r.NormFloat64(), st.Min), st.Max))
		}
		out[i] = rec
	}
	return out
}

// modelAnswer reports whether the model answered d: the sidecar, or the
// verified replica of the same model version that answers a call the sidecar
// has not answered within the hedge delay. A few hedged calls are expected
// from a loaded machine; only the heuristic, a rejection or an error is a
// fallback.
func modelAnswer(d predictor.Decision) bool {
	return d.Source == predictor.SourceModel || d.Source == predictor.SourceReplica
}

// Agreement compares the predictor's answers with onnxruntime run directly
// on the manifest's serve variant — the model's own scores. Hedged answers
// are compared too: the replica must agree as closely as the sidecar (a
// model with no replica hedges to the fallback: counted, not compared).
type Agreement struct {
	Records      int     `json:"records"`
	MaxAbsDiff   float64 `json:"max_abs_dp"`
	DecisionsOff int     `json:"decisions_differ"`
	Hedged       int     `json:"hedged"`
	Fallbacks    int     `json:"fallbacks"`
	Pass         bool    `json:"pass"`
	Error        string  `json:"error,omitempty"`
}

func checkAgreement(ctx context.Context, p *predictor.Predictor, python, modelDir string, m *manifest.Manifest, recs [][]float32) Agreement {
	a := Agreement{Records: len(recs)}
	want, err := onnxScores(ctx, python, modelDir, m, recs)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	for i, r := range recs {
		d, err := p.Decide(ctx, r)
		if err == nil && !modelAnswer(d) && d.Reason == predictor.ReasonSlow {
			a.Hedged++ // a model with no replica: the fallback answered, nothing to compare
			continue
		}
		if err != nil || !modelAnswer(d) {
			a.Fallbacks++
			continue
		}
		if d.Source == predictor.SourceReplica {
			a.Hedged++
		}
		a.MaxAbsDiff = max(a.MaxAbsDiff, math.Abs(d.Probability-want[i]))
		if d.Approve != (want[i] >= d.Threshold) {
			a.DecisionsOff++
		}
	}
	a.Pass = a.Fallbacks == 0 && a.DecisionsOff == 0 && a.MaxAbsDiff <= defaults.CheckVectorTolerance
	return a
}

const onnxScript = `
import json, sys
import numpy as np
import onnxruntime as ort
path, inp, outp = sys.argv[1:4]
s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
x = np.asarray(json.load(sys.stdin), dtype=np.float32)
json.dump([float(q) for q in s.run([outp], {inp: x})[0].reshape(-1)], sys.stdout)
`

func onnxScores(ctx context.Context, python, modelDir string, m *manifest.Manifest, recs [][]float32) ([]float64, error) {
	if python == "" {
		return nil, errors.New("no Python found to compute the model's own scores; pass -python")
	}
	v, err := m.Served()
	if err != nil {
		return nil, err
	}
	in, _ := json.Marshal(recs)
	cmd := exec.CommandContext(ctx, python, "-c", onnxScript, filepath.Join(modelDir, v.File), m.InputName, m.OutputName)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// A traceback's last line is its error; the report is no place for the rest.
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		return nil, fmt.Errorf("onnxruntime reference with %s: %w: %s", python, err, lines[len(lines)-1])
	}
	var p []float64
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("onnxruntime reference with %s: its output is no JSON list of scores: %w", python, err)
	}
	if len(p) != len(recs) {
		return nil, fmt.Errorf("onnxruntime reference with %s gave %d scores for %d records", python, len(p), len(recs))
	}
	return p, nil
}

// EdgeCase is one hostile input and what the predictor did with it.
type EdgeCase struct {
	Name   string `json:"name"`
	Want   string `json:"want"`
	Got    string `json:"got"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail,omitempty"`
}

func checkEdgeCases(ctx context.Context, p *predictor.Predictor, m *manifest.Manifest) []EdgeCase {
	n := len(m.Features)
	base := make([]float32, n)
	with := func(i int, v float32) []float32 {
		r := slices.Clone(base)
		r[i%n] = v
		return r
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	cases := []struct {
		name  string
		f     []float32
		valid bool
	}{
		{"nan", with(0, nan), false},
		{"+inf", with(1, inf), false},
		{"-inf", with(n-1, -inf), false},
		{"huge_positive", with(0, 1e30), true},
		{"huge_negative", with(n-1, -1e30), true},
		{"float32_max", with(1, math.MaxFloat32), true},
		{"empty", []float32{}, false},
		{"one_short", base[:n-1], false},
		{"one_extra", append(slices.Clone(base), 0), false},
	}
	var out []EdgeCase
	for _, c := range cases {
		e := EdgeCase{Name: c.name}
		d, err := p.Decide(ctx, c.f)
		switch {
		case c.valid:
			e.Want = "model answer in [0,1]"
			e.Got = fmt.Sprintf("%s p=%.6g", d.Source, d.Probability)
			if !modelAnswer(d) {
				// The fallback's "probability" is the heuristic's confidence; say why it answered.
				e.Got = fmt.Sprintf("fallback (%s: %v)", d.Reason, d.Err)
			}
			e.Pass = err == nil && modelAnswer(d) && d.Probability >= 0 && d.Probability <= 1
			if d.OutOfDistribution {
				e.Detail = "flagged out of distribution"
			}
		default:
			e.Want = "ErrInvalidInput, rejected, not sent"
			e.Got = fmt.Sprintf("%s/%s err=%v", d.Source, d.Reason, err)
			e.Pass = errors.Is(err, predictor.ErrInvalidInput) && d.Source == predictor.SourceReject && !d.Approve
		}
		_ = p.Approve(c.f, 0.5) // must not panic
		out = append(out, e)
	}
	// The sidecar must still serve after all of that.
	d, err := p.Decide(ctx, base)
	out = append(out, EdgeCase{Name: "still_serving", Want: "model answer", Got: string(d.Source),
		Pass: err == nil && modelAnswer(d)})
	return out
}

// Stress is one load level.
type Stress struct {
	Goroutines int     `json:"goroutines"`
	Decisions  int64   `json:"decisions"`
	Hedged     int64   `json:"hedged"`
	Fallbacks  int64   `json:"fallbacks"`
	PerSecond  float64 `json:"decisions_per_s"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	P999us     float64 `json:"p999_us"`
	Pass       bool    `json:"pass"`
}

func stress(ctx context.Context, p *predictor.Predictor, recs [][]float32, goroutines int, d time.Duration) Stress {
	var wg sync.WaitGroup
	var hedged, fallbacks atomic.Int64
	lat := make([][]time.Duration, goroutines)
	deadline := time.Now().Add(d)
	start := time.Now()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var l []time.Duration
			for i := g; time.Now().Before(deadline) && ctx.Err() == nil; i += goroutines {
				t := time.Now()
				dec, _ := p.Decide(ctx, recs[i%len(recs)])
				l = append(l, time.Since(t))
				switch {
				case dec.Source == predictor.SourceReplica, dec.Reason == predictor.ReasonSlow:
					hedged.Add(1)
				case !modelAnswer(dec):
					fallbacks.Add(1)
				}
			}
			lat[g] = l
		}(g)
	}
	wg.Wait()
	el := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	q := func(f float64) float64 { return stats.Micros(stats.Percentile(all, f)) }
	s := Stress{Goroutines: goroutines, Decisions: int64(len(all)), Hedged: hedged.Load(), Fallbacks: fallbacks.Load(),
		PerSecond: float64(len(all)) / el.Seconds(), P50us: q(0.5), P99us: q(0.99), P999us: q(0.999)}
	s.Pass = s.Decisions > 0 && s.Fallbacks == 0
	return s
}

// ApprovalRate is the share of the sample approved at one threshold, by
// the model and by the fallback heuristic.
type ApprovalRate struct {
	Threshold float64 `json:"threshold"`
	Model     float64 `json:"model"`
	Fallback  float64 `json:"fallback"`
	Default   bool    `json:"is_default,omitempty"`
}

func approvalRates(ctx context.Context, p *predictor.Predictor, names []string, recs [][]float32, thresholds []float64, def float64) ([]ApprovalRate, error) {
	probs := make([]float64, len(recs))
	for i, r := range recs {
		d, err := p.Decide(ctx, r)
		if err != nil {
			return nil, err
		}
		if d.Source != predictor.SourceModel {
			return nil, fmt.Errorf("record %d answered by the fallback (%s): %v", i, d.Reason, d.Err)
		}
		probs[i] = d.Probability
	}
	var out []ApprovalRate
	for _, t := range thresholds {
		a := ApprovalRate{Threshold: t, Default: math.Abs(t-def) < 1e-9}
		for i, r := range recs {
			if probs[i] >= t {
				a.Model++
			}
			if _, ok := predictor.FallbackDecision(names, r, t); ok {
				a.Fallback++
			}
		}
		a.Model /= float64(len(recs))
		a.Fallback /= float64(len(recs))
		out = append(out, a)
	}
	return out, nil
}
