package manifest

import (
	"errors"
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

func TestLoadNamesTheFileAndTheField(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "..", "tests", "vectors", "model", FileName))
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), `"default_threshold": 0.65`, `"default_threshold": 0.65, "Default_Threshold": 0`, 1))
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(dir)
	var e *Error
	if !errors.As(err, &e) || e.Field != "Default_Threshold" ||
		!strings.HasPrefix(err.Error(), filepath.Join(dir, FileName)+": ") || !strings.Contains(err.Error(), "only in case") {
		t.Fatalf("got %v", err)
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
