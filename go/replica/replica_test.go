package replica

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/manifest"
)

// models builds (once per test binary) one small model directory per family
// with tests/fixtures/replica_model.py: exported by train's own code, with
// check vectors scored by onnxruntime in Python.
var (
	modelsOnce sync.Once
	modelDirs  map[string]string
	modelsErr  error
	tmpRoot    string
)

var families = []string{"gbm", "hgb", "rf", "xgb", "mlp"}

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpRoot != "" {
		os.RemoveAll(tmpRoot)
	}
	os.Exit(code)
}

func models(t testing.TB) map[string]string {
	t.Helper()
	root := os.Getenv("SIGMAGATE_ROOT")
	if root == "" {
		wd, _ := os.Getwd()
		root = filepath.Clean(filepath.Join(wd, "..", ".."))
	}
	py := os.Getenv("SIGMAGATE_PYTHON")
	if py == "" {
		py = filepath.Join(root, ".venv", "bin", "python")
	}
	if _, err := os.Stat(py); err != nil {
		if os.Getenv("SIGMAGATE_PYTHON") != "" {
			t.Fatalf("SIGMAGATE_PYTHON=%s: %v", py, err)
		}
		t.Skipf("needs the project's Python (run `make venv` or set SIGMAGATE_PYTHON): %v", err)
	}
	modelsOnce.Do(func() {
		tmpRoot, modelsErr = os.MkdirTemp("", "sigmagate-replica-")
		if modelsErr != nil {
			return
		}
		cmd := exec.Command(py, filepath.Join(root, "tests", "fixtures", "replica_model.py"),
			"--out", tmpRoot, "--family", strings.Join(families, ","))
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			modelsErr = errors.New(err.Error() + "\n" + stderr.String())
			return
		}
		lines := strings.Fields(string(out))
		if len(lines) != len(families) {
			modelsErr = errors.New("replica_model.py printed " + string(out))
			return
		}
		modelDirs = map[string]string{}
		for i, f := range families {
			modelDirs[f] = lines[i]
		}
	})
	if modelsErr != nil {
		t.Fatalf("building the models: %v", modelsErr)
	}
	return modelDirs
}

// The property: on random inputs over twice the training range and on
// values exactly at and one float32 ulp around split thresholds, the
// replica's probability equals onnxruntime's (Python, same graph) within
// Tolerance, for every tree family train exports.
func TestReplicaEqualsOnnxruntimeOnRandomAndThresholdInputs(t *testing.T) {
	dirs := models(t)
	for _, fam := range []string{"gbm", "hgb", "rf", "xgb"} {
		t.Run(fam, func(t *testing.T) {
			m, err := manifest.Load(dirs[fam])
			if err != nil {
				t.Fatal(err)
			}
			r, err := FromManifest(m)
			if err != nil {
				t.Fatalf("no replica for %s: %v", fam, err)
			}
			cv, err := LoadCheckVectors(m)
			if err != nil {
				t.Fatal(err)
			}
			edges := 0
			for _, k := range cv.Kind {
				if k == "edge" {
					edges++
				}
			}
			if edges < 50 || len(cv.Rows)-edges < 200 {
				t.Fatalf("check vectors: %d edge and %d random rows; the test needs both", edges, len(cv.Rows)-edges)
			}
			if err := r.Compare(cv.Rows, cv.P); err != nil {
				t.Fatal(err)
			}
			// The same answers from the lockstep walk the tables replace,
			// and from the generic walk both replace.
			fastUsed, tablesUsed := false, false
			for _, st := range r.prog.steps {
				if st.trees != nil && st.trees.fast != nil {
					fastUsed = true
					tablesUsed = tablesUsed || st.trees.fast.table != nil
					st.trees.fast.table = nil
				}
			}
			if !fastUsed || !tablesUsed {
				t.Errorf("%s did not use the fast tree layouts (walk %v, tables %v)", fam, fastUsed, tablesUsed)
			}
			if err := r.Compare(cv.Rows, cv.P); err != nil {
				t.Fatalf("lockstep walk: %v", err)
			}
			for _, st := range r.prog.steps {
				if st.trees != nil {
					st.trees.fast = nil
				}
			}
			if err := r.Compare(cv.Rows, cv.P); err != nil {
				t.Fatalf("generic walk: %v", err)
			}
		})
	}
}

// A replica that does not match is caught by Compare, naming the row.
func TestCompareReportsTheWorstDisagreeingRow(t *testing.T) {
	m, err := manifest.Load(models(t)["gbm"])
	if err != nil {
		t.Fatal(err)
	}
	r, err := FromManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	cv, err := LoadCheckVectors(m)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]float64(nil), cv.P...)
	want[7] += 1e-5
	err = r.Compare(cv.Rows, want)
	if err == nil || !strings.Contains(err.Error(), "1 of") || !strings.Contains(err.Error(), "row 7") {
		t.Fatalf("Compare = %v, want a disagreement on row 7", err)
	}
}

func TestMLPHasNoReplicaAndSaysWhy(t *testing.T) {
	_, err := Load(models(t)["mlp"])
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "no TreeEnsemble") {
		t.Fatalf("Load(mlp) = %v, want ErrUnsupported saying the graph has no TreeEnsemble", err)
	}
}

func TestTamperedGraphIsRefusedByItsHash(t *testing.T) {
	src := models(t)["gbm"]
	dir := t.TempDir()
	for _, f := range []string{"manifest.json", "model.onnx", "check_vectors.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "model.onnx" {
			b[len(b)/2] ^= 1
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("Load of a tampered graph = %v, want a sha256 error", err)
	}
}

func TestPredictAllocatesNothing(t *testing.T) {
	r, err := Load(models(t)["xgb"])
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{0.3, -0.2, 1.1}
	if n := testing.AllocsPerRun(100, func() { r.Predict(x) }); n != 0 {
		t.Fatalf("Predict allocates %v times per call", n)
	}
}

func benchRecords(n int) [][]float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]float32, n)
	for i := range out {
		out[i] = []float32{float32(rng.Float64()*2 - 1), float32(rng.Float64()*2 - 1), float32(rng.NormFloat64() * 1.5)}
	}
	return out
}

// BenchmarkReplica: one decision at a time, per family (ns/op is the mean).
func BenchmarkReplica(b *testing.B) {
	for _, fam := range []string{"gbm", "hgb", "rf", "xgb"} {
		b.Run(fam, func(b *testing.B) {
			r, err := Load(models(b)[fam])
			if err != nil {
				b.Fatal(err)
			}
			recs := benchRecords(1024)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.Predict(recs[i&1023])
			}
		})
	}
}

// BenchmarkReplicaP50 reports the per-decision p50 and p99 (timed one by
// one) and decisions/s at 1 and 64 goroutines, for the gbm fixture.
func BenchmarkReplicaP50(b *testing.B) {
	r, err := Load(models(b)["gbm"])
	if err != nil {
		b.Fatal(err)
	}
	recs := benchRecords(1024)
	for _, g := range []int{1, 64} {
		b.Run(map[int]string{1: "goroutines=1", 64: "goroutines=64"}[g], func(b *testing.B) {
			per := max(b.N/g, 1)
			lat := make([][]time.Duration, g)
			var sink atomic.Uint32
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < g; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					l := make([]time.Duration, per)
					var s float32
					for i := 0; i < per; i++ {
						t0 := time.Now()
						s += r.Predict(recs[(i+w)&1023])
						l[i] = time.Since(t0)
					}
					lat[w] = l
					sink.Add(uint32(s))
				}(w)
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			var all []time.Duration
			for _, l := range lat {
				all = append(all, l...)
			}
			sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
			b.ReportMetric(float64(all[len(all)/2].Nanoseconds())/1e3, "p50_µs")
			b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds())/1e3, "p99_µs")
			b.ReportMetric(float64(len(all))/el.Seconds(), "decisions/s")
			b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
		})
	}
}

func TestBitsOfLogisticMatchTheDefinition(t *testing.T) {
	for _, x := range []float32{-20, -1.5, -1e-3, 0, 1e-3, 0.7, 3, 20} {
		want := 1 / (1 + math.Exp(-float64(x)))
		if got := float64(logisticORT(x)); math.Abs(got-want) > 1e-7 {
			t.Errorf("logisticORT(%v) = %v, want %v", x, got, want)
		}
	}
}

func mustManifest(t testing.TB, dir string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
