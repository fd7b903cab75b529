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
marked `sigmoid_folds` in train/families.py (GradientBoosting,
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

Third rewrite (`fold_scaler`): the StandardScaler's `Scaler` node in front of
a tree ensemble is folded into the split thresholds (exact; see there).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

from train.families import sigmoid_folding_classes

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


def _attr(node: onnx.NodeProto, name: str) -> onnx.AttributeProto | None:
    return next((x for x in node.attribute if x.name == name), None)


def fold_into_graph(model: onnx.ModelProto, a: float, b: float) -> bool:
    """Rewrite the graph's binary LOGISTIC TreeEnsembleClassifier in place so it
    outputs logistic(-A·f - B). Returns False (graph untouched) if the graph is
    not of that shape."""
    nodes = [n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier"]
    if len(nodes) != 1 or nodes[0].domain != ML_DOMAIN:
        return False
    node = nodes[0]
    post = _attr(node, "post_transform")
    labels = _attr(node, "classlabels_int64s") or _attr(node, "classlabels_strings")
    ids = _attr(node, "class_ids")
    weights = _attr(node, "class_weights")
    base = _attr(node, "base_values")
    if post is None or post.s != b"LOGISTIC" or labels is None or ids is None:
        return False
    n_labels = len(labels.ints) or len(labels.strings)
    # Binary with one score column: every leaf adds to class id 0, the score of class 1.
    if (
        n_labels != 2
        or set(ids.ints) != {0}
        or weights is None
        or _attr(node, "base_values_as_tensor")
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
    axis = _attr(gather, "axis")
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
    post = _attr(tec, "post_transform")
    labels = _attr(tec, "classlabels_int64s") or _attr(tec, "classlabels_strings")
    ids = _attr(tec, "class_ids")
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


TREE_ENSEMBLES = ("TreeEnsembleRegressor", "TreeEnsembleClassifier")
_SIGN = np.int64(1 << 31)
_NEG_INF_KEY = -int(np.array(np.inf, np.float32).view(np.uint32)) - 1
_POS_INF_KEY = int(np.array(np.inf, np.float32).view(np.uint32))


def _f32_of_key(key: np.ndarray) -> np.ndarray:
    """float32 from its position on the ordered non-NaN float32 line
    (… -inf … -0.0 = -1, +0.0 = 0 … +inf), the inverse of sign-magnitude bits."""
    bits = np.where(key >= 0, key, -key - 1 + _SIGN).astype(np.uint32)
    return bits.view(np.float32)


def scaler_output(x: np.ndarray, offset: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """onnxruntime's float32 Scaler kernel: (x - offset) * scale, each op rounded to float32."""
    x, offset, scale = (np.asarray(a, dtype=np.float32) for a in (x, offset, scale))
    with np.errstate(over="ignore", invalid="ignore"):
        return (x - offset) * scale


def fold_thresholds(t: np.ndarray, offset: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per element, the float32 t' with `x <= t'` ⇔ `scaler_output(x) <= t` for
    every float32 x (scale finite > 0, offset finite, t not NaN).

    Why it exists: y(x) = fl(fl(x - o)·s) is monotone non-decreasing over the
    non-NaN float32 line including ±inf (IEEE rounding is monotone, and so are
    subtracting a constant and multiplying by a positive one), and y(-inf) =
    -inf <= t. So {x : y(x) <= t} is a non-empty down-set of a finite totally
    ordered set, i.e. {x : x <= t'} for its largest element t' (+inf when every
    x qualifies). Binary search over the ordered bit patterns finds it with y
    evaluated exactly as the kernel does. -0.0 and +0.0 give equal y, so the
    set never separates them, and a NaN x gives a NaN y: both comparisons are
    false and a missing-value flag sees NaN either way. Assumes subnormals are
    not flushed to zero (onnxruntime's default).
    """
    t = np.asarray(t, dtype=np.float32)
    offset = np.broadcast_to(np.asarray(offset, dtype=np.float32), t.shape)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float32), t.shape)
    lo = np.full(t.shape, _NEG_INF_KEY, dtype=np.int64)  # always qualifies
    hi = np.full(t.shape, _POS_INF_KEY + 1, dtype=np.int64)  # past +inf: never tested
    while np.any(hi - lo > 1):
        mid = lo + (hi - lo) // 2  # == lo where converged: lo qualifies, nothing moves
        ok = scaler_output(_f32_of_key(mid), offset, scale) <= t
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return _f32_of_key(lo)


def fold_scaler(model: onnx.ModelProto) -> int | None:
    """Fold `float32 graph input [N, F] → Scaler → tree ensemble` into the
    ensemble's split thresholds in place (fold_thresholds: the same branch for
    every input, so bit-identical output) and feed the ensemble the graph input.
    Returns how many split thresholds were rewritten, or None (graph untouched)
    for any other shape, a scale that is not finite and > 0, or a split mode
    other than BRANCH_LEQ."""
    g = model.graph
    scalers = [n for n in g.node if n.op_type == "Scaler" and n.domain == ML_DOMAIN]
    if len(scalers) != 1:
        return None
    sc = scalers[0]
    x_name, y_name = sc.input[0], sc.output[0]
    inp = next((i for i in g.input if i.name == x_name), None)
    if inp is None or inp.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        return None  # another input type goes through another kernel
    dims = inp.type.tensor_type.shape.dim
    if len(dims) != 2 or not dims[1].HasField("dim_value"):
        return None
    width = dims[1].dim_value
    users = [n for n in g.node if y_name in n.input]
    if len(users) != 1 or y_name in {o.name for o in g.output}:
        return None
    tree = users[0]
    if (
        tree.op_type not in TREE_ENSEMBLES
        or tree.domain != ML_DOMAIN
        or list(tree.input) != [y_name]
        # *_as_tensor (double) attributes make onnxruntime compare in double.
        or any(a.name.endswith("_as_tensor") for a in tree.attribute)
    ):
        return None
    offset_attr, scale_attr = _attr(sc, "offset"), _attr(sc, "scale")
    modes, features, values = (_attr(tree, k) for k in ("nodes_modes", "nodes_featureids",
                                                         "nodes_values"))  # fmt: skip
    if offset_attr is None or scale_attr is None:
        return None
    if modes is None or features is None or values is None:
        return None
    offset = np.asarray(offset_attr.floats, dtype=np.float32)
    scale = np.asarray(scale_attr.floats, dtype=np.float32)
    if len(offset) != len(scale) or len(scale) not in (1, width):
        return None  # onnxruntime refuses other lengths at run time: keep that
    if not (np.all(np.isfinite(offset)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
        return None  # a zero or negative scale does not keep the order of x
    if len({len(modes.strings), len(features.ints), len(values.floats)}) != 1:
        return None
    if not set(modes.strings) <= {b"BRANCH_LEQ", b"LEAF"}:
        return None  # fold_thresholds answers x <= t' only
    branch = np.asarray(modes.strings) == b"BRANCH_LEQ"
    fid = np.asarray(features.ints, dtype=np.int64)[branch]
    t = np.asarray(values.floats, dtype=np.float32)
    if np.any(fid < 0) or np.any(fid >= width) or np.any(np.isnan(t[branch])):
        return None
    offset, scale = np.broadcast_to(offset, (width,)), np.broadcast_to(scale, (width,))
    t[branch] = fold_thresholds(t[branch], offset[fid], scale[fid])
    del values.floats[:]
    values.floats.extend(t.tolist())
    tree.input[0] = x_name
    g.node.remove(sc)
    for v in [v for v in g.value_info if v.name == y_name]:
        g.value_info.remove(v)
    return int(branch.sum())
