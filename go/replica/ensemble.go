package replica

import (
	"fmt"
	"math"

	"github.com/sigmagate/sigmagate/go/internal/onnxpb"
)

// Node comparison modes (ai.onnx.ml TreeEnsemble* nodes_modes).
const (
	modeLeaf uint8 = iota
	modeLEQ
	modeLT
	modeGTE
	modeGT
	modeEQ
	modeNEQ
)

var nodeModes = map[string]uint8{
	"LEAF": modeLeaf, "BRANCH_LEQ": modeLEQ, "BRANCH_LT": modeLT, "BRANCH_GTE": modeGTE,
	"BRANCH_GT": modeGT, "BRANCH_EQ": modeEQ, "BRANCH_NEQ": modeNEQ,
}

// node is one tree node in a flat array, 16 bytes. A branch compares
// x[feat] with thr and continues at yes or no; a leaf (feat < 0) adds the
// weights [yes, no) of the ensemble's weight arrays.
type node struct {
	feat    int32
	thr     float32
	yes, no int32
}

// ensemble is a TreeEnsembleRegressor (one target) or a binary
// TreeEnsembleClassifier compiled to flat arrays. It reproduces onnxruntime's
// CPU kernel (core/providers/cpu/ml/tree_ensemble_aggregator.h): float32
// thresholds and comparisons, leaf weights summed in float32 in tree order,
// the base value added last.
type ensemble struct {
	nodes   []node
	modes   []uint8 // per node; nil when every branch is uniformMode
	uniform uint8
	roots   []int32
	wClass  []uint8 // per leaf weight: the class (0 for a regressor)
	wValue  []float32
	base    float32
	fast    *fastTrees // nil when the fast layout does not apply
	// classifier: the binary classifier's output rule (see eval).
	classifier  bool
	allPositive bool // every class weight >= 0: onnxruntime outputs [1-s, s]
	logistic    bool // post_transform LOGISTIC (classifier with mixed-sign weights)
}

// compileEnsemble reads a TreeEnsembleRegressor or TreeEnsembleClassifier
// node's attributes. Anything whose onnxruntime semantics it does not
// reproduce exactly is an error saying what.
func compileEnsemble(n *onnxpb.NodeProto) (*ensemble, error) {
	a := attrMap(n)
	for name := range a {
		if len(name) > 10 && name[len(name)-10:] == "_as_tensor" {
			return nil, fmt.Errorf("attribute %s (double-precision tree values) is not replicated", name)
		}
	}
	prefix := "target_"
	e := &ensemble{}
	switch n.GetOpType() {
	case "TreeEnsembleRegressor":
		if t := a.int("n_targets", 1); t != 1 {
			return nil, fmt.Errorf("n_targets is %d; only one target is replicated", t)
		}
		if f := a.str("aggregate_function", "SUM"); f != "SUM" {
			return nil, fmt.Errorf("aggregate_function %s is not replicated (only SUM)", f)
		}
		if p := a.str("post_transform", "NONE"); p != "NONE" {
			return nil, fmt.Errorf("regressor post_transform %s is not replicated (only NONE)", p)
		}
	case "TreeEnsembleClassifier":
		prefix = "class_"
		e.classifier = true
		labels := len(a.ints("classlabels_int64s")) + len(a.strs("classlabels_strings"))
		if labels != 2 {
			return nil, fmt.Errorf("classifier has %d class labels; only binary classifiers are replicated", labels)
		}
		switch p := a.str("post_transform", "NONE"); p {
		case "NONE":
		case "LOGISTIC":
			e.logistic = true
		default:
			return nil, fmt.Errorf("classifier post_transform %s is not replicated", p)
		}
	default:
		return nil, fmt.Errorf("op %s is not a tree ensemble", n.GetOpType())
	}
	base := a.floats("base_values")
	switch len(base) {
	case 0:
	case 1:
		e.base = base[0]
	default:
		return nil, fmt.Errorf("%d base_values; only one is replicated", len(base))
	}
	if err := e.buildNodes(a); err != nil {
		return nil, err
	}
	if err := e.buildWeights(a, prefix); err != nil {
		return nil, err
	}
	if e.classifier {
		e.allPositive = true
		for _, w := range e.wValue {
			if w < 0 {
				e.allPositive = false
			}
		}
		for _, c := range e.wClass {
			if c != 0 {
				return nil, fmt.Errorf("class weights for class id %d: only the single-score binary form (class id 0) is replicated", c)
			}
		}
		if !e.allPositive && !e.logistic {
			return nil, fmt.Errorf("binary classifier with mixed-sign weights and post_transform NONE is not replicated")
		}
		if e.allPositive && e.logistic {
			// onnxruntime applies the logistic to [1-s, s] then, which eval does not.
			return nil, fmt.Errorf("binary classifier with all-positive weights and post_transform LOGISTIC is not replicated")
		}
	}
	e.fast = buildFast(e)
	return e, nil
}

type treeNode struct{ tree, id int64 }

func (e *ensemble) buildNodes(a attrs) error {
	trees, ids := a.ints("nodes_treeids"), a.ints("nodes_nodeids")
	feats, vals, modes := a.ints("nodes_featureids"), a.floats("nodes_values"), a.strs("nodes_modes")
	yes, no := a.ints("nodes_truenodeids"), a.ints("nodes_falsenodeids")
	n := len(trees)
	if n == 0 || len(ids) != n || len(feats) != n || len(vals) != n || len(modes) != n || len(yes) != n || len(no) != n {
		return fmt.Errorf("nodes_* attributes are missing or of unequal lengths (%d tree ids, %d node ids, %d features, %d values, %d modes)",
			n, len(ids), len(feats), len(vals), len(modes))
	}
	if n > math.MaxInt32/2 {
		return fmt.Errorf("%d nodes is too many", n)
	}
	index := make(map[treeNode]int32, n)
	for i := range trees {
		k := treeNode{trees[i], ids[i]}
		if _, dup := index[k]; dup {
			return fmt.Errorf("tree %d node %d is listed twice", k.tree, k.id)
		}
		index[k] = int32(i)
	}
	e.nodes = make([]node, n)
	e.modes = make([]uint8, n)
	isChild := make([]bool, n)
	first := true
	uniformOK := true
	for i := range trees {
		m, ok := nodeModes[string(modes[i])]
		if !ok {
			return fmt.Errorf("node mode %q is not replicated", modes[i])
		}
		e.modes[i] = m
		if m == modeLeaf {
			e.nodes[i] = node{feat: -1}
			continue
		}
		if feats[i] < 0 || feats[i] > math.MaxInt32 {
			return fmt.Errorf("tree %d node %d: feature id %d", trees[i], ids[i], feats[i])
		}
		y, ok1 := index[treeNode{trees[i], yes[i]}]
		f, ok2 := index[treeNode{trees[i], no[i]}]
		if !ok1 || !ok2 {
			return fmt.Errorf("tree %d node %d: a child id does not exist", trees[i], ids[i])
		}
		isChild[y], isChild[f] = true, true
		e.nodes[i] = node{feat: int32(feats[i]), thr: vals[i], yes: y, no: f}
		if first {
			e.uniform, first = m, false
		} else if m != e.uniform {
			uniformOK = false
		}
	}
	if uniformOK && (e.uniform == modeLEQ || e.uniform == modeLT) {
		e.modes = nil // the hot loop needs no per-node mode
	}
	for i := range trees {
		if !isChild[i] {
			e.roots = append(e.roots, int32(i))
		}
	}
	if len(e.roots) == 0 {
		return fmt.Errorf("the ensemble has no root node")
	}
	return e.checkAcyclic()
}

// checkAcyclic rejects cycles, so that eval always terminates.
func (e *ensemble) checkAcyclic() error {
	state := make([]uint8, len(e.nodes)) // 0 unseen, 1 on the path, 2 done
	var stack []int32
	for _, r := range e.roots {
		stack = append(stack[:0], r)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			nd := e.nodes[i]
			if state[i] == 0 && nd.feat >= 0 {
				state[i] = 1
				for _, c := range [2]int32{nd.yes, nd.no} {
					if state[c] == 1 {
						return fmt.Errorf("the trees contain a cycle")
					}
					if state[c] == 0 {
						stack = append(stack, c)
					}
				}
				continue
			}
			state[i] = 2
			stack = stack[:len(stack)-1]
		}
	}
	return nil
}

func (e *ensemble) buildWeights(a attrs, prefix string) error {
	trees, ids := a.ints(prefix+"treeids"), a.ints(prefix+"nodeids")
	classes, ws := a.ints(prefix+"ids"), a.floats(prefix+"weights")
	if len(ids) != len(trees) || len(classes) != len(trees) || len(ws) != len(trees) {
		return fmt.Errorf("%s* attributes have unequal lengths", prefix)
	}
	index := make(map[treeNode]int32, len(e.nodes))
	tIDs, nIDs := a.ints("nodes_treeids"), a.ints("nodes_nodeids")
	for i := range tIDs {
		index[treeNode{tIDs[i], nIDs[i]}] = int32(i)
	}
	perLeaf := make([][]int, len(e.nodes))
	for j := range trees {
		i, ok := index[treeNode{trees[j], ids[j]}]
		if !ok || e.nodes[i].feat >= 0 {
			return fmt.Errorf("weight %d names tree %d node %d, which is not a leaf", j, trees[j], ids[j])
		}
		if classes[j] < 0 || classes[j] > 1 {
			return fmt.Errorf("weight %d is for class/target %d", j, classes[j])
		}
		perLeaf[i] = append(perLeaf[i], j)
	}
	for i := range e.nodes {
		if e.nodes[i].feat >= 0 {
			continue
		}
		e.nodes[i].yes = int32(len(e.wValue))
		for _, j := range perLeaf[i] {
			e.wClass = append(e.wClass, uint8(classes[j]))
			e.wValue = append(e.wValue, ws[j])
		}
		e.nodes[i].no = int32(len(e.wValue))
	}
	return nil
}
