package predictor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/sigmagate/sigmagate/go/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv("SIGMAGATE_TEST_FAKE_SIDECAR") != "" {
		runFakeSidecar()
		return
	}
	if os.Getenv("SIGMAGATE_TEST_BOT") != "" {
		runTestBot() // this process plays the bot for TestBotKilledLeavesNoOrphan
		return
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if modelRoot != "" {
			os.RemoveAll(modelRoot)
		}
	}))
}

// runTestBot starts a Predictor, prints the sidecar's pid and waits to be
// killed, like a bot that crashes.
func runTestBot() {
	p, err := New(context.Background(), Config{
		Command: []string{os.Getenv("SIGMAGATE_TEST_BOT_PY"), "-m", "infer"},
		Dir:     os.Getenv("SIGMAGATE_ROOT"), ModelDir: os.Getenv("SIGMAGATE_TEST_BOT_MODEL"),
	})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(p.Health().PID)
	time.Sleep(time.Minute)
	os.Exit(0)
}

// sidecarEnv locates the real Python and repo root. Under `make test`
// SIGMAGATE_PYTHON and SIGMAGATE_ROOT are set; by hand the checkout's .venv
// is used. Integration tests skip, saying why, only when neither exists.
type sidecarEnv struct{ python, root string }

var (
	envOnce sync.Once
	env     sidecarEnv
	envErr  error
)

func needSidecar(t testing.TB) sidecarEnv {
	t.Helper()
	envOnce.Do(func() {
		root := os.Getenv("SIGMAGATE_ROOT")
		if root == "" {
			wd, _ := os.Getwd()
			root = filepath.Clean(filepath.Join(wd, "..", ".."))
		}
		py := os.Getenv("SIGMAGATE_PYTHON")
		if py == "" {
			py = filepath.Join(root, ".venv", "bin", "python")
		}
		switch {
		case !executable(py):
			envErr = fmt.Errorf("no Python at %s (run `make venv`, or set SIGMAGATE_PYTHON)", py)
		case !fileExists(filepath.Join(root, "infer", "__main__.py")):
			envErr = fmt.Errorf("%s has no infer/__main__.py (set SIGMAGATE_ROOT to the checkout)", root)
		}
		env = sidecarEnv{python: py, root: root}
	})
	if envErr != nil {
		if os.Getenv("SIGMAGATE_PYTHON") != "" {
			t.Fatalf("SIGMAGATE_PYTHON is set but the sidecar is unusable: %v", envErr)
		}
		testutil.SkipOrFail(t, "integration test needs the Python sidecar: %v", envErr)
	}
	return env
}

var (
	modelMu    sync.Mutex
	modelCache = map[string]string{}
	modelRoot  string
)

// tinyModel builds (once per test binary) a real model directory with the
// infer engineer's fixture and returns its path.
func tinyModel(t testing.TB, version string, seed int) string {
	t.Helper()
	return tinyModelOrdered(t, version, seed, nil)
}

// tinyModelOrdered is tinyModel taking its features in order (a permutation
// of tick_ratio, depth_ratio, price_dist; nil: that order).
func tinyModelOrdered(t testing.TB, version string, seed int, order []string) string {
	t.Helper()
	e := needSidecar(t)
	modelMu.Lock()
	defer modelMu.Unlock()
	key := fmt.Sprintf("%s/%d/%s", version, seed, strings.Join(order, ","))
	if p, ok := modelCache[key]; ok {
		return p
	}
	if modelRoot == "" {
		d, err := os.MkdirTemp("", "sigmagate-go-models-")
		if err != nil {
			t.Fatal(err)
		}
		modelRoot = d
	}
	out := filepath.Join(modelRoot, fmt.Sprintf("seed%d", seed))
	if order != nil {
		out += "-" + strings.Join(order, "-")
	}
	args := []string{filepath.Join(e.root, "tests", "fixtures", "tiny_model.py"),
		"--out", out, "--version", version, "--seed", fmt.Sprint(seed)}
	if order != nil {
		args = append(args, "--features", strings.Join(order, ","))
	}
	cmd := exec.Command(e.python, args...)
	cmd.Dir = e.root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("tiny_model.py: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	p := lines[len(lines)-1]
	modelCache[key] = p
	return p
}

// linkCurrent points dir/current at target atomically (rename over it), as
// the deploy script does.
func linkCurrent(t testing.TB, dir, target string) string {
	t.Helper()
	cur := filepath.Join(dir, "current")
	tmp := filepath.Join(dir, fmt.Sprintf(".current-%d", time.Now().UnixNano()))
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, cur); err != nil {
		t.Fatal(err)
	}
	return cur
}

type harness struct {
	p   *Predictor
	reg *prometheus.Registry
	log *testutil.LogBuffer
}

// start runs New with the real sidecar; cfg's zero fields get short test
// settings. Close runs at cleanup and must leave no process behind.
func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	e := needSidecar(t)
	if cfg.Command == nil {
		cfg.Command = []string{e.python, "-m", "infer"}
		cfg.Dir = e.root
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.KillGrace == 0 {
		cfg.KillGrace = 2 * time.Second
	}
	if cfg.RestartBackoffMin == 0 {
		cfg.RestartBackoffMin = 20 * time.Millisecond
	}
	if cfg.RestartBackoffMax == 0 {
		cfg.RestartBackoffMax = 500 * time.Millisecond
	}
	h := &harness{reg: prometheus.NewRegistry(), log: &testutil.LogBuffer{}}
	cfg.Registerer = h.reg
	cfg.Logger = slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.p = p
	t.Cleanup(func() {
		pid := p.Health().PID
		p.Close()
		if pid > 0 {
			assertGroupGone(t, pid)
		}
		if t.Failed() {
			t.Logf("predictor log:\n%s", h.log.String())
		}
	})
	return h
}

// onnxProbabilities scores records with Python onnxruntime directly on the
// model's ONNX file, as the reference for the Go side's answers.
func onnxProbabilities(t *testing.T, modelDir string, records [][]float32) []float64 {
	t.Helper()
	e := needSidecar(t)
	script := `
import json, sys
import numpy as np
import onnxruntime as ort
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))
v = m["variants"][m["serve_variant"]]
s = ort.InferenceSession(d + "/" + v["file"], providers=["CPUExecutionProvider"])
x = np.asarray(json.load(sys.stdin), dtype=np.float32)
p = s.run([m["output_name"]], {m["input_name"]: x})[0].reshape(-1)
json.dump([float(q) for q in p], sys.stdout)
`
	in, _ := json.Marshal(records)
	cmd := exec.Command(e.python, "-c", script, modelDir)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("onnxruntime reference: %v\n%s", err, stderr.String())
	}
	var p []float64
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// metricValue sums a metric family's samples whose labels include want.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) (sum float64, count uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += m.Histogram.GetSampleSum()
				count += m.Histogram.GetSampleCount()
			}
		}
	}
	return sum, count
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}
