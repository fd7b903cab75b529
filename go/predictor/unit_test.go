package predictor

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigmagate/sigmagate/go/defaults"
)

func itoa(i int) string { return strconv.Itoa(i) }

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

func TestDefaultTimeoutIsFiveSeconds(t *testing.T) {
	c, err := Config{ModelDir: "m"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 5*time.Second || DefaultTimeout != 5*time.Second {
		t.Fatalf("default Timeout = %v", c.Timeout)
	}
	c, _ = Config{ModelDir: "m", Timeout: time.Second}.withDefaults()
	if c.Timeout != time.Second {
		t.Fatalf("explicit Timeout overridden: %v", c.Timeout)
	}
}

func TestReadSpinDefaultsOnAndCanBeDisabled(t *testing.T) {
	c, _ := Config{ModelDir: "m"}.withDefaults()
	if c.ReadSpin != 50*time.Microsecond {
		t.Fatalf("default ReadSpin = %v, want 50µs", c.ReadSpin)
	}
	c, _ = Config{ModelDir: "m", ReadSpin: -1}.withDefaults()
	if c.ReadSpin >= 0 {
		t.Fatalf("ReadSpin -1 became %v; negative must stay 'off'", c.ReadSpin)
	}
}

func TestConfigErrorsSayHowToFixThem(t *testing.T) {
	for _, c := range []Config{
		{}, {ModelDir: "m", MaxBatch: 70000}, {ModelDir: "m", RestartBackoffMin: time.Second, RestartBackoffMax: time.Millisecond},
		{ModelDir: "m", RestartBackoffMin: -time.Millisecond}, {ModelDir: "m", MaxConsecutiveTimeouts: -1},
		{ModelDir: "m", Drift: DriftConfig{Window: 100, MinDecisions: 200}}, {ModelDir: "m", Drift: DriftConfig{MinDecisions: defaults.DriftWindow + 1}},
	} {
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	_, err := Config{}.withDefaults()
	if !strings.Contains(err.Error(), "ModelDir") {
		t.Fatalf("error %q does not name the field", err)
	}
}

func TestDetectionPrefersSIGMAGATEPython(t *testing.T) {
	e := needSidecar(t)
	t.Setenv("SIGMAGATE_PYTHON", e.python)
	t.Setenv("SIGMAGATE_ROOT", e.root)
	argv, root, err := DetectSidecar()
	if err != nil {
		t.Fatal(err)
	}
	if len(argv) != 3 || argv[0] != e.python || argv[2] != "infer" || root != e.root {
		t.Fatalf("argv %v root %q", argv, root)
	}
}

func TestDetectionResolvesARelativeSIGMAGATEPythonFromTheWorkingDirectory(t *testing.T) {
	e := needSidecar(t)
	here := filepath.Join(e.root, "go", "predictor")
	t.Chdir(here)
	rel, err := filepath.Rel(here, e.python)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIGMAGATE_PYTHON", rel)
	t.Setenv("SIGMAGATE_ROOT", "")
	argv, root, err := DetectSidecar()
	if err != nil {
		t.Fatal(err)
	}
	// The sidecar runs in root: the path must still name the same file there.
	if len(argv) != 3 || argv[0] != e.python || root != e.root {
		t.Fatalf("SIGMAGATE_PYTHON=%s: argv %v root %q, want %s in %s", rel, argv, root, e.python, e.root)
	}
}

func TestDetectionFindsTheVenvFromTheWorkingDirectory(t *testing.T) {
	e := needSidecar(t)
	t.Setenv("SIGMAGATE_PYTHON", "")
	t.Setenv("SIGMAGATE_ROOT", "")
	t.Chdir(e.root + "/go/predictor")
	argv, root, err := DetectSidecar()
	if err != nil {
		t.Fatal(err)
	}
	if argv[0] != e.root+"/.venv/bin/python" || root != e.root {
		t.Fatalf("argv %v root %q", argv, root)
	}
}

func TestDetectionFailureExplainsTheFix(t *testing.T) {
	t.Setenv("SIGMAGATE_PYTHON", "")
	t.Setenv("SIGMAGATE_ROOT", "")
	t.Setenv("PATH", t.TempDir())
	t.Chdir(t.TempDir())
	_, _, err := DetectSidecar()
	if err == nil {
		// The test binary itself may live under the checkout.
		t.Skip("executable lives inside a checkout; detection legitimately succeeds")
	}
	if !containsAll(err.Error(), "make venv", "SIGMAGATE_PYTHON", "Config.Command") {
		t.Fatalf("error does not say how to fix: %v", err)
	}
}

func TestMetricsRegisterOnTheCallersRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{Command: []string{"/nonexistent/sigmagate/python"}, ModelDir: t.TempDir(), Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RestartBackoffMin: time.Second, RestartBackoffMax: time.Second}
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Approve([]float32{0.9, 0.9, 0}, 0.65)
	if v, _ := metricValue(t, reg, "sigmagate_predictor_fallbacks_total", map[string]string{"reason": ReasonChildDown}); v != 1 {
		t.Fatalf("fallbacks_total{reason=child_down} = %v", v)
	}
	if v, _ := metricValue(t, reg, "sigmagate_predictor_sidecar_up", nil); v != 0 {
		t.Fatalf("sidecar_up = %v with no sidecar", v)
	}
	// An alert's increase() sees no first sample: the series it watches are
	// exported at 0 before their first error.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				found = found || mf.GetName() == "sigmagate_predictor_errors_total" && l.GetName() == "kind" && l.GetValue() == "reload_failed"
			}
		}
	}
	if !found {
		t.Error(`sigmagate_predictor_errors_total{kind="reload_failed"} is not exported before a reload fails`)
	}
	if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "one registry per Predictor") {
		t.Fatalf("second registration on one registry: %v", err)
	}
}

// The sidecar runs in Config.Dir (the checkout), not in the bot's directory:
// the pidfile and status file it is given must name the files the bot meant.
func TestPIDAndStatusFilesAreMadeAbsoluteAgainstTheBotsDirectory(t *testing.T) {
	here := t.TempDir()
	t.Chdir(here)
	abs := filepath.Join(here, "elsewhere", "status.json")
	for _, tc := range []struct {
		pidfile, status string
		want            []string
	}{
		{"", "", nil},
		{"infer.pid", "", []string{"--pidfile", filepath.Join(here, "infer.pid")}},
		{"run/infer.pid", "../status.json", []string{"--pidfile", filepath.Join(here, "run", "infer.pid"),
			"--status-file", filepath.Join(filepath.Dir(here), "status.json")}},
		{"", abs, []string{"--status-file", abs}},
	} {
		c, err := Config{Command: []string{"python", "-m", "infer"}, Dir: "/elsewhere", ModelDir: "m",
			PIDFile: tc.pidfile, StatusFile: tc.status}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		argv, dir, err := c.sidecarCommand()
		if err != nil {
			t.Fatal(err)
		}
		want := append([]string{"python", "-m", "infer", "--model", filepath.Join(here, "m")}, tc.want...)
		if !slices.Equal(argv, want) || dir != "/elsewhere" {
			t.Errorf("PIDFile %q StatusFile %q: argv %q in %q, want %q", tc.pidfile, tc.status, argv, dir, want)
		}
	}
}
