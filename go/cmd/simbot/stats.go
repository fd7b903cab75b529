package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/stats"
	"github.com/sigmagate/sigmagate/go/predictor"
)

// workerStats is one goroutine's record; merged once at the end, so the hot
// path takes no lock.
type workerStats struct {
	latency           []time.Duration
	modelLatency      []time.Duration
	approved, total   int
	modelN, modelAppr int
	fallbackN, fbAppr int
	ood, invalid      int
	fallbacks         map[string]int
	sources           map[predictor.Source]int
	versions          map[string]*versionSeen
}

type versionSeen struct {
	Decisions int       `json:"decisions"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
}

func newWorkerStats() *workerStats {
	return &workerStats{fallbacks: map[string]int{}, sources: map[predictor.Source]int{}, versions: map[string]*versionSeen{}}
}

func (w *workerStats) add(d predictor.Decision, err error) {
	if err != nil {
		w.invalid++ // only invalid input errors; recorded signals are valid
	}
	w.total++
	w.sources[d.Source]++
	w.latency = append(w.latency, d.Latency)
	if d.Approve {
		w.approved++
	}
	if d.Source == predictor.SourceModel {
		w.modelN++
		w.modelLatency = append(w.modelLatency, d.Latency)
		if d.Approve {
			w.modelAppr++
		}
		if d.OutOfDistribution {
			w.ood++
		}
		now := time.Now()
		v := w.versions[d.ModelVersion]
		if v == nil {
			v = &versionSeen{First: now}
			w.versions[d.ModelVersion] = v
		}
		v.Decisions++
		v.Last = now
		return
	}
	w.fallbackN++
	if d.Approve {
		w.fbAppr++
	}
	w.fallbacks[d.Reason]++
}

// Summary is what simbot prints (and writes with -json).
type Summary struct {
	Seconds           float64            `json:"seconds"`
	Decisions         int                `json:"decisions"`
	PerSecond         float64            `json:"per_second"`
	ApprovalRate      float64            `json:"approval_rate"`
	ModelDecisions    int                `json:"model_decisions"`
	ModelApproval     float64            `json:"model_approval_rate"`
	FallbackDecisions int                `json:"fallback_decisions"`
	FallbackApproval  float64            `json:"fallback_approval_rate"`
	OutOfDistribution int                `json:"out_of_distribution"`
	InvalidInput      int                `json:"invalid_input"`
	LatencyUs         map[string]float64 `json:"latency_us"`
	ModelLatencyUs    map[string]float64 `json:"model_latency_us"`
	Fallbacks         map[string]int     `json:"fallbacks"`
	// Sources counts decisions by who answered: model, replica, heuristic.
	Sources      map[predictor.Source]int `json:"sources"`
	Versions     map[string]*versionSeen  `json:"versions"`
	Restarts     uint64                   `json:"sidecar_restarts"`
	Timeouts     uint64                   `json:"timeouts"`
	FinalVersion string                   `json:"final_version"`
}

func summarize(ws []*workerStats, elapsed time.Duration, h predictor.Health) Summary {
	s := Summary{Seconds: elapsed.Seconds(), Fallbacks: map[string]int{}, Sources: map[predictor.Source]int{}, Versions: map[string]*versionSeen{},
		Restarts: h.Restarts, Timeouts: h.Timeouts, FinalVersion: h.ModelVersion}
	var all, model []time.Duration
	approved, modelAppr, fbAppr := 0, 0, 0
	for _, w := range ws {
		all = append(all, w.latency...)
		model = append(model, w.modelLatency...)
		s.Decisions += w.total
		approved += w.approved
		s.ModelDecisions += w.modelN
		modelAppr += w.modelAppr
		s.FallbackDecisions += w.fallbackN
		fbAppr += w.fbAppr
		s.OutOfDistribution += w.ood
		s.InvalidInput += w.invalid
		for src, n := range w.sources {
			s.Sources[src] += n
		}
		for r, n := range w.fallbacks {
			s.Fallbacks[r] += n
		}
		for v, seen := range w.versions {
			agg := s.Versions[v]
			if agg == nil {
				agg = &versionSeen{First: seen.First, Last: seen.Last}
				s.Versions[v] = agg
			}
			agg.Decisions += seen.Decisions
			if seen.First.Before(agg.First) {
				agg.First = seen.First
			}
			if seen.Last.After(agg.Last) {
				agg.Last = seen.Last
			}
		}
	}
	s.PerSecond = float64(s.Decisions) / elapsed.Seconds()
	s.ApprovalRate = ratio(approved, s.Decisions)
	s.ModelApproval = ratio(modelAppr, s.ModelDecisions)
	s.FallbackApproval = ratio(fbAppr, s.FallbackDecisions)
	s.LatencyUs = percentiles(all)
	s.ModelLatencyUs = percentiles(model)
	return s
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func percentiles(d []time.Duration) map[string]float64 {
	out := map[string]float64{}
	if len(d) == 0 {
		return out
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) float64 { return stats.Micros(stats.Percentile(d, q)) }
	out["p50"], out["p90"], out["p99"], out["p99.9"], out["max"] = at(0.5), at(0.9), at(0.99), at(0.999), at(1)
	return out
}

func (s Summary) print(w io.Writer) {
	line := strings.Repeat("─", 64)
	fmt.Fprintln(w, line)
	fmt.Fprintf(w, "simbot summary: %d decisions in %.1f s (%.0f/s)\n", s.Decisions, s.Seconds, s.PerSecond)
	fmt.Fprintf(w, "  approval rate     %5.1f %%  (model %5.1f %% of %d, fallback %5.1f %% of %d)\n",
		100*s.ApprovalRate, 100*s.ModelApproval, s.ModelDecisions, 100*s.FallbackApproval, s.FallbackDecisions)
	pct := func(m map[string]float64) string {
		if len(m) == 0 {
			return "n/a"
		}
		return fmt.Sprintf("p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f µs", m["p50"], m["p90"], m["p99"], m["p99.9"], m["max"])
	}
	fmt.Fprintf(w, "  latency, all      %s\n", pct(s.LatencyUs))
	fmt.Fprintf(w, "  latency, model    %s\n", pct(s.ModelLatencyUs))
	reasons := make([]string, 0, len(s.Fallbacks))
	for r := range s.Fallbacks {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	fb := make([]string, 0, len(reasons))
	for _, r := range reasons {
		fb = append(fb, fmt.Sprintf("%s %d", r, s.Fallbacks[r]))
	}
	if len(fb) == 0 {
		fb = append(fb, "none")
	}
	fmt.Fprintf(w, "  fallbacks         %s\n", strings.Join(fb, ", "))
	fmt.Fprintf(w, "  answered by       model %d, replica %d, heuristic %d\n",
		s.Sources[predictor.SourceModel], s.Sources[predictor.SourceReplica], s.Sources[predictor.SourceHeuristic])
	fmt.Fprintf(w, "  sidecar restarts  %d   timeouts %d   out-of-distribution %d\n", s.Restarts, s.Timeouts, s.OutOfDistribution)
	versions := make([]string, 0, len(s.Versions))
	for v := range s.Versions {
		versions = append(versions, v)
	}
	sort.Slice(versions, func(i, j int) bool { return s.Versions[versions[i]].First.Before(s.Versions[versions[j]].First) })
	fmt.Fprintln(w, "  model versions seen:")
	for _, v := range versions {
		seen := s.Versions[v]
		fmt.Fprintf(w, "    %-32s %8d decisions  %s → %s\n", v, seen.Decisions,
			seen.First.UTC().Format("15:04:05.000"), seen.Last.UTC().Format("15:04:05.000"))
	}
	fmt.Fprintf(w, "  serving at exit   %s\n", s.FinalVersion)
	fmt.Fprintln(w, line)
}
