"""Isotonic calibration in ONNX as scikit-learn computes it: linear interpolation.

skl2onnx converts scikit-learn's isotonic calibrator as a step function
(nearest threshold), while `IsotonicRegression.predict` is `np.interp` over its
breakpoints, clipped at both ends; the two differ by up to ~0.06. This module
appends the interpolation to the bare classifier's graph with standard ops:

    j = Σ_k [s ≥ x_k]  (k = 1 … K-2)       # segment index, one comparison per breakpoint
    p = clip(y_j + (s - x_j) · slope_j, y_0, y_{K-1})

The calibrator's input s is what scikit-learn feeds it: the raw ensemble score
for classifiers with `decision_function` (gbm, hgb), the class-1 probability
otherwise. K is small (tens to a few hundred breakpoints for a validation
split), so the [N, K] comparison costs far less than the trees.

Not bit-exact: onnxruntime sums the trees in float32, and an isotonic slope
can be in the hundreds, so the score's float32 rounding (~1e-6) shows up as
~1e-5 in p (gbm 6e-6, hgb 1.5e-5 on 20,000 planted rows); the parity gate still
checks every model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline


def isotonic_to_interpolate(pipeline: Pipeline) -> tuple[Pipeline, Any, bool] | None:
    """If the pipeline ends in one binary isotonic calibrator, return the bare
    pipeline, the IsotonicRegression, and whether its input is decision_function."""
    cal = pipeline.steps[-1][1]
    if not isinstance(cal, CalibratedClassifierCV) or cal.method != "isotonic":
        return None
    if len(cal.calibrated_classifiers_) != 1 or len(cal.classes_) != 2:
        return None
    cc = cal.calibrated_classifiers_[0]
    if len(cc.calibrators) != 1:
        return None
    bare = Pipeline([*pipeline.steps[:-1], (pipeline.steps[-1][0], cc.estimator)])
    return bare, cc.calibrators[0], hasattr(cc.estimator, "decision_function")


def _const(g: onnx.GraphProto, name: str, value: np.ndarray) -> str:
    g.initializer.append(numpy_helper.from_array(value, name))
    return name


def append_interpolation(
    model: onnx.ModelProto, score: str, output_name: str, iso: Any
) -> onnx.ModelProto:
    """Append p = interp(score) to the graph as `output_name` (float32 [N]);
    returns the graph cut down to what that output needs."""
    xs = np.asarray(iso.X_thresholds_, dtype=np.float64)
    ys = np.asarray(iso.y_thresholds_, dtype=np.float64)
    if len(xs) < 2 or np.any(np.diff(xs) <= 0) or np.any(np.diff(ys) < 0):
        raise ValueError(f"isotonic breakpoints not increasing ({len(xs)} points)")
    # np.interp's own arithmetic: slope from float64, then y_j + (s - x_j)·slope.
    slope = np.diff(ys) / np.diff(xs)
    g = model.graph
    inputs = {i.name for i in g.input}
    pre = "iso_"
    # The old output becomes an internal tensor (unused unless it is the score).
    for n in g.node:
        n.output[:] = [pre + "old" if o == output_name else o for o in n.output]
    if score == output_name:
        score = pre + "old"
    del g.output[:]
    flat = _const(g, pre + "col", np.array([-1, 1], dtype=np.int64))
    nodes = [
        helper.make_node("Reshape", [score, flat], [pre + "s"]),
        helper.make_node(
            "GreaterOrEqual",
            [pre + "s", _const(g, pre + "x_inner", xs[1:-1].astype(np.float32))],
            [pre + "ge"],
        ),
        helper.make_node("Cast", [pre + "ge"], [pre + "ge_i"], to=TensorProto.INT32),
        helper.make_node(
            "ReduceSum",
            [pre + "ge_i", _const(g, pre + "axis", np.array([1], dtype=np.int64))],
            [pre + "j"],
            keepdims=0,
        ),
        helper.make_node(
            "Gather", [_const(g, pre + "x", xs[:-1].astype(np.float32)), pre + "j"], [pre + "xj"]
        ),
        helper.make_node(
            "Gather", [_const(g, pre + "y", ys[:-1].astype(np.float32)), pre + "j"], [pre + "yj"]
        ),
        helper.make_node(
            "Gather", [_const(g, pre + "slope", slope.astype(np.float32)), pre + "j"], [pre + "m"]
        ),
        helper.make_node(
            "Reshape", [pre + "s", _const(g, pre + "n", np.array([-1]))], [pre + "s1"]
        ),
        helper.make_node("Sub", [pre + "s1", pre + "xj"], [pre + "dx"]),
        helper.make_node("Mul", [pre + "dx", pre + "m"], [pre + "dy"]),
        helper.make_node("Add", [pre + "yj", pre + "dy"], [pre + "p"]),
        helper.make_node(
            "Clip",
            [
                pre + "p",
                _const(g, pre + "lo", np.array(ys[0], dtype=np.float32)),
                _const(g, pre + "hi", np.array(ys[-1], dtype=np.float32)),
            ],
            [output_name],
        ),
    ]
    g.node.extend(nodes)
    g.output.append(helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [None]))
    (input_name,) = inputs
    return onnx.utils.Extractor(model).extract_model([input_name], [output_name])
