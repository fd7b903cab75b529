package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/defaults"
	"github.com/sigmagate/sigmagate/go/internal/testutil"
	"github.com/sigmagate/sigmagate/go/manifest"
	"github.com/sigmagate/sigmagate/go/predictor"
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
	if !r.Pass || !r.ChecksRun || r.Agreement.Records != 300 || r.Agreement.MaxAbsDiff > defaults.CheckVectorTolerance || len(r.Stress) != 2 {
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

// It also runs from go/, as the docs show, with -python relative to there,
// while the sidecar runs in the checkout's root.
func TestGatecheckHumanReadableOutputNamesEachCheck(t *testing.T) {
	python, root := sidecar(t)
	here := filepath.Join(root, "go")
	t.Chdir(here)
	rel, err := filepath.Rel(here, python)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"-model", filepath.Join(root, "tests", "vectors", "model"), "-python", rel,
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

// Flag values are checked before the model directory is read, so "." (no
// manifest) shows that the message comes from the flag, not the model.
func TestGatecheckBadArgumentsExitTwo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // in the usage message
	}{
		{nil, []string{"-model"}},
		{[]string{"-model", "/nonexistent/model"}, []string{"-model", "/nonexistent/model"}},
		{[]string{"-model", ".", "-goroutines", "x"}, []string{"-goroutines", "x"}},
		{[]string{"-model", ".", "-goroutines", "-1"}, []string{"-goroutines", "-1"}},
		{[]string{"-model", ".", "-goroutines", "0"}, []string{"-goroutines", "0"}},
		{[]string{"-model", ".", "-goroutines", "1,-8"}, []string{"-goroutines", "-8"}},
		{[]string{"-model", ".", "-duration", "0s"}, []string{"-duration", "0s"}},
		{[]string{"-model", ".", "-duration", "-1s"}, []string{"-duration", "-1s"}},
		{[]string{"-model", ".", "-sample", "0"}, []string{"-sample", "0"}},
		{[]string{"-model", ".", "-sample", "-5"}, []string{"-sample", "-5"}},
		{[]string{"-model", ".", "-timeout", "0s"}, []string{"-timeout", "0s"}},
		{[]string{"-model", ".", "-timeout", "-2s"}, []string{"-timeout", "-2s"}},
		{[]string{"-model", ".", "-thresholds", "0.5,1.5"}, []string{"-thresholds", "1.5"}},
		{[]string{"-model", ".", "-thresholds", "-0.1"}, []string{"-thresholds", "-0.1"}},
		{[]string{"-model", ".", "-thresholds", "NaN"}, []string{"-thresholds", "NaN"}},
	} {
		var out, errOut bytes.Buffer
		if code := run(tc.args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", tc.args, code, errOut.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut.String(), w) {
				t.Errorf("%q: usage message %q does not name %q", tc.args, errOut.String(), w)
			}
		}
	}
}

// TestStressCountsHedgedAnswersApartFromFallbacks runs the stress check on
// real predictors: answers from the verified replica (here every answer, in
// replica mode) are the model's and pass; the heuristic's fail.
func TestStressCountsHedgedAnswersApartFromFallbacks(t *testing.T) {
	python, root := sidecar(t)
	t.Chdir(root)
	dir := filepath.Join(root, "tests", "vectors", "model")
	m, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	recs := sample(m, 64, 1)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)

	rep, err := predictor.New(ctx, predictor.Config{Command: []string{python, "-m", "infer"}, Dir: root, ModelDir: dir,
		Mode: predictor.ModeReplica, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	if h := rep.Health(); h.State != predictor.StateReady {
		t.Fatalf("replica-mode predictor not ready: %+v", h)
	}
	s := stress(ctx, rep, recs, 2, 50*time.Millisecond)
	if !s.Pass || s.Fallbacks != 0 || s.Hedged == 0 || s.Hedged > s.Decisions {
		t.Fatalf("replica answers: %+v, want a pass with every fallback-free decision counted hedged", s)
	}

	down, err := predictor.New(ctx, predictor.Config{Command: []string{python, "-c", "raise SystemExit(3)"}, Dir: root,
		ModelDir: dir, DisableReplica: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	s = stress(ctx, down, recs, 2, 50*time.Millisecond)
	if s.Pass || s.Hedged != 0 || s.Fallbacks != s.Decisions || s.Decisions == 0 {
		t.Fatalf("sidecar down: %+v, want a failure with every decision a fallback", s)
	}
}
