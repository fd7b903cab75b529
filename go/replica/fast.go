package replica

import "math"

// fastTrees is the hot-path layout of an ensemble whose branches all use one
// of BRANCH_LEQ / BRANCH_LT and whose leaves carry at most one weight: each
// branch's two children sit side by side (the "yes" child at c, the "no"
// child at c+1), so the next node is computed without a branch, and a leaf
// points at itself, so four trees can be walked in lockstep for a fixed
// number of steps — four independent memory loads in flight instead of one
// long chain of unpredictable branches. Results are identical to ensemble.leaf:
// the same comparisons, and leaf values still summed in tree order.
type fastTrees struct {
	nodes   []fnode
	leafVal []float32 // per node; 0 for a leaf without weight
	roots   []int32
	depth   []int32 // per tree: steps from the root to its deepest leaf
	lt      bool    // BRANCH_LT (else BRANCH_LEQ)
}

type fnode struct {
	feat int32
	thr  float32 // +Inf at a leaf: x <= +Inf and x < +Inf hold for finite x
	c    int32   // yes child; the no child is c+1; a leaf's own index
}

// buildFast lays e out for the fast path, or returns nil when it does not
// apply (mixed or exotic node modes, a leaf with several weights).
func buildFast(e *ensemble) *fastTrees {
	if e.modes != nil {
		return nil
	}
	for _, nd := range e.nodes {
		if nd.feat < 0 && nd.no-nd.yes > 1 {
			return nil
		}
	}
	f := &fastTrees{lt: e.uniform == modeLT}
	inf := float32(math.Inf(1))
	for _, r := range e.roots {
		root := int32(len(f.nodes))
		f.roots = append(f.roots, root)
		// Breadth-first: old index of each new slot, filled as slots are allocated.
		type slot struct{ old, depth int32 }
		queue := []slot{{r, 0}}
		f.nodes = append(f.nodes, fnode{})
		f.leafVal = append(f.leafVal, 0)
		maxDepth := int32(0)
		for q := 0; q < len(queue); q++ {
			at := root + int32(q)
			nd := e.nodes[queue[q].old]
			d := queue[q].depth
			maxDepth = max(maxDepth, d)
			if nd.feat < 0 {
				f.nodes[at] = fnode{feat: 0, thr: inf, c: at}
				if nd.no > nd.yes {
					f.leafVal[at] = e.wValue[nd.yes]
				}
				continue
			}
			c := int32(len(f.nodes))
			f.nodes = append(f.nodes, fnode{}, fnode{})
			f.leafVal = append(f.leafVal, 0, 0)
			f.nodes[at] = fnode{feat: nd.feat, thr: nd.thr, c: c}
			queue = append(queue, slot{nd.yes, d + 1}, slot{nd.no, d + 1})
		}
		f.depth = append(f.depth, maxDepth)
	}
	return f
}

// sum is the trees' float32 sum of leaf values for a finite x.
func (f *fastTrees) sum(x []float32) float32 {
	nodes, roots, depth, leaf := f.nodes, f.roots, f.depth, f.leafVal
	var s float32
	k := 0
	for ; k+4 <= len(roots); k += 4 {
		i0, i1, i2, i3 := roots[k], roots[k+1], roots[k+2], roots[k+3]
		steps := max(depth[k], depth[k+1], depth[k+2], depth[k+3])
		if f.lt {
			for j := int32(0); j < steps; j++ {
				i0, i1, i2, i3 = stepLT(nodes, i0, x), stepLT(nodes, i1, x), stepLT(nodes, i2, x), stepLT(nodes, i3, x)
			}
		} else {
			for j := int32(0); j < steps; j++ {
				i0, i1, i2, i3 = stepLEQ(nodes, i0, x), stepLEQ(nodes, i1, x), stepLEQ(nodes, i2, x), stepLEQ(nodes, i3, x)
			}
		}
		s = float32(s + leaf[i0])
		s = float32(s + leaf[i1])
		s = float32(s + leaf[i2])
		s = float32(s + leaf[i3])
	}
	for ; k < len(roots); k++ {
		i := roots[k]
		for j := int32(0); j < depth[k]; j++ {
			if f.lt {
				i = stepLT(nodes, i, x)
			} else {
				i = stepLEQ(nodes, i, x)
			}
		}
		s = float32(s + leaf[i])
	}
	return s
}

func stepLEQ(nodes []fnode, i int32, x []float32) int32 {
	n := nodes[i]
	c := n.c
	if !(x[n.feat] <= n.thr) {
		c++
	}
	return c
}

func stepLT(nodes []fnode, i int32, x []float32) int32 {
	n := nodes[i]
	c := n.c
	if !(x[n.feat] < n.thr) {
		c++
	}
	return c
}
