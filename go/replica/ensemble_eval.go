// Evaluating a compiled tree ensemble on one record, as onnxruntime does.

package replica

import (
	"math"
)

// leaf walks one tree from root r to its leaf.
func (e *ensemble) leaf(r int32, x []float32) node {
	nodes := e.nodes
	nd := nodes[r]
	switch {
	case e.modes == nil && e.uniform == modeLT:
		for nd.feat >= 0 {
			if x[nd.feat] < nd.thr {
				nd = nodes[nd.yes]
			} else {
				nd = nodes[nd.no]
			}
		}
	case e.modes == nil:
		for nd.feat >= 0 {
			if x[nd.feat] <= nd.thr {
				nd = nodes[nd.yes]
			} else {
				nd = nodes[nd.no]
			}
		}
	default:
		i := r
		for nd.feat >= 0 {
			if compare(e.modes[i], x[nd.feat], nd.thr) {
				i = nd.yes
			} else {
				i = nd.no
			}
			nd = nodes[i]
		}
	}
	return nd
}

func compare(mode uint8, x, t float32) bool {
	switch mode {
	case modeLEQ:
		return x <= t
	case modeLT:
		return x < t
	case modeGTE:
		return x >= t
	case modeGT:
		return x > t
	case modeEQ:
		return x == t
	default: // modeNEQ
		return x != t
	}
}

// walkSum is the trees' float32 sum of leaf weights, walking each tree
// node by node: the reference the fast layouts reproduce.
func (e *ensemble) walkSum(x []float32) float32 {
	var s float32
	for _, r := range e.roots {
		nd := e.leaf(r, x)
		for j := nd.yes; j < nd.no; j++ {
			s = float32(s + e.wValue[j]) // explicit rounding: no fused multiply-add
		}
	}
	return s
}

// eval writes the node's output row into out: one value for a regressor
// (the raw score), two for the binary classifier ([p0, p1] as onnxruntime
// writes them).
func (e *ensemble) eval(x []float32, out []float32) {
	var s float32
	if e.fast != nil && finite(x) {
		s = e.fast.sum(x)
	} else {
		s = e.walkSum(x)
	}
	s = float32(s + e.base)
	if !e.classifier {
		out[0] = s
		return
	}
	switch {
	case e.allPositive: // write_scores cases 0 and 1, with post_transform NONE (compile refuses LOGISTIC)
		out[0], out[1] = float32(1-s), s
	default: // LOGISTIC, cases 2 and 3
		out[0], out[1] = logisticORT(-s), logisticORT(s)
	}
}

// logisticORT is onnxruntime's ComputeLogistic (ml_common.h) in float32.
func logisticORT(x float32) float32 {
	v := float32(1 / float32(1+exp32(-abs32(x))))
	if x < 0 {
		return float32(1 - v)
	}
	return v
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func exp32(x float32) float32 { return float32(math.Exp(float64(x))) }

func finite(x []float32) bool {
	for _, v := range x {
		if v-v != 0 { // NaN or ±Inf
			return false
		}
	}
	return true
}
