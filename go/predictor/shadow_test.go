package predictor

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/testutil"
)

// liveKey is everything of a Decision the bot acts on, i.e. all but Latency.
func liveKey(t *testing.T, d Decision) string {
	t.Helper()
	b, err := json.Marshal(struct {
		A      bool
		P      float64
		T      float64
		S      Source
		R, V   string
		O      bool
		HasErr bool
	}{d.Approve, d.Probability, d.Threshold, d.Source, d.Reason, d.ModelVersion, d.OutOfDistribution, d.Err != nil})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decideAll decides every record from n goroutines and returns the decisions
// in record order.
func decideAll(t *testing.T, p *Predictor, recs [][]float32, n int) []string {
	t.Helper()
	out := make([]string, len(recs))
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(recs); i += n {
				d, err := p.Decide(context.Background(), recs[i])
				if err != nil || d.Source != SourceModel {
					t.Errorf("record %d: %v %v", i, d.Err, err)
					return
				}
				out[i] = liveKey(t, d)
			}
		}()
	}
	wg.Wait()
	return out
}

// shadowDir is a models directory with a `shadow` symlink to target; the
// report appears next to the link.
func shadowDir(t *testing.T, target string) (link, report string) {
	t.Helper()
	dir := t.TempDir()
	link = filepath.Join(dir, "shadow")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link, filepath.Join(dir, ShadowReportFile)
}

func readShadowReport(t *testing.T, path string) ShadowStatus {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s ShadowStatus
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

func TestShadowScoringUnder64GoroutinesLeavesLiveDecisionsByteIdentical(t *testing.T) {
	live, cand := tinyModel(t, "tiny-a", 1), tinyModel(t, "tiny-b", 2)
	recs := randomRecords(3000, 11)
	// Hedging off: on a loaded test host a hedged decision (source replica,
	// same p) would differ from the other run for reasons of timing alone.
	base := start(t, Config{ModelDir: live, HedgeDelay: -1, Shadow: ShadowConfig{Disable: true}})
	want := decideAll(t, base.p, recs, 64)
	base.p.Close()

	link, report := shadowDir(t, cand)
	h := start(t, Config{ModelDir: live, HedgeDelay: -1, ShadowModelDir: link, Shadow: ShadowConfig{Poll: 50 * time.Millisecond, ReportEvery: 100 * time.Millisecond}})
	testutil.WaitFor(t, 60*time.Second, "the shadow model to serve", func() bool { return h.p.Health().Shadow.ModelVersion == "tiny-b" })
	got := decideAll(t, h.p, recs, 64)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d: live decision with a shadow %s, without %s", i, got[i], want[i])
		}
	}
	testutil.WaitFor(t, 30*time.Second, "the shadow to score the decisions", func() bool {
		s := h.p.Health().Shadow
		return s.Decisions+s.Dropped+s.ShadowFallbacks >= uint64(len(recs))
	})
	s := h.p.Health().Shadow
	if s.Decisions == 0 || s.LiveVersion != "tiny-a" {
		t.Fatalf("shadow status %+v", s)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_shadow_decisions_total", nil); v != float64(s.Decisions) {
		t.Errorf("shadow decisions metric %v, Health says %d", v, s.Decisions)
	}
	h.p.Close()
	r := readShadowReport(t, report)
	if !r.Final || r.ModelVersion != "tiny-b" || r.Decisions != s.Decisions || r.AgreementRate <= 0 || r.AgreementRate > 1 {
		t.Fatalf("final report %+v, Health said %+v", r, s)
	}
	if r.LiveApprovalRate == r.ShadowApprovalRate && r.MeanAbsPDiff == 0 {
		t.Errorf("two different models scored identically: %+v", r)
	}
}

func TestShadowLinkAppearingLaterIsPickedUpAndItsRemovalStopsIt(t *testing.T) {
	live, cand := tinyModel(t, "tiny-a", 1), tinyModel(t, "tiny-b", 2)
	dir := t.TempDir()
	h := start(t, Config{ModelDir: linkCurrent(t, dir, live), Shadow: ShadowConfig{Poll: 50 * time.Millisecond}})
	if h.p.Health().Shadow.Active {
		t.Fatal("a shadow is active with no shadow link")
	}
	if err := os.Symlink(cand, filepath.Join(dir, "shadow")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "the shadow link to be picked up", func() bool { return h.p.Health().Shadow.ModelVersion == "tiny-b" })
	for _, r := range randomRecords(200, 3) {
		if _, err := h.p.Decide(ctxT(t), r); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 30*time.Second, "shadow decisions", func() bool { return h.p.Health().Shadow.Decisions > 0 })
	if err := os.Remove(filepath.Join(dir, "shadow")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "the shadow to stop", func() bool { return !h.p.Health().Shadow.Active })
	// The final report is written as the shadow stops, just after it stops counting as active.
	report := filepath.Join(dir, ShadowReportFile)
	testutil.WaitFor(t, 30*time.Second, "the final report", func() bool {
		b, err := os.ReadFile(report)
		return err == nil && strings.Contains(string(b), `"final": true`)
	})
	if r := readShadowReport(t, report); r.Decisions == 0 || r.ModelVersion != "tiny-b" {
		t.Errorf("report after the shadow was removed: %+v", r)
	}
}

func TestStripArgsDropsTheLiveSidecarsPidAndStatusFiles(t *testing.T) {
	got := stripArgs([]string{"--threads", "1", "--pidfile", "run/p", "--status-file=run/s", "--spin-us", "0"}, "--pidfile", "--status-file")
	if want := []string{"--threads", "1", "--spin-us", "0"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// BenchmarkLiveWithShadow measures the live decision's latency with the
// shadow scoring and without it, in alternating blocks on one predictor (the
// shadow sidecar runs throughout; "off" only stops offering it decisions), so
// both see the same machine load. The target: live p50 within 5%.
func BenchmarkLiveWithShadow(b *testing.B) {
	live, cand := tinyModel(b, "tiny-a", 1), tinyModel(b, "tiny-b", 2)
	e := needSidecar(b)
	dir := b.TempDir()
	if err := os.Symlink(cand, filepath.Join(dir, "shadow")); err != nil {
		b.Fatal(err)
	}
	// Hedging off: the live path's round trip is what is compared.
	p, err := New(context.Background(), Config{Command: []string{e.python, "-m", "infer"}, Dir: e.root, HedgeDelay: -1,
		ModelDir: live, ShadowModelDir: filepath.Join(dir, "shadow"), Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	deadline := time.Now().Add(60 * time.Second)
	for p.Health().Shadow.ModelVersion == "" {
		if time.Now().After(deadline) {
			b.Fatal("the shadow sidecar did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	run := p.shadow.cur.Load()
	recs := randomRecords(64, 9)
	op := func(g int) error {
		d, err := p.Decide(context.Background(), recs[g%len(recs)])
		if err == nil && d.Source != SourceModel {
			err = fmt.Errorf("fallback decision: %v", d.Err)
		}
		return err
	}
	for _, n := range benchConcurrency {
		b.Run(fmt.Sprintf("goroutines=%d", n), func(b *testing.B) {
			per := max(b.N/n, versusBlock)
			var on, off []time.Duration
			b.ResetTimer()
			for done := 0; done < per; done += versusBlock {
				p.shadow.cur.Store(run)
				l, _ := runBlock(b, n, versusBlock, op)
				on = append(on, l...)
				p.shadow.cur.Store(nil)
				l, _ = runBlock(b, n, versusBlock, op)
				off = append(off, l...)
			}
			b.StopTimer()
			p.shadow.cur.Store(run)
			slices.Sort(on)
			slices.Sort(off)
			b.ReportMetric(quantile(on, 0.5), "shadow-p50-µs")
			b.ReportMetric(quantile(off, 0.5), "noshadow-p50-µs")
			b.ReportMetric(quantile(on, 0.5)/quantile(off, 0.5), "p50-ratio")
			b.ReportMetric(quantile(on, 0.99), "shadow-p99-µs")
			b.ReportMetric(quantile(off, 0.99), "noshadow-p99-µs")
		})
	}
}

// A candidate trained on another feature order is scored on the live call's
// values by name, so its figures are its own, not those of the same values
// in the wrong columns.
func TestShadowWithAnotherFeatureOrderIsScoredByName(t *testing.T) {
	live, cand := tinyModel(t, "tiny-a", 1), tinyModelOrdered(t, "tiny-swap", 1, fakeSwappedOrder)
	recs := randomRecords(300, 5)
	swapped := make([][]float32, len(recs))
	for i, r := range recs {
		swapped[i] = []float32{r[1], r[0], r[2]}
	}
	pLive, pCand, pWrong := onnxProbabilities(t, live, recs), onnxProbabilities(t, cand, swapped), onnxProbabilities(t, cand, recs)
	var want, wrong float64
	for i := range recs {
		want += math.Abs(pCand[i]-pLive[i]) / float64(len(recs))
		wrong += math.Abs(pWrong[i]-pLive[i]) / float64(len(recs))
	}
	if math.Abs(want-wrong) < 1e-3 {
		t.Fatalf("the records do not tell the two layouts apart (%v vs %v)", want, wrong)
	}

	link, _ := shadowDir(t, cand)
	h := start(t, Config{ModelDir: live, HedgeDelay: -1, ShadowModelDir: link, Shadow: ShadowConfig{Poll: 50 * time.Millisecond}})
	testutil.WaitFor(t, 60*time.Second, "the shadow model to serve", func() bool { return h.p.Health().Shadow.ModelVersion == "tiny-swap" })
	for _, r := range recs {
		if d, err := h.p.Decide(ctxT(t), r); err != nil || d.Source != SourceModel {
			t.Fatalf("live decision %+v, %v", d, err)
		}
	}
	testutil.WaitFor(t, 30*time.Second, "the shadow to score every decision", func() bool {
		s := h.p.Health().Shadow
		return s.Decisions+s.Dropped+s.ShadowFallbacks >= uint64(len(recs))
	})
	s := h.p.Health().Shadow
	if s.Decisions != uint64(len(recs)) || math.Abs(s.MeanAbsPDiff-want) > 1e-5 {
		t.Fatalf("shadow: %d decisions, mean |Δp| %v; want %d and %v (in the wrong columns: %v)", s.Decisions, s.MeanAbsPDiff, len(recs), want, wrong)
	}
}
