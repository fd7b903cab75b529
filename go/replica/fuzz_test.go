package replica

import (
	"math"
	"testing"
)

// FuzzFastLayoutEqualsTheGenericWalk: for any finite input, the fast tree
// layout reaches the same leaves as the plain node-by-node walk (which
// mirrors onnxruntime's), so the probabilities are identical bit for bit.
// Seeds: every check-vector row of each family's model (values at split
// thresholds included).
func FuzzFastLayoutEqualsTheGenericWalk(f *testing.F) {
	dirs := models(f)
	var reps []*Replica
	for _, fam := range []string{"gbm", "hgb", "rf", "xgb"} {
		r, err := Load(dirs[fam])
		if err != nil {
			f.Fatal(err)
		}
		reps = append(reps, r)
	}
	for _, fam := range []string{"gbm", "xgb"} {
		cv, err := LoadCheckVectors(mustManifest(f, dirs[fam]))
		if err != nil {
			f.Fatal(err)
		}
		for _, row := range cv.Rows[len(cv.Rows)-40:] {
			f.Add(row[0], row[1], row[2])
		}
	}
	f.Fuzz(func(t *testing.T, a, b, c float32) {
		x := []float32{a, b, c}
		for _, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return // the predictor never passes these
			}
		}
		for _, r := range reps {
			for _, st := range r.prog.steps {
				e := st.trees
				if e == nil || e.fast == nil {
					continue
				}
				var s float32
				for _, root := range e.roots {
					nd := e.leaf(root, x)
					for j := nd.yes; j < nd.no; j++ {
						s = float32(s + e.wValue[j])
					}
				}
				if got := e.fast.sum(x); math.Float32bits(got) != math.Float32bits(s) && !(got == 0 && s == 0) {
					t.Fatalf("%s: fast sum %v, generic %v for %v", r.Version(), got, s, x)
				}
			}
		}
	})
}
