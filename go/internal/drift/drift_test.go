package drift

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sigmagate/sigmagate/go/defaults"
	"github.com/sigmagate/sigmagate/go/internal/testutil"
	"github.com/sigmagate/sigmagate/go/manifest"
)

const (
	featTick  = "tick_ratio"
	featDepth = "depth_ratio"
	featDist  = "price_dist"
)

// gauge sums the values of the gauge name whose labels include labels.
func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				if !slices.ContainsFunc(m.GetLabel(), func(lp *dto.LabelPair) bool { return lp.GetName() == k && lp.GetValue() == v }) {
					continue next
				}
			}
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

type rig struct {
	d   *Monitor
	reg *prometheus.Registry
	log *testutil.LogBuffer
}

func newRig(t *testing.T) *rig {
	t.Helper()
	rg := &rig{reg: prometheus.NewRegistry(), log: &testutil.LogBuffer{}}
	rg.d = New(Config{Window: 2000, Every: 5 * time.Millisecond, WarnEvery: time.Hour},
		slog.New(slog.NewJSONHandler(rg.log, nil)))
	for _, c := range rg.d.Collectors() {
		rg.reg.MustRegister(c)
	}
	rg.d.Start()
	t.Cleanup(rg.d.Close)
	rg.d.ModelLoaded("ref-test", testutil.WithReference(t, t.TempDir(), ""))
	testutil.WaitFor(t, 5*time.Second, "the reference to load", func() bool { return rg.d.Snapshot().HasReference })
	return rg
}

// feed sends n decisions drawn with seed, price_dist shifted by shift σ-units,
// and waits until a full window has been evaluated.
func (rg *rig) feed(t *testing.T, seed uint64, shift float64, n int) Status {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	for range n {
		rg.d.Observe(testutil.TrainingRow(r, shift), r.Float64()*0.3+0.5)
	}
	var s Status
	testutil.WaitFor(t, 5*time.Second, "a full window", func() bool {
		s = rg.d.Snapshot()
		return s.Decisions == 2000 && !s.EvaluatedAt.IsZero() && s.Dropped == 0
	})
	time.Sleep(20 * time.Millisecond) // a few more evaluations: the warning must stay one line
	return rg.d.Snapshot()
}
func TestDriftShiftedFeedRaisesPSIWarningAndGauge(t *testing.T) {
	rig := newRig(t)
	s := rig.feed(t, 42, 1.5, 3000)
	if !slices.Contains(s.Alerts, "psi:"+featDist) {
		t.Fatalf("alerts %v, want psi:%s (PSI %v)", s.Alerts, featDist, s.PSI)
	}
	if g := gauge(t, rig.reg, "sigmagate_predictor_drift_psi", map[string]string{"feature": featDist}); g <= 0.2 {
		t.Errorf("psi gauge for %s = %v, want > 0.2", featDist, g)
	}
	if g := gauge(t, rig.reg, "sigmagate_predictor_drift_alert", nil); g != 1 {
		t.Errorf("alert gauge = %v, want 1", g)
	}
	if s.PSI[featTick] > 0.05 || s.PSI[featDepth] > 0.05 {
		t.Errorf("unshifted features have PSI %v", s.PSI)
	}
	if n := strings.Count(rig.log.String(), "live features drifted"); n != 1 {
		t.Errorf("%d drift warnings logged, want exactly 1 (rate-limited):\n%s", n, rig.log.String())
	}
}

func TestDriftUnshiftedFeedStaysQuiet(t *testing.T) {
	rig := newRig(t)
	s := rig.feed(t, 43, 0, 3000)
	if len(s.Alerts) != 0 {
		t.Fatalf("alerts %v on an unshifted feed (PSI %v, OOD %v)", s.Alerts, s.PSI, s.OODShare)
	}
	for f, v := range s.PSI {
		if v > 0.05 {
			t.Errorf("PSI of %s = %v on an unshifted feed", f, v)
		}
	}
	if g := gauge(t, rig.reg, "sigmagate_predictor_drift_alert", nil); g != 0 {
		t.Errorf("alert gauge = %v, want 0", g)
	}
	if strings.Contains(rig.log.String(), "live features drifted") {
		t.Errorf("drift warning on an unshifted feed:\n%s", rig.log.String())
	}
}

func TestDriftCountsOutOfRangeValuesAndApprovalCollapse(t *testing.T) {
	rig := newRig(t)
	r := rand.New(rand.NewPCG(5, 5))
	for range 2000 {
		row := testutil.TrainingRow(r, 0)
		row[0] = 3 // tick_ratio never leaves [-1, 1] in training
		rig.d.Observe(row, 0.1)
	}
	var s Status
	testutil.WaitFor(t, 5*time.Second, "a full window", func() bool {
		s = rig.d.Snapshot()
		return s.Decisions == 2000 && len(s.Alerts) > 0
	})
	if s.OODShare[featTick] != 1 || !slices.Contains(s.Alerts, "ood:"+featTick) || !slices.Contains(s.Alerts, "approval") {
		t.Fatalf("want tick_ratio fully OOD and an approval alert, got OOD %v alerts %v approval %v", s.OODShare, s.Alerts, s.ApprovalRate)
	}
}

func TestDriftWarningIsRateLimitedPerAlertSoANewKindIsLoggedAtOnce(t *testing.T) {
	last := map[string]time.Time{}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at     time.Duration
		alerts []string
		want   bool
	}{
		{0, []string{"approval"}, true},
		{10 * time.Second, []string{"approval"}, false},                  // the same drift, within a minute
		{20 * time.Second, []string{"approval", "psi:price_dist"}, true}, // a new kind: at once
		{30 * time.Second, []string{"psi:price_dist"}, false},            // both warned within a minute
		{90 * time.Second, []string{"approval", "psi:price_dist"}, true}, // a minute later: again
		{95 * time.Second, nil, false},
	}
	for i, s := range steps {
		if got := due(last, s.alerts, t0.Add(s.at), time.Minute); got != s.want {
			t.Fatalf("step %d (%v at %v): warn %v, want %v", i, s.alerts, s.at, got, s.want)
		}
	}
}

// present reports whether the registry holds a sample of name.
func present(t *testing.T, reg *prometheus.Registry, name string) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return true
		}
	}
	return false
}

func TestDriftGaugesStayUnsetUntilTheWindowHoldsMinDecisions(t *testing.T) {
	rig := newRig(t) // Window 2000, MinDecisions its default, the window
	if g := gauge(t, rig.reg, "sigmagate_predictor_drift_min_decisions", nil); g != 2000 {
		t.Fatalf("min_decisions gauge = %v, want 2000", g)
	}
	r := rand.New(rand.NewPCG(9, 9))
	for range 6 { // far off the training data: PSI would read several units
		rig.d.Observe(testutil.TrainingRow(r, 4), 0.9)
	}
	testutil.WaitFor(t, 5*time.Second, "the 6 decisions evaluated", func() bool { return rig.d.Snapshot().Decisions == 6 })
	time.Sleep(20 * time.Millisecond)
	if s := rig.d.Snapshot(); s.PSI[featDist] < 1 {
		t.Fatalf("PSI on 6 shifted decisions = %v; the test needs a large raw value", s.PSI)
	}
	for _, name := range []string{"sigmagate_predictor_drift_psi", "sigmagate_predictor_drift_ood_share", "sigmagate_predictor_drift_approval_rate"} {
		if present(t, rig.reg, name) {
			t.Errorf("%s has a sample on a window of 6 decisions", name)
		}
	}
	if g := gauge(t, rig.reg, "sigmagate_predictor_drift_window_decisions", nil); g != 6 {
		t.Errorf("window_decisions = %v, want 6", g)
	}
	rig.feed(t, 44, 0, 2000)
	for _, name := range []string{"sigmagate_predictor_drift_psi", "sigmagate_predictor_drift_ood_share", "sigmagate_predictor_drift_approval_rate"} {
		if !present(t, rig.reg, name) {
			t.Errorf("%s has no sample on a full window", name)
		}
	}
}

func TestDriftDefaultsAreTheProjectDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	want := Config{Window: defaults.DriftWindow, PSI: defaults.DriftPSI, OOD: defaults.DriftOOD,
		ApprovalLow: defaults.DriftApprovalLow, ApprovalHigh: defaults.DriftApprovalHigh,
		Every: defaults.DriftEvery, WarnEvery: defaults.DriftWarnEvery, MinDecisions: defaults.DriftWindow}
	if c != want {
		t.Fatalf("defaults %+v, want %+v", c, want)
	}
}

// A model may use every feature train accepts, and the monitor tracks each of
// them: the last one's drift is seen like the first one's.
func TestDriftTracksAModelOfEveryKnownFeature(t *testing.T) {
	dir := testutil.WithReference(t, t.TempDir(), "")
	path := filepath.Join(dir, manifest.FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]any{}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	names := defaults.KnownFeatures[:]
	bins := raw["reference"].(map[string]any)["features"].(map[string]any)
	for _, f := range names {
		if bins[f] == nil {
			bins[f] = bins[featTick] // uniform on [-1, 1], as the rows below
		}
	}
	raw["features"] = names
	if b, err = json.Marshal(raw); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	d := New(Config{Window: 2000, Every: 5 * time.Millisecond, WarnEvery: time.Hour}, slog.New(slog.DiscardHandler))
	d.Start()
	t.Cleanup(d.Close)
	d.ModelLoaded("every-feature", dir)
	testutil.WaitFor(t, 5*time.Second, "the reference to load", func() bool { return d.Snapshot().HasReference })
	r := rand.New(rand.NewPCG(11, 11))
	row := func() []float32 { // uniform on [-1, 1], as the reference
		f := make([]float32, len(names))
		for i := range f {
			f[i] = float32(r.Float64()*2 - 1)
		}
		return f
	}
	last := names[len(names)-1]
	for range 2000 {
		f := row()
		f[len(f)-1] = 3 // outside the last feature's training range
		d.Observe(f, 0.5)
	}
	var s Status
	testutil.WaitFor(t, 5*time.Second, "a full window", func() bool {
		s = d.Snapshot()
		return s.Decisions == 2000 && !s.EvaluatedAt.IsZero()
	})
	if len(s.PSI) != len(names) || s.OODShare[last] != 1 || !slices.Contains(s.Alerts, "ood:"+last) {
		t.Fatalf("%d features tracked (want %d), OOD %v, alerts %v", len(s.PSI), len(names), s.OODShare, s.Alerts)
	}
	if slices.Contains(s.Alerts, "ood:"+featTick) {
		t.Errorf("tick_ratio stayed in range but alerts %v", s.Alerts)
	}
	// Once those records leave the window, so do their out-of-range counts, for
	// the last feature as for the first.
	for range 2000 {
		d.Observe(row(), 0.5)
	}
	testutil.WaitFor(t, 5*time.Second, "the out-of-range records to leave the window", func() bool {
		s = d.Snapshot()
		return s.OODShare[last] == 0 && !slices.Contains(s.Alerts, "ood:"+last)
	})
}
