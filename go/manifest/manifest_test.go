package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadReadsTheVectorsModel(t *testing.T) {
	m, err := Load(filepath.Join("..", "..", "tests", "vectors", "model"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Features, ","); got != "tick_ratio,depth_ratio,price_dist" {
		t.Fatalf("features %s", got)
	}
	v, err := m.Served()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.VerifyFile(v.File, v.SHA256); err != nil {
		t.Fatal(err)
	}
	if m.Label.LookaheadS != 60 || m.DefaultThreshold != 0.65 {
		t.Fatalf("label %+v threshold %v", m.Label, m.DefaultThreshold)
	}
}

func TestValidateNamesEachFault(t *testing.T) {
	_, err := Parse([]byte(`{"schema": 2, "features": ["a", "a"], "default_threshold": 1.5,
		"serve_variant": "fp16", "variants": {"fp16": {"file": "m.onnx", "accepted": false},
		"int8": {"file": "../../etc/passwd", "accepted": true}},
		"reference": {"features": {"a": {"edges": [0, 1], "fractions": [0.5, 0.5]}}}}`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"schema is 2", "version is missing", `"a" is listed twice`,
		"default_threshold 1.5", `"fp16" was rejected`, "reference.features.a",
		`variants.int8.file: "../../etc/passwd" is not a plain file name`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestVerifyFileRejectsAChangedFile(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "..", "tests", "vectors", "model", FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), []byte("not the model"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := m.Served()
	if err := m.VerifyFile(v.File, v.SHA256); err == nil || !strings.Contains(err.Error(), "manifest says") {
		t.Fatalf("got %v", err)
	}
}
