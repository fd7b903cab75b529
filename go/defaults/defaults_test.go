package defaults

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// python is the project's Python. A test that needs it skips without it on a
// developer's machine, but fails under CI (CI=1 or CI=true, as CI services
// set it) or when SIGMAGATE_PYTHON names one: there a skip would hide that
// the cross-language check never ran.
func python(t *testing.T) (py, root string) {
	t.Helper()
	root = os.Getenv("SIGMAGATE_ROOT")
	if root == "" {
		// Absolute: the command runs in root, where a relative path would
		// be resolved again.
		abs, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			t.Fatal(err)
		}
		root = abs
	}
	py = os.Getenv("SIGMAGATE_PYTHON")
	if py == "" {
		py = filepath.Join(root, ".venv", "bin", "python")
	}
	if fi, err := os.Stat(py); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		ci := os.Getenv("CI")
		if ci == "1" || ci == "true" || os.Getenv("SIGMAGATE_PYTHON") != "" {
			t.Fatalf("no Python at %s (CI=%q, SIGMAGATE_PYTHON=%q): the cross-language check must run", py, ci, os.Getenv("SIGMAGATE_PYTHON"))
		}
		t.Skipf("no Python at %s (run `make venv`, or set SIGMAGATE_PYTHON)", py)
	}
	return py, root
}

func TestGoDefaultsEqualModelformat(t *testing.T) {
	py, root := python(t)
	cmd := exec.Command(py, "-m", "modelformat", "defaults")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python -m modelformat defaults: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	strings := func(ss []string) []any {
		out := make([]any, len(ss))
		for i, s := range ss {
			out[i] = s
		}
		return out
	}
	want := map[string]any{
		"DEFAULT_THRESHOLD":      DefaultThreshold,
		"DEFAULT_FEATURES":       strings(DefaultFeatures),
		"KNOWN_FEATURES":         strings(KnownFeatures[:]),
		"DRIFT_WINDOW":           float64(DriftWindow),
		"DRIFT_PSI":              DriftPSI,
		"DRIFT_OOD":              DriftOOD,
		"DRIFT_APPROVAL_LOW":     DriftApprovalLow,
		"DRIFT_APPROVAL_HIGH":    DriftApprovalHigh,
		"DRIFT_EVERY_S":          DriftEvery.Seconds(),
		"DRIFT_WARN_EVERY_S":     DriftWarnEvery.Seconds(),
		"CHECK_VECTOR_TOLERANCE": CheckVectorTolerance,
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: Go has a copy, modelformat/defaults.py no such default", name)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: Go has %v, modelformat/defaults.py %v", name, w, g)
		}
	}
}
