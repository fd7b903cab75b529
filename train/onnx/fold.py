"""Cheaper ONNX graphs for binary boosted tree ensembles, same output.

First rewrite (`sigmoid_to_fold` + `fold_into_graph`): fold a sigmoid
calibration into the ensemble's own logistic output.

scikit-learn's sigmoid calibration maps the classifier's score s to
p = 1 / (1 + exp(A·s + B)). For a binary boosted ensemble whose ONNX graph
computes the raw score f = base + Σ leaf weights and then applies LOGISTIC,
and where scikit-learn feeds the calibrator that same f (`decision_function`),
p = logistic(-A·f - B) = logistic(-(A·base + B) + Σ -A·leaf): scaling every
leaf weight by -A and replacing the base value gives the calibrated
probability from the ensemble node alone, without the small nodes skl2onnx
emits for the calibrator (docs/BENCHMARKS.md has what that saves per call).

It is exact only where the calibrator's input is the raw score: the families
marked `sigmoid_folds` in train/model/families.py (GradientBoosting,
HistGradientBoosting, LightGBM: they have `decision_function`).
XGBClassifier, RandomForest and MLP have only `predict_proba`, so their
calibrator sees logistic(f) or a vote share, and A·p + B is not linear in f;
those keep the converter's calibration nodes.

Second rewrite (`as_logistic_regressor`): a binary LOGISTIC
TreeEnsembleClassifier whose class-1 column is all the graph returns becomes
TreeEnsembleRegressor (same trees, raw score) + Sigmoid, whose [N, 1] output
is the graph's (no Reshape to [N]: the sidecar takes either shape, and every
node has a fixed per-call cost in onnxruntime). The same probability, but
onnxruntime's classifier also computes a label and a two-column output that
nobody reads (the saving is measured in docs/BENCHMARKS.md).

A third rewrite, the StandardScaler folded into the split thresholds, is in
train/onnx/fold_scaler.py.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

from train.model.families import sigmoid_folding_classes

ML_DOMAIN = "ai.onnx.ml"


def sigmoid_to_fold(pipeline: Pipeline) -> tuple[Pipeline, float, float] | None:
    """If the pipeline ends in a foldable sigmoid calibration, return the
    uncalibrated pipeline and the calibrator's (A, B); otherwise None."""
    cal = pipeline.steps[-1][1]
    if not isinstance(cal, CalibratedClassifierCV) or cal.method != "sigmoid":
        return None
    # One calibrator (FrozenEstimator ⇒ ensemble=False) on a binary problem;
    # an ensemble of calibrators averages sigmoids, which no single one equals.
    if len(cal.calibrated_classifiers_) != 1 or len(cal.classes_) != 2:
        return None
    cc = cal.calibrated_classifiers_[0]
    clf = cc.estimator
    if not isinstance(clf, sigmoid_folding_classes()) or len(cc.calibrators) != 1:
        return None
    # Guard the premise: scikit-learn must feed the calibrator decision_function.
    if not hasattr(clf, "decision_function"):
        return None
    a, b = float(cc.calibrators[0].a_), float(cc.calibrators[0].b_)
    if not (np.isfinite(a) and np.isfinite(b)) or a == 0.0:
        return None
    return Pipeline([*pipeline.steps[:-1], (pipeline.steps[-1][0], clf)]), a, b


def node_attr(node: onnx.NodeProto, name: str) -> onnx.AttributeProto | None:
    return next((x for x in node.attribute if x.name == name), None)


def fold_into_graph(model: onnx.ModelProto, a: float, b: float) -> bool:
    """Rewrite the graph's binary LOGISTIC TreeEnsembleClassifier in place so it
    outputs logistic(-A·f - B). Returns False (graph untouched) if the graph is
    not of that shape."""
    nodes = [n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier"]
    if len(nodes) != 1 or nodes[0].domain != ML_DOMAIN:
        return False
    node = nodes[0]
    post = node_attr(node, "post_transform")
    labels = node_attr(node, "classlabels_int64s") or node_attr(node, "classlabels_strings")
    ids = node_attr(node, "class_ids")
    weights = node_attr(node, "class_weights")
    base = node_attr(node, "base_values")
    if post is None or post.s != b"LOGISTIC" or labels is None or ids is None:
        return False
    n_labels = len(labels.ints) or len(labels.strings)
    # Binary with one score column: every leaf adds to class id 0, the score of class 1.
    if (
        n_labels != 2
        or set(ids.ints) != {0}
        or weights is None
        or node_attr(node, "base_values_as_tensor")
    ):
        return False
    w = np.asarray(weights.floats, dtype=np.float64)
    # onnxruntime treats an all-non-negative binary ensemble specially; never
    # let the rewrite move a graph into or out of that case.
    new_w = -a * w
    if bool(np.all(w >= 0)) != bool(np.all(new_w >= 0)):
        return False
    f0 = float(base.floats[0]) if base is not None and len(base.floats) else 0.0
    new_base = -(a * f0 + b)
    del weights.floats[:]
    weights.floats.extend(new_w.astype(np.float32).tolist())
    if base is not None:
        node.attribute.remove(base)
    node.attribute.append(helper.make_attribute("base_values", [float(np.float32(new_base))]))
    return True


# Attributes a TreeEnsembleClassifier and a TreeEnsembleRegressor share under another name.
_TO_REGRESSOR = {
    "class_ids": "target_ids",
    "class_nodeids": "target_nodeids",
    "class_treeids": "target_treeids",
    "class_weights": "target_weights",
}


def _initializer(model: onnx.ModelProto, name: str) -> np.ndarray | None:
    init = next((t for t in model.graph.initializer if t.name == name), None)
    return None if init is None else numpy_helper.to_array(init)


def raw_score_name(output_name: str) -> str:
    """The regressor's raw-score tensor (before Sigmoid) that as_logistic_regressor creates."""
    return f"{output_name}_raw"


def as_logistic_regressor(model: onnx.ModelProto, output_name: str) -> bool:
    """Rewrite `TreeEnsembleClassifier → [Identity] → Gather(column 1) → output [N]`
    into `TreeEnsembleRegressor → Sigmoid → output [N, 1]` in place.
    Returns False (graph untouched) for any other shape."""
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            consumers[i] = consumers.get(i, 0) + 1
    gather = producer.get(output_name)
    if gather is None or gather.op_type != "Gather" or len(gather.input) != 2:
        return False
    axis = node_attr(gather, "axis")
    index = _initializer(model, gather.input[1])
    if axis is None or axis.i != 1 or index is None or index.shape != () or int(index) != 1:
        return False
    chain, src = [gather], gather.input[0]
    while src in producer and producer[src].op_type == "Identity":
        chain.append(producer[src])
        src = producer[src].input[0]
    tec = producer.get(src)
    if tec is None or tec.op_type != "TreeEnsembleClassifier" or tec.domain != ML_DOMAIN:
        return False
    # The probabilities must feed only this chain, and the label nothing at all.
    if len(tec.output) != 2 or src != tec.output[1] or consumers.get(tec.output[0], 0):
        return False
    if any(consumers.get(n.output[0], 0) != 1 for n in chain[1:]) or consumers.get(src, 0) != 1:
        return False
    post = node_attr(tec, "post_transform")
    labels = node_attr(tec, "classlabels_int64s") or node_attr(tec, "classlabels_strings")
    ids = node_attr(tec, "class_ids")
    if post is None or post.s != b"LOGISTIC" or labels is None or ids is None:
        return False
    if len(labels.ints) + len(labels.strings) != 2 or set(ids.ints) != {0}:
        return False
    if any(a.name.endswith("_as_tensor") for a in tec.attribute):
        return False
    attrs = {}
    for a in tec.attribute:
        if a.name in ("classlabels_int64s", "classlabels_strings", "post_transform"):
            continue
        attrs[_TO_REGRESSOR.get(a.name, a.name)] = helper.get_attribute_value(a)
    out = next((o for o in g.output if o.name == output_name), None)
    if out is None:
        return False
    raw = raw_score_name(output_name)
    new_nodes = [
        helper.make_node(
            "TreeEnsembleRegressor",
            [tec.input[0]],
            [raw],
            domain=ML_DOMAIN,
            n_targets=1,
            post_transform="NONE",
            **attrs,
        ),
        helper.make_node("Sigmoid", [raw], [output_name]),
    ]
    drop = {id(n) for n in [*chain, tec]}
    kept = [n for n in g.node if id(n) not in drop]
    del g.node[:]
    g.node.extend(kept + new_nodes)
    if consumers.get(gather.input[1], 0) == 1:
        g.initializer.remove(next(t for t in g.initializer if t.name == gather.input[1]))
    # The regressor's [N, n_targets=1] is the graph's output now: keep N's name, add the 1.
    shape = out.type.tensor_type.shape
    first = onnx.TensorShapeProto.Dimension()
    if shape.dim:
        first.CopyFrom(shape.dim[0])
    del shape.dim[:]
    shape.dim.extend([first, onnx.TensorShapeProto.Dimension(dim_value=1)])
    return True
