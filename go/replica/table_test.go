package replica

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomEnsemble builds trees of random shape on nf features, with
// thresholds drawn from a small pool (so that trees share keys, as binned
// models' do) that holds both zeros, and leaves of one weight each.
func randomEnsemble(rng *rand.Rand, trees, maxDepth, nf int, mode uint8) *ensemble {
	pool := []float32{float32(math.Copysign(0, -1)), 0, -1, 1, 0.25, -0.25, 2.5, -3, 1e-3, 7}
	for range 30 {
		pool = append(pool, float32(rng.NormFloat64()*2))
	}
	e := &ensemble{uniform: mode}
	var grow func(depth int) int32
	grow = func(depth int) int32 {
		at := int32(len(e.nodes))
		e.nodes = append(e.nodes, node{})
		if depth == maxDepth || depth > 0 && rng.IntN(4) == 0 {
			w := int32(len(e.wValue))
			e.wValue = append(e.wValue, float32(rng.NormFloat64()))
			e.nodes[at] = node{feat: -1, yes: w, no: w + 1}
			return at
		}
		nd := node{feat: int32(rng.IntN(nf)), thr: pool[rng.IntN(len(pool))]}
		nd.yes = grow(depth + 1)
		nd.no = grow(depth + 1)
		e.nodes[at] = nd
		return at
	}
	for range trees {
		e.roots = append(e.roots, grow(0))
	}
	return e
}

// The tables give the walk's sum bit for bit, for inputs on, beside and
// between the thresholds, in both branch modes, with one to five features
// (the fused path and the general one).
func TestTablesSumAsTheWalkDoes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, mode := range []uint8{modeLEQ, modeLT} {
		for nf := 1; nf <= 5; nf++ {
			e := randomEnsemble(rng, 40, 6, nf, mode)
			f := buildFast(e)
			if f == nil || f.table == nil {
				t.Fatalf("mode %d, %d features: no tables for 40 trees of depth 6", mode, nf)
			}
			var near []float32
			for _, nd := range e.nodes {
				if nd.feat >= 0 {
					near = append(near, nd.thr, math.Nextafter32(nd.thr, -10), math.Nextafter32(nd.thr, 10))
				}
			}
			x := make([]float32, nf)
			for range 5000 {
				for i := range x {
					if rng.IntN(2) == 0 {
						x[i] = near[rng.IntN(len(near))]
					} else {
						x[i] = float32(rng.NormFloat64() * 3)
					}
				}
				want := e.walkSum(x)
				xk := inputKeys(x)
				if got := f.table.sum(&xk); math.Float32bits(got) != math.Float32bits(want) && !(got == 0 && want == 0) {
					t.Fatalf("mode %d, %d features, x=%v: tables %v, walk %v", mode, nf, x, got, want)
				}
				if got := f.walkSum(&xk); math.Float32bits(got) != math.Float32bits(want) && !(got == 0 && want == 0) {
					t.Fatalf("mode %d, %d features, x=%v: fast walk %v, generic walk %v", mode, nf, x, got, want)
				}
			}
		}
	}
}

// Beyond their budgets (a tree with more leaves than a cell's byte numbers,
// or more cells than fit a core's cache) the trees are walked instead, with
// the same sums.
func TestTablesGiveWayToTheWalkBeyondTheirBudgets(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	// A chain of 300 splits on one feature: 301 leaves, 301 cells.
	chain := &ensemble{uniform: modeLEQ}
	for i := range 300 {
		w := int32(len(chain.wValue))
		chain.wValue = append(chain.wValue, float32(i))
		at := int32(len(chain.nodes))
		chain.nodes = append(chain.nodes, node{feat: 0, thr: float32(i), yes: at + 1, no: at + 2},
			node{feat: -1, yes: w, no: w + 1})
		if i == 299 {
			chain.wValue = append(chain.wValue, -1)
			chain.nodes = append(chain.nodes, node{feat: -1, yes: w + 1, no: w + 2})
		}
	}
	chain.roots = []int32{0}
	// 300 trees of 90 distinct splits each, 30 per feature: 31³ cells a
	// tree, 8.9 million in all.
	wide := &ensemble{uniform: modeLEQ}
	for tr := range 300 {
		wide.roots = append(wide.roots, int32(len(wide.nodes)))
		for i := range 90 {
			w := int32(len(wide.wValue))
			wide.wValue = append(wide.wValue, float32(tr+i))
			at := int32(len(wide.nodes))
			wide.nodes = append(wide.nodes, node{feat: int32(i % 3), thr: float32(i) + float32(tr)/1000, yes: at + 1, no: at + 2},
				node{feat: -1, yes: w, no: w + 1})
		}
		w := int32(len(wide.wValue))
		wide.wValue = append(wide.wValue, 0.5)
		wide.nodes = append(wide.nodes, node{feat: -1, yes: w, no: w + 1})
	}
	for name, e := range map[string]*ensemble{"301 leaves": chain, "8.9M cells": wide} {
		f := buildFast(e)
		if f == nil {
			t.Fatalf("%s: no fast layout", name)
		}
		if f.table != nil {
			t.Errorf("%s: tables built beyond their budget (%d cells)", name, len(f.table.cells))
		}
		for range 2000 {
			x := []float32{float32(rng.Float64() * 310), float32(rng.Float64() * 100), float32(rng.Float64() * 100)}
			if got, want := f.sum(x), e.walkSum(x); got != want {
				t.Fatalf("%s, x=%v: %v, generic walk %v", name, x, got, want)
			}
		}
	}
}

func TestCountBelowIsABinarySearch(t *testing.T) {
	for n := range 40 {
		ks := make([]int32, n)
		for i := range ks {
			ks[i] = int32(3*i) - 40
		}
		for x := int32(-45); x < int32(3*n); x++ {
			want, _ := slices.BinarySearch(ks, x)
			if got := countBelow(ks, x); got != want {
				t.Fatalf("%d keys, x=%d: %d below, want %d", n, x, got, want)
			}
		}
	}
	extreme := []int32{math.MinInt32, -1, 0, math.MaxInt32 - 1}
	for _, x := range []int32{math.MinInt32, 0, math.MaxInt32} {
		want, _ := slices.BinarySearch(extreme, x)
		if got := countBelow(extreme, x); got != want {
			t.Errorf("x=%d: %d below, want %d", x, got, want)
		}
	}
}
