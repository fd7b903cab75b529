// Package testutil holds helpers shared by the module's tests.
package testutil

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/sigmagate/sigmagate/go/manifest"
)

// ReferenceFeatures are the features of the manifests WithReference writes
// from scratch, in order: the bot's three.
var ReferenceFeatures = []string{"tick_ratio", "depth_ratio", "price_dist"}

// TrainingRow draws one row of the drift tests' training distribution, with
// price_dist shifted by shift.
func TrainingRow(r *rand.Rand, shift float64) []float32 {
	return []float32{float32(r.Float64()*2 - 1), float32(r.Float64()*2 - 1), float32(r.NormFloat64()*1.5 + shift)}
}

// WithReference writes into dir a manifest.json (copied from src when given,
// else from the committed vectors model, as version ref-test) whose reference block is built from rows of
// TrainingRow drawn with a fixed seed, and returns dir.
func WithReference(t testing.TB, dir, src string) string {
	t.Helper()
	fresh := src == ""
	if fresh { // the committed vectors model's manifest: complete and valid
		src = vectorsModel(t)
	}
	b, err := os.ReadFile(filepath.Join(src, manifest.FileName))
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]any{}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if fresh {
		raw["version"] = "ref-test"
	}
	r := rand.New(rand.NewPCG(1, 0))
	cols := make([][]float64, len(ReferenceFeatures))
	for range 20000 {
		for i, x := range TrainingRow(r, 0) {
			cols[i] = append(cols[i], float64(x))
		}
	}
	feats := map[string]manifest.Bins{}
	for i, f := range ReferenceFeatures {
		feats[f] = decileBins(cols[i])
	}
	raw["reference"] = manifest.Reference{Features: feats, ApprovalRate: 0.35, ApprovalThreshold: 0.65, Rows: 20000}
	b, err = json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// vectorsModel is tests/vectors/model of the checkout (SIGMAGATE_ROOT, else
// the nearest parent of the working directory that holds it).
func vectorsModel(t testing.TB) string {
	t.Helper()
	rel := filepath.Join("tests", "vectors", "model")
	var dirs []string
	if r := os.Getenv("SIGMAGATE_ROOT"); r != "" {
		dirs = append(dirs, r)
	}
	wd, _ := os.Getwd()
	for d := wd; ; d = filepath.Dir(d) {
		dirs = append(dirs, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, rel, manifest.FileName)); err == nil {
			return filepath.Join(d, rel)
		}
	}
	t.Fatalf("no %s above %s: the committed vectors are part of the repository", rel, wd)
	return ""
}

// decileBins mirrors train/publish/reference.py: deciles of the sample, duplicate
// edges merged, true shares per bin (a value's bin is the number of interior
// edges <= it, so the last bin also holds the maximum).
func decileBins(xs []float64) manifest.Bins {
	s := slices.Clone(xs)
	slices.Sort(s)
	var edges []float64
	for q := 0; q <= 10; q++ {
		i := int(math.Ceil(float64(q)/10*float64(len(s)))) - 1
		if q == 0 {
			i = 0
		}
		e := s[min(len(s)-1, i)]
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	counts := make([]int, len(edges)-1)
	inner := edges[1 : len(edges)-1]
	for _, x := range s {
		counts[sort.Search(len(inner), func(i int) bool { return inner[i] > x })]++
	}
	fr := make([]float64, len(counts))
	for i, c := range counts {
		fr[i] = float64(c) / float64(len(s))
	}
	return manifest.Bins{Edges: edges, Fractions: fr}
}
