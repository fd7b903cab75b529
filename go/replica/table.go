package replica

import (
	"slices"
)

// tableTrees is the fast layout compiled one step further, for ensembles of
// small trees on few features (a 100-tree, 63-leaf model on three features,
// say): each tree becomes one lookup table. A tree's leaf depends only on
// which side of each of its thresholds the input lies, that is on the
// input's bin among the tree's own split keys, feature by feature; the table
// holds the leaf value of every combination of those bins. A decision then
// costs one binary search per feature over all the ensemble's keys, and per
// tree a few additions and one load, all independent of each other, instead
// of a chain of dependent node loads as deep as the tree.
//
// Results are identical to the fast walk's: each cell holds the leaf that
// the tree's own comparisons (fastTrees nodes, the same integer keys) reach
// for inputs in its bins, and leaf values are summed in tree order.
type tableTrees struct {
	feats []int32   // features some tree splits on, ascending
	keys  [][]int32 // per entry of feats: every distinct split key of the ensemble, ascending
	// rows, per entry of feats: for each of its len(keys)+1 bins g, one
	// offset per tree, rows[g*trees+t]: the tree's bin for that global bin
	// times the tree's stride for the feature. A tree's cell is base[t]
	// plus its offsets for every feature.
	rows [][]int32
	base []int32
	// cells: per cell, the leaf's number within its tree; the leaf's value
	// is leaves[leafBase[t]+number]. A byte a cell keeps the tables of a
	// 100-tree, 63-leaf ensemble on three features under 1 MiB.
	cells    []uint8
	leafBase []int32
	leaves   []float32
	zero     []int32 // one offset per tree, all 0: the rows of absent features in sum
}

// fusedRows: sum adds up to this many features' offsets per tree in one pass.
const fusedRows = 4

// Budgets: the tables replace the walk only while they stay small enough to
// sit in a core's cache (and to build in a few milliseconds at each load).
const (
	maxTableCells = 1 << 21 // every tree's cells together: 2 MiB
	maxTableRows  = 1 << 18 // row offsets of all features together: 1 MiB
)

// buildTable compiles f into tables, or returns nil when they would exceed
// the budgets (deep trees or many features: the walk is then kept).
func buildTable(f *fastTrees) *tableTrees {
	trees := len(f.roots)
	// Each tree's distinct keys per feature.
	treeKeys := make([]map[int32][]int32, trees)
	used := map[int32]bool{}
	for t := range trees {
		end := int32(len(f.nodes))
		if t+1 < trees {
			end = f.roots[t+1]
		}
		tk := map[int32][]int32{}
		for i := f.roots[t]; i < end; i++ {
			n := f.nodes[i]
			if n.isLeaf(i) {
				continue
			}
			feat := n.cf & (maxFastFeatures - 1)
			tk[feat] = append(tk[feat], n.key)
			used[feat] = true
		}
		for feat, ks := range tk {
			slices.Sort(ks)
			tk[feat] = slices.Compact(ks)
		}
		treeKeys[t] = tk
	}
	tb := &tableTrees{base: make([]int32, trees)}
	for feat := range used {
		tb.feats = append(tb.feats, feat)
	}
	slices.Sort(tb.feats)
	var slot [maxFastFeatures]int // feature → its entry in feats
	for j, feat := range tb.feats {
		slot[feat] = j
	}

	// Cells: each tree's bins in mixed radix, the first feature fastest.
	stride := make([][]int32, trees) // per tree, per entry of feats
	total := 0
	for t := range trees {
		stride[t] = make([]int32, len(tb.feats))
		cells := 1
		for j, feat := range tb.feats {
			stride[t][j] = int32(cells)
			cells *= len(treeKeys[t][feat]) + 1
			if cells > maxTableCells {
				return nil
			}
		}
		tb.base[t] = int32(total)
		if total += cells; total > maxTableCells {
			return nil
		}
	}
	rowLen := 0
	for _, feat := range tb.feats {
		var all []int32
		for t := range trees {
			all = append(all, treeKeys[t][feat]...)
		}
		slices.Sort(all)
		all = slices.Compact(all)
		if rowLen += (len(all) + 1) * trees; rowLen > maxTableRows {
			return nil
		}
		tb.keys = append(tb.keys, all)
	}

	tb.zero = make([]int32, trees)
	tb.cells = make([]uint8, total)
	tb.leafBase = make([]int32, trees)
	for t := range trees {
		b := boxFiller{f: f, tb: tb, base: tb.base[t], stride: stride[t], slot: slot,
			lo: make([]int32, len(tb.feats)), hi: make([]int32, len(tb.feats))}
		for j, feat := range tb.feats {
			b.keys = append(b.keys, treeKeys[t][feat])
			b.hi[j] = int32(len(treeKeys[t][feat]))
		}
		tb.leafBase[t] = int32(len(tb.leaves))
		if !b.node(f.roots[t]) {
			return nil
		}
	}

	for j, feat := range tb.feats {
		all := tb.keys[j]
		row := make([]int32, (len(all)+1)*trees)
		for t := range trees {
			ks, bin := treeKeys[t][feat], 0
			for g := 1; g <= len(all); g++ {
				// Bin g: the inputs above exactly all[:g]; the tree's bin
				// counts its own keys among them.
				if bin < len(ks) && ks[bin] == all[g-1] {
					bin++
				}
				row[g*trees+t] = int32(bin) * stride[t][j]
			}
		}
		tb.rows = append(tb.rows, row)
	}
	return tb
}

// boxFiller writes one tree's cells. An input in the tree's bin b of a
// feature lies above exactly the first b of the tree's keys for it, so a
// node testing key <= keys[k] answers yes iff b <= k: walking down, each
// node splits the box of bins that reaches it, and each leaf numbers the
// cells of its box.
type boxFiller struct {
	f      *fastTrees
	tb     *tableTrees
	keys   [][]int32 // the tree's keys per entry of tb.feats
	stride []int32
	slot   [maxFastFeatures]int
	base   int32
	lo, hi []int32 // the box: bins per entry of tb.feats, inclusive
	leaves int
}

// node fills the box below node i; false when the tree has more leaves
// than a cell's byte numbers.
func (b *boxFiller) node(i int32) bool {
	n := b.f.nodes[i]
	if n.isLeaf(i) {
		if b.leaves == 1<<8 {
			return false
		}
		b.tb.leaves = append(b.tb.leaves, b.f.leafVal[i])
		b.fill(0, b.base, uint8(b.leaves))
		b.leaves++
		return true
	}
	c := n.cf >> featBits // the yes child; the no child is c+1
	j := b.slot[n.cf&(maxFastFeatures-1)]
	k32, _ := slices.BinarySearch(b.keys[j], n.key)
	k, lo, hi := int32(k32), b.lo[j], b.hi[j]
	if lo <= k {
		b.hi[j] = min(hi, k)
		ok := b.node(c)
		b.hi[j] = hi
		if !ok {
			return false
		}
	}
	if hi > k {
		b.lo[j] = max(lo, k+1)
		ok := b.node(c + 1)
		b.lo[j] = lo
		return ok
	}
	return true
}

// fill numbers leaf on every cell of the box, from entry j of tb.feats on.
func (b *boxFiller) fill(j int, at int32, leaf uint8) {
	if j == len(b.lo) {
		b.tb.cells[at] = leaf
		return
	}
	for bin := b.lo[j]; bin <= b.hi[j]; bin++ {
		b.fill(j+1, at+bin*b.stride[j], leaf)
	}
}

// sum is the trees' float32 sum of leaf values for the input keys xk.
func (tb *tableTrees) sum(xk *[maxFastFeatures]int32) float32 {
	trees := len(tb.base)
	var at [maxFastFeatures]int
	for j, feat := range tb.feats {
		at[j] = countBelow(tb.keys[j], xk[feat]) * trees
	}
	var s float32
	if len(tb.rows) > fusedRows {
		var idx [chunkTrees]int32
		for first := 0; first < trees; first += chunkTrees {
			ix := idx[:min(chunkTrees, trees-first)]
			copy(ix, tb.base[first:])
			for j, row := range tb.rows {
				for t, o := range row[at[j]+first:][:len(ix)] {
					ix[t] += o
				}
			}
			leafBase := tb.leafBase[first:][:len(ix)]
			for t, c := range ix {
				s = float32(s + tb.leaves[leafBase[t]+int32(tb.cells[c])])
			}
		}
		return s
	}
	// Up to fusedRows features (the common case), each tree's cell is
	// summed up in registers: no index array to write and read back.
	var r [fusedRows][]int32
	for j := range r {
		if j < len(tb.rows) {
			r[j] = tb.rows[j][at[j]:][:trees]
		} else {
			r[j] = tb.zero
		}
	}
	base, leafBase := tb.base[:trees], tb.leafBase[:trees]
	r0, r1, r2, r3 := r[0][:trees], r[1][:trees], r[2][:trees], r[3][:trees]
	for t := range base {
		c := base[t] + r0[t] + r1[t] + r2[t] + r3[t]
		s = float32(s + tb.leaves[leafBase[t]+int32(tb.cells[c])])
	}
	return s
}

// countBelow is the number of the ascending keys below x, by a binary search
// without branches on the data (the sign of a difference picks the half):
// x comes from market data, so such a branch would be mispredicted half the
// time.
func countBelow(keys []int32, x int32) int {
	if len(keys) == 0 {
		return 0
	}
	base, n := 0, len(keys)
	for n > 1 {
		half := n / 2
		// -1 (all ones) when keys[base+half-1] < x, else 0.
		below := int((int64(keys[base+half-1]) - int64(x)) >> 63)
		base += half & below
		n -= half
	}
	return base - int((int64(keys[base])-int64(x))>>63)
}
