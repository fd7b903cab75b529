// Package manifest reads a model directory's manifest.json, the single source
// of truth for feature names and order, the default threshold, the served
// variant and its hash (docs/MODEL_FORMAT.md). Every Go consumer — the
// predictor, gatecheck, simbot — reads the manifest through this one type.
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Schema is the manifest format version this package understands.
const Schema = 1

// FileName is the manifest's name inside a model directory.
const FileName = "manifest.json"

// Manifest holds the keys a consumer relies on (★ in docs/MODEL_FORMAT.md)
// and the optional blocks later stages read. Keys it does not name are kept
// in the file and ignored here.
type Manifest struct {
	Schema           int      `json:"schema"`
	Version          string   `json:"version"`
	Created          string   `json:"created"`
	ModelFamily      string   `json:"model_family"`
	Features         []string `json:"features"`
	InputName        string   `json:"input_name"`
	OutputName       string   `json:"output_name"`
	DefaultThreshold float64  `json:"default_threshold"`
	// AllowExtremeThresholds is the opt-in a threshold of exactly 0 or 1 needs.
	AllowExtremeThresholds bool `json:"allow_extreme_thresholds,omitempty"`
	// SymbolThresholds overrides DefaultThreshold per symbol; absent in
	// models made before it existed. Read it through ThresholdFor.
	SymbolThresholds map[string]float64      `json:"symbol_thresholds,omitempty"`
	ServeVariant     string                  `json:"serve_variant"`
	Variants         map[string]Variant      `json:"variants"`
	FeatureStats     map[string]FeatureStats `json:"feature_stats"`
	Label            Label                   `json:"label"`
	// CheckVectors are the rows an in-process replica must score like the
	// sidecar before it is trusted; absent in models made before they existed.
	CheckVectors *FileRef `json:"check_vectors,omitempty"`
	// Reference is the training data's distribution, for drift monitoring;
	// absent in models made before it existed.
	Reference *Reference `json:"reference,omitempty"`

	dir string
}

// Variant is one ONNX graph of the model (fp32, fp16, int8).
type Variant struct {
	File     string  `json:"file"`
	SHA256   string  `json:"sha256"`
	Bytes    int64   `json:"bytes"`
	Accepted bool    `json:"accepted"`
	Reason   *string `json:"reason"`
}

// FeatureStats summarise one feature on the training split, after cleaning.
type FeatureStats struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Q001 float64 `json:"q001"`
	Q999 float64 `json:"q999"`

	ranged bool // min and max were both given (a zero is a value, not an absence)
}

// UnmarshalJSON records whether min and max were given: the training range
// exists only then (docs/PROTOCOL.md, `ood`).
func (s *FeatureStats) UnmarshalJSON(b []byte) error {
	type plain FeatureStats
	var aux struct {
		plain
		Min *float64 `json:"min"`
		Max *float64 `json:"max"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*s = FeatureStats(aux.plain)
	if aux.Min != nil && aux.Max != nil {
		s.Min, s.Max, s.ranged = *aux.Min, *aux.Max, true
	}
	return nil
}

// TrainingRanges are [min, max] of each feature on the training split, in
// the manifest's feature order: a record with a value outside is out of
// distribution, as the sidecar flags it. ok is false when any feature lacks
// its range.
func (m *Manifest) TrainingRanges() (lo, hi []float64, ok bool) {
	for _, f := range m.Features {
		st, found := m.FeatureStats[f]
		if !found || !st.ranged {
			return nil, nil, false
		}
		lo, hi = append(lo, st.Min), append(hi, st.Max)
	}
	return lo, hi, len(m.Features) > 0
}

// Label is how the training labels were made.
type Label struct {
	LookaheadS     float64 `json:"lookahead_s"`
	ThresholdSigma float64 `json:"threshold_sigma"`
	MinDistSigma   float64 `json:"min_dist_sigma"`
	MinStd         float64 `json:"min_std"`
}

// FileRef names a file of the model directory and its hash.
type FileRef struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Rows   int    `json:"rows,omitempty"`
}

// Reference is the training distribution drift is measured against.
type Reference struct {
	// Features maps a feature name to its decile bins on the training split.
	Features map[string]Bins `json:"features"`
	// ApprovalRate is the share of the test split approved at ApprovalThreshold.
	ApprovalRate      float64 `json:"approval_rate"`
	ApprovalThreshold float64 `json:"approval_threshold"`
	Rows              int     `json:"rows"`
}

// Bins are a histogram: len(Edges) == len(Fractions)+1, edges ascending; the
// outer edges are the training min and max, and a live value below the first
// or above the last falls in the first or last bin for PSI (and counts as
// out of range).
type Bins struct {
	Edges     []float64 `json:"edges"`
	Fractions []float64 `json:"fractions"`
}

// Dir is the model directory the manifest was read from.
func (m *Manifest) Dir() string { return m.dir }

// Path joins a file name of the manifest with the model directory.
func (m *Manifest) Path(file string) string { return filepath.Join(m.dir, file) }

// Load reads and validates dir/manifest.json. It does not hash files: call
// VerifyFile for each file used.
func Load(dir string) (*Manifest, error) {
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w; a model directory holds %s (docs/MODEL_FORMAT.md)", err, FileName)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.dir = dir
	return m, nil
}

// Parse decodes and validates a manifest's bytes, strictly: a key given
// twice, a key that differs from a known one only in case, a required key
// missing or null, or a value of the wrong type is an *Error naming the field
// (docs/MODEL_FORMAT.md, "Validation rules"). Unknown keys are allowed.
func Parse(b []byte) (*Manifest, error) {
	tree, err := decodeStrict(b)
	if err != nil {
		return nil, err
	}
	if err := validateTree(tree); err != nil {
		return nil, err
	}
	// Safe now: no duplicate or case-twin keys are left for encoding/json's
	// last-wins, case-insensitive matching to pick from, and every typed
	// value has its type.
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode a validated manifest: %w", err)
	}
	return &m, nil
}

// ThresholdFor is the decision threshold of one symbol: its own in
// symbol_thresholds, else default_threshold.
func (m *Manifest) ThresholdFor(symbol string) float64 {
	if t, ok := m.SymbolThresholds[symbol]; ok {
		return t
	}
	return m.DefaultThreshold
}

// plainFile accepts a file name inside the model directory, never a path
// that leaves it (a manifest must not make a reader hash or load /etc/...).
// Both separators are refused, so the rule does not depend on the OS.
func plainFile(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return fmt.Errorf("%q is not a plain file name in the model directory (no '/', '\\', not '.' or '..', not empty)", name)
	}
	return nil
}

// Served is the variant to serve: serve_variant, which must exist and be accepted.
func (m *Manifest) Served() (Variant, error) {
	v, ok := m.Variants[m.ServeVariant]
	if !ok {
		return v, fmt.Errorf("serve_variant %q is not among the variants", m.ServeVariant)
	}
	if !v.Accepted {
		return v, fmt.Errorf("serve_variant %q was rejected by train", m.ServeVariant)
	}
	if v.File == "" {
		return v, fmt.Errorf("variants.%s has no file", m.ServeVariant)
	}
	return v, nil
}

// VerifyFile checks that dir/file hashes to want (hex sha256).
func (m *Manifest) VerifyFile(file, want string) error {
	got, err := SHA256File(m.Path(file))
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s: sha256 %s, manifest says %s", m.Path(file), got, want)
	}
	return nil
}

// SHA256File is the hex sha256 of a file's bytes.
func SHA256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FeatureIndex maps each feature name to its column in the model's input.
func (m *Manifest) FeatureIndex() map[string]int {
	out := make(map[string]int, len(m.Features))
	for i, f := range m.Features {
		out[f] = i
	}
	return out
}
