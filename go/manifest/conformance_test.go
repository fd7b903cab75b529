package manifest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The cases of tests/vectors/manifests (README.md there): modelformat's
// test_manifests.py runs the same index.json, so a verdict or field at
// fault that differs between the languages fails one of the two.
func TestConformanceCases(t *testing.T) {
	dir := filepath.Join("..", "..", "tests", "vectors", "manifests")
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index struct {
		Cases []struct {
			Name, Description, File, Verdict string
			Field                            *string
		}
	}
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Cases) < 100 {
		t.Fatalf("only %d cases in index.json", len(index.Cases))
	}
	for _, c := range index.Cases {
		t.Run(c.Name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(dir, c.File))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(text)
			switch c.Verdict {
			case "valid":
				if err != nil {
					t.Fatalf("%s: want valid, got %v", c.Description, err)
				}
			case "invalid":
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: want an *Error at %q, got %v", c.Description, *c.Field, err)
				}
				if e.Field != *c.Field {
					t.Fatalf("%s: field %q, want %q (%v)", c.Description, e.Field, *c.Field, err)
				}
			default:
				t.Fatalf("verdict %q", c.Verdict)
			}
		})
	}
}

// What the case-twin fault did before: encoding/json read the twin.
func TestParseFillsTheStructFromTheExactKeys(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "tests", "vectors", "manifests", "built", "symbol_threshold_zero_with_opt_in.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !m.AllowExtremeThresholds || m.ThresholdFor("ETHUSDT") != 0 || m.ThresholdFor("BTCUSDT") != 0.7 ||
		m.ThresholdFor("SOLUSDT") != 0.65 || m.Features[0] != "tick_ratio" || m.Label.MinStd != 0.1 {
		t.Fatalf("%+v", m)
	}
}
