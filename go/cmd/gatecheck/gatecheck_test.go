package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigmagate/sigmagate/go/internal/testutil"
)

func sidecar(t *testing.T) (python, root string) {
	t.Helper()
	root = os.Getenv("SIGMAGATE_ROOT")
	if root == "" {
		root, _ = filepath.Abs("../../..")
	}
	python = os.Getenv("SIGMAGATE_PYTHON")
	if python == "" {
		python = filepath.Join(root, ".venv", "bin", "python")
	}
	if _, err := os.Stat(python); err != nil {
		if os.Getenv("SIGMAGATE_PYTHON") != "" {
			t.Fatalf("SIGMAGATE_PYTHON=%s: %v", python, err)
		}
		testutil.SkipOrFail(t, "gatecheck needs the Python sidecar: no %s (run make venv)", python)
	}
	return python, root
}

func TestGatecheckPassesOnARealModelAndReportsJSON(t *testing.T) {
	python, root := sidecar(t)
	t.Chdir(root) // the sidecar is run as `python -m infer` from the checkout
	var out, errOut bytes.Buffer
	code := run([]string{"-model", filepath.Join(root, "tests", "vectors", "model"), "-python", python,
		"-json", "-sample", "300", "-duration", "150ms", "-goroutines", "1,8"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errOut.String())
	}
	var r Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("-json output: %v\n%s", err, out.String())
	}
	if !r.Pass || r.Agreement.Records != 300 || r.Agreement.MaxAbsDiff > agreementTolerance || len(r.Stress) != 2 {
		t.Fatalf("report %+v", r)
	}
	if len(r.EdgeCases) < 9 || len(r.Approval) != 10 {
		t.Fatalf("edge cases %d, approval rows %d", len(r.EdgeCases), len(r.Approval))
	}
	for i := 1; i < len(r.Approval); i++ {
		if r.Approval[i].Model > r.Approval[i-1].Model {
			t.Fatalf("model approval rate rises with the threshold: %+v", r.Approval)
		}
	}
}

func TestGatecheckHumanReadableOutputNamesEachCheck(t *testing.T) {
	python, root := sidecar(t)
	t.Chdir(root)
	var out, errOut bytes.Buffer
	code := run([]string{"-model", filepath.Join(root, "tests", "vectors", "model"), "-python", python,
		"-sample", "50", "-duration", "50ms", "-goroutines", "1"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"PASS agreement with onnxruntime", "PASS nan", "PASS one_extra", "decisions/s", "(default)", "PASS: every check passed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestGatecheckBadArgumentsExitTwo(t *testing.T) {
	for _, args := range [][]string{{}, {"-model", "/nonexistent/model"}, {"-model", ".", "-goroutines", "x"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut.String())
		}
	}
}
