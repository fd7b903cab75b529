// Package replica is an in-process copy of a served tree model: it decodes
// the model directory's served ONNX graph (generated protobuf types, no cgo),
// compiles its tree ensemble and the few elementwise nodes train emits around
// it (Scaler, Sigmoid, the sigmoid-calibration chain) into flat arrays or,
// when they fit a core's cache, one lookup table per tree, and scores one
// record with no allocation (about 0.5 µs for a 100-tree, 63-leaf ensemble
// on three features), computing in float32 as onnxruntime's CPU kernels do.
//
// A replica is only as good as its check: the predictor scores the model's
// check vectors (check_vectors.json, written by train) with both the replica
// and the sidecar and trusts the replica only when every answer agrees
// within Tolerance. Graphs it cannot reproduce exactly (MLP, unsupported
// node modes or ops) get an error wrapping ErrUnsupported that says why.
package replica

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/sigmagate/sigmagate/go/defaults"
	"github.com/sigmagate/sigmagate/go/internal/onnxpb"
	"github.com/sigmagate/sigmagate/go/manifest"
)

// Tolerance is the largest |replica − sidecar| probability difference a
// check vector may show.
const Tolerance = defaults.CheckVectorTolerance

// Replica scores records with a compiled copy of the served graph. It is
// immutable and safe for concurrent use.
type Replica struct {
	version  string
	variant  string
	features []string
	prog     *program
}

// Load builds the replica of the variant the manifest serves in dir,
// verifying the graph file's sha256 first.
func Load(dir string) (*Replica, error) {
	m, err := manifest.Load(dir)
	if err != nil {
		return nil, err
	}
	return FromManifest(m)
}

// FromManifest is Load for an already parsed manifest.
func FromManifest(m *manifest.Manifest) (*Replica, error) {
	v, err := m.Served()
	if err != nil {
		return nil, err
	}
	if err := m.VerifyFile(v.File, v.SHA256); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(m.Path(v.File))
	if err != nil {
		return nil, err
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		return nil, fmt.Errorf("%s: not an ONNX model: %w", m.Path(v.File), err)
	}
	prog, err := compile(&mp, len(m.Features), m.InputName, m.OutputName)
	if err != nil {
		return nil, fmt.Errorf("%s (%s, variant %s): %w", m.Path(v.File), m.ModelFamily, m.ServeVariant, err)
	}
	return &Replica{version: m.Version, variant: m.ServeVariant, features: append([]string(nil), m.Features...), prog: prog}, nil
}

// Version is the model version the replica was built from.
func (r *Replica) Version() string { return r.version }

// Variant is the served variant it replicates (fp32, fp16, int8).
func (r *Replica) Variant() string { return r.variant }

// Features is the model's feature order.
func (r *Replica) Features() []string { return append([]string(nil), r.features...) }

// Nodes is the number of tree nodes compiled.
func (r *Replica) Nodes() int { return r.prog.trees }

// Predict returns the class-1 probability for one record, which must hold
// exactly len(Features()) values (it panics otherwise, like a slice index).
// Callers reject NaN and ±Inf first, as the sidecar does.
func (r *Replica) Predict(x []float32) float32 {
	if len(x) != r.prog.nFeatures {
		panic(fmt.Sprintf("replica: %d features, the model takes %d", len(x), r.prog.nFeatures))
	}
	return r.prog.run(x)
}

// CheckVectors is check_vectors.json: records to score, and what
// onnxruntime answered for them when train wrote the file.
type CheckVectors struct {
	Features []string    `json:"features"`
	Rows     [][]float32 `json:"rows"`
	// P is onnxruntime's class-1 probability for each row at training time
	// (informational: the load-time check compares with the live sidecar).
	P []float64 `json:"p"`
	// Kind says where each row came from: "test" or "edge".
	Kind []string `json:"kind,omitempty"`
}

// LoadCheckVectors reads the manifest's check vectors after verifying their
// sha256; a manifest without them is an error saying so.
func LoadCheckVectors(m *manifest.Manifest) (*CheckVectors, error) {
	ref := m.CheckVectors
	if ref == nil {
		return nil, fmt.Errorf("%s: the manifest lists no check_vectors (a model trained before they existed; retrain to get a replica)", m.Path(manifest.FileName))
	}
	if err := m.VerifyFile(ref.File, ref.SHA256); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(m.Path(ref.File))
	if err != nil {
		return nil, err
	}
	var cv CheckVectors
	if err := json.Unmarshal(b, &cv); err != nil {
		return nil, fmt.Errorf("%s: %w", m.Path(ref.File), err)
	}
	if len(cv.Features) != len(m.Features) {
		return nil, fmt.Errorf("%s: features %v, the manifest has %v", m.Path(ref.File), cv.Features, m.Features)
	}
	for i, f := range cv.Features {
		if f != m.Features[i] {
			return nil, fmt.Errorf("%s: features %v, the manifest has %v", m.Path(ref.File), cv.Features, m.Features)
		}
	}
	if len(cv.Rows) == 0 || (cv.P != nil && len(cv.P) != len(cv.Rows)) {
		return nil, fmt.Errorf("%s: %d rows and %d probabilities", m.Path(ref.File), len(cv.Rows), len(cv.P))
	}
	for i, row := range cv.Rows {
		if len(row) != len(m.Features) {
			return nil, fmt.Errorf("%s: row %d has %d values for %d features", m.Path(ref.File), i, len(row), len(m.Features))
		}
		for j, x := range row {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("%s: row %d feature %s is %v", m.Path(ref.File), i, m.Features[j], x)
			}
		}
	}
	return &cv, nil
}

// Compare scores rows with the replica and compares with want (the
// sidecar's answers): nil when every row agrees within Tolerance, else an
// error naming the worst row.
func (r *Replica) Compare(rows [][]float32, want []float64) error {
	if len(rows) != len(want) {
		return fmt.Errorf("%d rows, %d answers", len(rows), len(want))
	}
	worst, at := 0.0, -1
	bad := 0
	for i, row := range rows {
		d := math.Abs(float64(r.Predict(row)) - want[i])
		if !(d <= Tolerance) { // NaN counts as a disagreement
			bad++
			if at < 0 || d > worst || math.IsNaN(d) {
				worst, at = d, i
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("replica of %s disagrees with the sidecar on %d of %d check vectors; worst row %d %v: replica %v, sidecar %v (|diff| %.3g > %g)",
			r.version, bad, len(rows), at, rows[at], r.Predict(rows[at]), want[at], worst, Tolerance)
	}
	return nil
}
