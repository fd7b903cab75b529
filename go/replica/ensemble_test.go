package replica

import (
	"strings"
	"testing"

	"github.com/sigmagate/sigmagate/go/internal/onnxpb"
)

// stump is a binary TreeEnsembleClassifier of one split on feature 0 at 0.5,
// both leaves weighted positively for class id 0, with postTransform.
func stump(postTransform string) *onnxpb.NodeProto {
	ints := func(name string, v ...int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: &name, Ints: v}
	}
	floats := func(name string, v ...float32) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: &name, Floats: v}
	}
	strs := func(name string, v ...string) *onnxpb.AttributeProto {
		a := &onnxpb.AttributeProto{Name: &name}
		for _, s := range v {
			a.Strings = append(a.Strings, []byte(s))
		}
		return a
	}
	pt, op := "post_transform", "TreeEnsembleClassifier"
	return &onnxpb.NodeProto{OpType: &op, Attribute: []*onnxpb.AttributeProto{
		ints("classlabels_int64s", 0, 1),
		{Name: &pt, S: []byte(postTransform)},
		ints("nodes_treeids", 0, 0, 0), ints("nodes_nodeids", 0, 1, 2), ints("nodes_featureids", 0, 0, 0),
		floats("nodes_values", 0.5, 0, 0), strs("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF"),
		ints("nodes_truenodeids", 1, 0, 0), ints("nodes_falsenodeids", 2, 0, 0),
		ints("class_treeids", 0, 0), ints("class_nodeids", 1, 2), ints("class_ids", 0, 0),
		floats("class_weights", 0.1, 0.3),
	}}
}

// onnxruntime applies LOGISTIC to the [1-s, s] it writes for all-positive
// weights; the replica writes [1-s, s] as they are, so it must not compile
// that combination (it would be refused as a mismatch, not as unsupported).
func TestAllPositiveWeightsWithALogisticAreNotReplicated(t *testing.T) {
	if _, err := compileEnsemble(stump("NONE")); err != nil {
		t.Fatalf("all-positive weights, NONE: %v", err)
	}
	_, err := compileEnsemble(stump("LOGISTIC"))
	if err == nil || !strings.Contains(err.Error(), "all-positive weights and post_transform LOGISTIC") {
		t.Fatalf("all-positive weights, LOGISTIC: %v, want refused", err)
	}
}
