"""The StandardScaler's `Scaler` node in front of a binary tree ensemble,
folded into the ensemble's split thresholds: one node less per call, and the
same output bit for bit (the exactness argument is in fold_thresholds).
"""

from __future__ import annotations

import numpy as np
import onnx

from train.onnx.fold import ML_DOMAIN, node_attr

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
    offset_attr, scale_attr = node_attr(sc, "offset"), node_attr(sc, "scale")
    modes, features, values = (node_attr(tree, k) for k in ("nodes_modes", "nodes_featureids",
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
