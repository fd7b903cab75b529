package replica

import (
	"cmp"
	"math"
	"slices"
)

// fastTrees is the hot-path layout of an ensemble whose branches all use one
// of BRANCH_LEQ / BRANCH_LT and whose leaves carry at most one weight: each
// branch's two children sit side by side (the "yes" child at c, the "no"
// child at c+1), so the next node is computed without a branch, and a leaf
// points at itself, so fastWidth trees can be walked in lockstep for a fixed
// number of steps — that many independent memory loads in flight instead of
// one long chain of unpredictable branches. The comparison itself is
// branch-free too: thresholds and inputs are compared as integer order keys
// (orderKey), the sign of their difference picking the child, because a
// float comparison compiles to a conditional jump that the data makes
// unpredictable, and each mispredicted one flushes the lockstep walk.
// Together with the depth-sorted groups and 8-byte nodes below, this walks
// a 100-tree, 63-leaf ensemble about a quarter faster than four trees at a
// time with float comparisons did (docs/BENCHMARKS.md, replica rows).
// Results are identical to ensemble.leaf: the same comparisons, and leaf
// values still summed in tree order.
type fastTrees struct {
	nodes   []fnode
	leafVal []float32 // per node; 0 for a leaf without weight
	roots   []int32
	depth   []int32 // per tree: steps from the root to its deepest leaf
	chunks  []fastChunk
	table   *tableTrees // the same trees as lookup tables; nil beyond their budgets
}

// Trees are walked fastWidth at a time, in groups of similar depth: within
// each run of chunkTrees consecutive trees, sorted by depth, so a group's
// step count (its deepest tree's) wastes few steps on trees already at their
// leaf. Leaf values are put back in tree order before they are summed.
const (
	fastWidth  = 8
	chunkTrees = 256
)

// fastChunk is the walking plan of the trees [first, first+len(order)).
type fastChunk struct {
	first int
	order []int32 // tree indices relative to first, by depth
	steps []int32 // per full group of fastWidth in order; the rest go one by one
}

type fnode struct {
	// The "yes" test as x's order key <= key: orderKey(threshold) for
	// BRANCH_LEQ, one less for BRANCH_LT (x < t ⇔ key(x) <= key(t)-1), with
	// a zero threshold's key taken from the zero of the sign that keeps
	// ±0 inputs on the side a float comparison puts them. A leaf holds
	// orderKey(+Inf), above every finite input.
	key int32
	// cf is the yes child's index c (the no child is c+1; a leaf's own index)
	// shifted left by featBits, or'd with the feature tested: eight bytes a
	// node, so more of the ensemble stays in cache.
	cf int32
}

const featBits = 6 // maxFastFeatures = 1 << featBits

// maxFastFeatures bounds the input width of the fast layout: the input's
// order keys live in an array of this size on the caller's stack.
const maxFastFeatures = 1 << featBits

// orderKey maps a float32 to an int32 in the same order for every non-NaN
// value (-0 just below +0): a negative value's magnitude bits are flipped.
func orderKey(v float32) int32 {
	b := int32(math.Float32bits(v))
	return b ^ (b >> 31 & 0x7fffffff)
}

// thresholdKey is fnode.key for a branch on threshold t.
func thresholdKey(t float32, lt bool) int32 {
	if lt {
		if t == 0 {
			return orderKey(float32(math.Copysign(0, -1))) - 1 // x < 0: strictly negative
		}
		return orderKey(t) - 1
	}
	if t == 0 {
		return orderKey(0) // x <= 0: -0 and +0 included
	}
	return orderKey(t)
}

// buildFast lays e out for the fast path, or returns nil when it does not
// apply (mixed or exotic node modes, a leaf with several weights).
func buildFast(e *ensemble) *fastTrees {
	if e.modes != nil {
		return nil
	}
	for _, nd := range e.nodes {
		if nd.feat < 0 && nd.no-nd.yes > 1 || nd.feat >= maxFastFeatures || nd.feat >= 0 && nd.thr != nd.thr {
			return nil // several leaf weights, a wide input, a NaN threshold: the generic walk
		}
	}
	if 2*len(e.nodes) >= 1<<(31-featBits) {
		return nil // more nodes than cf can index
	}
	f := &fastTrees{}
	lt := e.uniform == modeLT
	leafKey := orderKey(float32(math.Inf(1)))
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
				f.nodes[at] = fnode{key: leafKey, cf: at << featBits}
				if nd.no > nd.yes {
					f.leafVal[at] = e.wValue[nd.yes]
				}
				continue
			}
			c := int32(len(f.nodes))
			f.nodes = append(f.nodes, fnode{}, fnode{})
			f.leafVal = append(f.leafVal, 0, 0)
			f.nodes[at] = fnode{key: thresholdKey(nd.thr, lt), cf: c<<featBits | nd.feat}
			queue = append(queue, slot{nd.yes, d + 1}, slot{nd.no, d + 1})
		}
		f.depth = append(f.depth, maxDepth)
	}
	for first := 0; first < len(f.roots); first += chunkTrees {
		c := fastChunk{first: first, order: make([]int32, min(chunkTrees, len(f.roots)-first))}
		for i := range c.order {
			c.order[i] = int32(i)
		}
		depth := f.depth[first:]
		slices.SortStableFunc(c.order, func(a, b int32) int { return cmp.Compare(depth[a], depth[b]) })
		for g := fastWidth; g <= len(c.order); g += fastWidth {
			c.steps = append(c.steps, depth[c.order[g-1]])
		}
		f.chunks = append(f.chunks, c)
	}
	f.table = buildTable(f)
	return f
}

// inputKeys is the order key of each of x's values, as the fast layouts
// compare them.
func inputKeys(x []float32) (xk [maxFastFeatures]int32) {
	for i, v := range x[:min(len(x), maxFastFeatures)] {
		xk[i] = orderKey(v)
	}
	return xk
}

// isLeaf: a leaf's child index is its own (it points at itself).
func (n fnode) isLeaf(i int32) bool { return n.cf>>featBits == i }

// sum is the trees' float32 sum of leaf values for a finite x.
func (f *fastTrees) sum(x []float32) float32 {
	xk := inputKeys(x)
	if f.table != nil {
		return f.table.sum(&xk)
	}
	return f.walkSum(&xk)
}

// walkSum is sum by walking the trees.
func (f *fastTrees) walkSum(xk *[maxFastFeatures]int32) float32 {
	var leaves [chunkTrees]float32
	var s float32
	for ci := range f.chunks {
		c := &f.chunks[ci]
		f.walk(c, xk, &leaves)
		for _, v := range leaves[:len(c.order)] {
			s = float32(s + v)
		}
	}
	return s
}

// walk puts the leaf value of each tree of chunk c in leaves, at the tree's
// position in the chunk.
func (f *fastTrees) walk(c *fastChunk, xk *[maxFastFeatures]int32, leaves *[chunkTrees]float32) {
	nodes, leaf, roots, order := f.nodes, f.leafVal, f.roots[c.first:], c.order
	for g, steps := range c.steps {
		o := order[g*fastWidth : g*fastWidth+fastWidth]
		i0, i1, i2, i3 := roots[o[0]], roots[o[1]], roots[o[2]], roots[o[3]]
		i4, i5, i6, i7 := roots[o[4]], roots[o[5]], roots[o[6]], roots[o[7]]
		for j := int32(0); j < steps; j++ {
			i0, i1, i2, i3 = walkStep(nodes, i0, xk), walkStep(nodes, i1, xk), walkStep(nodes, i2, xk), walkStep(nodes, i3, xk)
			i4, i5, i6, i7 = walkStep(nodes, i4, xk), walkStep(nodes, i5, xk), walkStep(nodes, i6, xk), walkStep(nodes, i7, xk)
		}
		leaves[o[0]&(chunkTrees-1)], leaves[o[1]&(chunkTrees-1)] = leaf[i0], leaf[i1]
		leaves[o[2]&(chunkTrees-1)], leaves[o[3]&(chunkTrees-1)] = leaf[i2], leaf[i3]
		leaves[o[4]&(chunkTrees-1)], leaves[o[5]&(chunkTrees-1)] = leaf[i4], leaf[i5]
		leaves[o[6]&(chunkTrees-1)], leaves[o[7]&(chunkTrees-1)] = leaf[i6], leaf[i7]
	}
	depth := f.depth[c.first:]
	for _, t := range order[len(c.steps)*fastWidth:] {
		i := roots[t]
		for j := int32(0); j < depth[t]; j++ {
			i = walkStep(nodes, i, xk)
		}
		leaves[t&(chunkTrees-1)] = leaf[i]
	}
}

// walkStep is the child of node i for the input keys xk: c when xk[feat] <=
// key, else c+1, from the sign bit of key − xk[feat] (no branch).
func walkStep(nodes []fnode, i int32, xk *[maxFastFeatures]int32) int32 {
	n := nodes[i]
	return n.cf>>featBits + int32(uint64(int64(n.key)-int64(xk[n.cf&(maxFastFeatures-1)]))>>63)
}
