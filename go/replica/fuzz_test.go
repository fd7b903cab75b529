package replica

import (
	"math"
	"testing"
)

// FuzzFastLayoutEqualsTheGenericWalk: for any finite input, the fast tree
// layouts (the lookup tables and the lockstep walk) reach the same leaves as
// the plain node-by-node walk (which mirrors onnxruntime's), so the
// probabilities are identical bit for bit.
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
	negZero := float32(math.Copysign(0, -1))
	f.Add(negZero, negZero, negZero)
	f.Add(float32(0), negZero, float32(math.SmallestNonzeroFloat32))
	f.Add(-float32(math.SmallestNonzeroFloat32), float32(math.MaxFloat32), -float32(math.MaxFloat32))
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
				want := e.walkSum(x)
				xk := inputKeys(x)
				if e.fast.table != nil {
					if got := e.fast.table.sum(&xk); math.Float32bits(got) != math.Float32bits(want) && !(got == 0 && want == 0) {
						t.Fatalf("%s: tables' sum %v, generic %v for %v", r.Version(), got, want, x)
					}
				}
				if got := e.fast.walkSum(&xk); math.Float32bits(got) != math.Float32bits(want) && !(got == 0 && want == 0) {
					t.Fatalf("%s: fast walk's sum %v, generic %v for %v", r.Version(), got, want, x)
				}
			}
		}
	})
}

// The fast layout compares integer order keys: for every pair of finite
// values (signed zeros, subnormals and the extremes included) a key
// comparison must say what the float comparison says, for both branch modes.
func TestOrderKeysCompareAsTheFloatsDo(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	tiny := float32(math.SmallestNonzeroFloat32)
	vals := []float32{negZero, 0, tiny, -tiny, 2 * tiny, -2 * tiny, 1e-38, -1e-38, 0.5, -0.5, 1, -1,
		math.Nextafter32(1, 2), math.Nextafter32(-1, -2), 3.25e7, -3.25e7, math.MaxFloat32, -math.MaxFloat32}
	for _, x := range vals {
		for _, thr := range vals {
			if got, want := orderKey(x) <= thresholdKey(thr, false), x <= thr; got != want {
				t.Errorf("BRANCH_LEQ x=%g t=%g: keys say %v, floats %v", x, thr, got, want)
			}
			if got, want := orderKey(x) <= thresholdKey(thr, true), x < thr; got != want {
				t.Errorf("BRANCH_LT x=%g t=%g: keys say %v, floats %v", x, thr, got, want)
			}
		}
		if inf := orderKey(float32(math.Inf(1))); orderKey(x) > inf {
			t.Errorf("x=%g above a leaf's key", x)
		}
	}
}
