package main

// Proof that gatecheck fails when it should: real sidecar, real ONNX models
// with a real defect, built here with the onnx package, and the reporting of
// failures the predictor cannot be made to produce.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigmagate/sigmagate/go/internal/testutil"
)

// onnxGraphScript writes a one-output model over the committed test model's
// three features; each kind uses only the first feature, x0.
const onnxGraphScript = `
import sys
import onnx
from onnx import TensorProto, helper

kind, path = sys.argv[1:3]
nodes = [helper.make_node("Gather", ["features", "idx"], ["x0"], axis=1)]
init = [helper.make_tensor("idx", TensorProto.INT64, [], [0])]
if kind == "batch_mean":
    # sigmoid(x0 - the batch's mean x0): a row's score depends on its batch.
    nodes += [
        helper.make_node("ReduceMean", ["x0"], ["m"], keepdims=1),
        helper.make_node("Sub", ["x0", "m"], ["d"]),
        helper.make_node("Sigmoid", ["d"], ["probability"]),
    ]
elif kind == "linear":
    # 0.5 + 0.1*x0: within [0, 1] on the training range, not beyond it.
    init += [
        helper.make_tensor("a", TensorProto.FLOAT, [], [0.1]),
        helper.make_tensor("b", TensorProto.FLOAT, [], [0.5]),
    ]
    nodes += [
        helper.make_node("Mul", ["x0", "a"], ["ax"]),
        helper.make_node("Add", ["ax", "b"], ["probability"]),
    ]
elif kind == "sigmoid":
    nodes += [helper.make_node("Sigmoid", ["x0"], ["probability"])]
else:
    sys.exit("unknown kind " + kind)
graph = helper.make_graph(
    nodes,
    kind,
    [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 3])],
    [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N"])],
    init,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
onnx.checker.check_model(model)
onnx.save(model, path)
`

// modelDir writes a model directory at dir serving the graph kind, with the
// committed test model's manifest (features, stats, threshold) and its own
// version, file hash and size.
func modelDir(t *testing.T, python, root, dir, kind string) {
	t.Helper()
	if err := exec.Command(python, "-c", "import onnx").Run(); err != nil {
		testutil.SkipOrFail(t, "building test models needs the onnx package in %s (make venv installs it): %v", python, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	onnxPath := filepath.Join(dir, "model.onnx")
	if out, err := exec.Command(python, "-c", onnxGraphScript, kind, onnxPath).CombinedOutput(); err != nil {
		t.Fatalf("building the %s model: %v\n%s", kind, err, out)
	}
	blob, err := os.ReadFile(onnxPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "tests", "vectors", "model", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(blob)
	m["version"] = "gatecheck-" + kind
	m["serve_variant"] = "fp32"
	m["variants"] = map[string]any{"fp32": map[string]any{
		"file": "model.onnx", "sha256": hex.EncodeToString(sum[:]), "bytes": len(blob), "accepted": true, "reason": nil,
	}}
	if b, err = json.MarshalIndent(m, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runBoth runs gatecheck on model twice, with -json and without, and
// returns the exit statuses, the decoded report and the human output.
func runBoth(t *testing.T, python, model string) (jsonCode int, r Report, textCode int, text string) {
	t.Helper()
	args := []string{"-model", model, "-python", python, "-sample", "200", "-duration", "50ms", "-goroutines", "1,8"}
	var out, errOut bytes.Buffer
	jsonCode = run(append(args, "-json"), &out, &errOut)
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("-json output (exit %d): %v\n%s\nstderr: %s", jsonCode, err, out.String(), errOut.String())
	}
	// The CI contract is the raw JSON field, not this package's struct.
	var raw map[string]any
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if pass, ok := raw["pass"].(bool); !ok || pass != r.Pass {
		t.Fatalf(`-json "pass" is %#v, want a bool`, raw["pass"])
	}
	out.Reset()
	errOut.Reset()
	textCode = run(args, &out, &errOut)
	return jsonCode, r, textCode, out.String() + errOut.String()
}

// wantOneFailure checks a failing run: exit 1 both ways, "pass": false,
// exactly one failure, starting with check (its name), and the human output
// marking it FAIL on its own line and in the closing verdict with the reason.
func wantOneFailure(t *testing.T, jsonCode int, r Report, textCode int, text, check, line string) {
	t.Helper()
	if jsonCode != 1 || textCode != 1 {
		t.Errorf("exit %d with -json, %d without; want 1", jsonCode, textCode)
	}
	if r.Pass {
		t.Errorf(`-json "pass" is true`)
	}
	if len(r.Failures) != 1 || !strings.HasPrefix(r.Failures[0], check+": ") {
		t.Fatalf("failures %q, want exactly one naming %q with its reason", r.Failures, check)
	}
	for _, want := range []string{line, "FAIL: " + r.Failures[0]} {
		if !strings.Contains(text, want) {
			t.Errorf("human output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "PASS: every check passed") {
		t.Errorf("human output claims every check passed:\n%s", text)
	}
}

// A model whose scores depend on the rest of the batch (an export that
// normalises by batch statistics): the sidecar answers each record on its
// own, onnxruntime on the whole sample at once, so the predictor's answers
// are not the model file's scores — and nothing else about it is wrong.
func TestGatecheckFailsAgreementWhenTheSidecarsScoresDifferFromOnnxruntime(t *testing.T) {
	python, root := sidecar(t)
	t.Chdir(root)
	model := filepath.Join(t.TempDir(), "batch_mean")
	modelDir(t, python, root, model, "batch_mean")
	jc, r, tc, text := runBoth(t, python, model)
	if r.Agreement.Pass || r.Agreement.MaxAbsDiff <= 0.01 || r.Agreement.DecisionsOff == 0 || r.Agreement.Fallbacks != 0 {
		t.Errorf("agreement %+v, want a clear disagreement from the model, not fallbacks", r.Agreement)
	}
	wantOneFailure(t, jc, r, tc, text, "agreement with onnxruntime", "FAIL agreement with onnxruntime")
	if !strings.Contains(r.Failures[0], "max |Δp|") || !strings.Contains(r.Failures[0], "decisions differ") {
		t.Errorf("failure %q does not say how they differ", r.Failures[0])
	}
}

// A model whose output leaves [0, 1] beyond its training range: the sidecar
// passes its canary (rows within the range) and serves it, refuses to decide
// on the huge value (bad_output), and only the huge-value edge case on that
// feature catches it.
func TestGatecheckFailsTheEdgeCaseAModelGetsWrong(t *testing.T) {
	python, root := sidecar(t)
	t.Chdir(root)
	model := filepath.Join(t.TempDir(), "linear")
	modelDir(t, python, root, model, "linear")
	jc, r, tc, text := runBoth(t, python, model)
	if !r.Agreement.Pass {
		t.Errorf("agreement %+v failed; the model is served faithfully", r.Agreement)
	}
	for _, e := range r.EdgeCases {
		if e.Pass == (e.Name == "huge_positive") {
			t.Errorf("edge case %+v", e)
		}
	}
	wantOneFailure(t, jc, r, tc, text, "edge case huge_positive", "FAIL huge_positive")
	if !strings.Contains(r.Failures[0], "want model answer in [0,1], got fallback (error:") ||
		!strings.Contains(r.Failures[0], "bad_output") {
		t.Errorf("failure %q does not give the answer it got", r.Failures[0])
	}
}

// -model link/../m: filepath.Abs (the predictor) cleans it to the m beside
// link, EvalSymlinks (gatecheck) resolves link first and finds the m beside
// link's target. gatecheck must check the directory the sidecar serves.
func TestGatecheckServesTheDirectoryItChecks(t *testing.T) {
	python, root := sidecar(t)
	t.Chdir(root)
	tmp := t.TempDir()
	modelDir(t, python, root, filepath.Join(tmp, "b", "m"), "sigmoid")
	for _, dir := range []string{filepath.Join(tmp, "b", "sub"), filepath.Join(tmp, "x")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		filepath.Join(tmp, "x", "link"): filepath.Join(tmp, "b", "sub"),
		filepath.Join(tmp, "x", "m"):    filepath.Join(root, "tests", "vectors", "model"),
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	// Not filepath.Join, which would clean link/.. away.
	jc, r, _, _ := runBoth(t, python, filepath.Join(tmp, "x", "link")+"/../m")
	h, _ := r.Health.(map[string]any)
	if jc != 0 || r.Version != "gatecheck-sigmoid" || h["ModelVersion"] != r.Version {
		t.Fatalf("exit %d, checked version %q, sidecar served %v; failures %q", jc, r.Version, h["ModelVersion"], r.Failures)
	}
}

// The predictor refuses NaN, ±Inf and wrong lengths itself, so those edge
// cases cannot be made to fail through a real sidecar; here each kind of
// failed result is constructed and judged, as run does.
func TestFailuresNameEveryFailedCheckWithItsReason(t *testing.T) {
	r := Report{
		ChecksRun: true,
		Agreement: Agreement{Records: 10, Pass: false, Error: "onnxruntime reference with py: exit status 1"},
		EdgeCases: []EdgeCase{
			{Name: "nan", Want: "ErrInvalidInput, fallback, not sent", Got: "model/ err=<nil>", Pass: false},
			{Name: "huge_positive", Want: "model answer in [0,1]", Got: "model p=0.5", Pass: true},
			{Name: "one_short", Want: "ErrInvalidInput, fallback, not sent", Got: "model/ err=<nil>", Pass: false},
		},
		Stress:      []Stress{{Goroutines: 1, Decisions: 5, Pass: true}, {Goroutines: 8, Decisions: 9, Fallbacks: 3}},
		ApprovalErr: "record 3 answered by the fallback (timeout)",
	}
	got := failures(&r)
	want := []string{
		"agreement with onnxruntime: onnxruntime reference with py: exit status 1",
		"edge case nan: want ErrInvalidInput, fallback, not sent, got model/ err=<nil>",
		"edge case one_short: want ErrInvalidInput, fallback, not sent, got model/ err=<nil>",
		"stress at 8 goroutines: 3 fallbacks in 9 decisions",
		"approval rates: record 3 answered by the fallback (timeout)",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("failures:\n%q\nwant:\n%q", got, want)
	}
	r.Failures = got
	var out bytes.Buffer
	printReport(&out, &r)
	for _, line := range []string{"FAIL agreement", "FAIL nan", "PASS huge_positive", "FAIL one_short", "FAIL: " + strings.Join(want, "; ")} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("human output lacks %q:\n%s", line, out.String())
		}
	}

	ok := Report{Agreement: Agreement{Pass: true}, EdgeCases: []EdgeCase{{Name: "nan", Pass: true}}, Stress: []Stress{{Pass: true}}}
	if f := failures(&ok); len(f) != 0 {
		t.Fatalf("a passing report judged %q", f)
	}
}

func TestGatecheckUsageDocumentsExitStatus(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-help"}, &out, &errOut); code != 0 {
		t.Errorf("-help: exit %d, want 0", code)
	}
	for _, want := range []string{"Exit status:", "0  every check passed", "1  a check failed", `"pass": false`, "2  bad arguments"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, errOut.String())
		}
	}
}

// A model file that does not match its manifest (here truncated): the sidecar
// refuses it, and gatecheck reports that cause alone instead of running every
// check against the fallback.
func TestGatecheckOnAModelTheSidecarRefusesReportsOnlyThat(t *testing.T) {
	python, root := sidecar(t)
	t.Chdir(root)
	dir := t.TempDir()
	src := filepath.Join(root, "tests", "vectors", "model")
	files, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range files {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "model.onnx" {
			b = b[:len(b)/2]
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	jsonCode, r, textCode, text := runBoth(t, python, dir)
	wantOneFailure(t, jsonCode, r, textCode, text, "sidecar not ready", "FAIL: sidecar not ready")
	if r.ChecksRun || len(r.Stress) != 0 || len(r.EdgeCases) != 0 || r.Agreement.Records != 0 {
		t.Errorf("checks were run against a sidecar that is not ready: %+v", r)
	}
	if !strings.Contains(r.Failures[0], "sha256") || !strings.Contains(r.Failures[0], "no check was run") {
		t.Errorf("failure %q does not name the cause (the file's checksum)", r.Failures[0])
	}
	if strings.Contains(text, "Traceback") || strings.Contains(text, "goroutines") {
		t.Errorf("human output holds more than the cause:\n%s", text)
	}
}
