"""The Scaler fold in real graphs: onnxruntime branches on folded thresholds exactly
as on the Scaler's output (hand-built stumps), and a trained model's folded graph is
bit-identical to its Scaler graph."""
# ruff: noqa: N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from tests.train.float32_line import F32, INF, SPECIAL, random_float32, ulps
from train.model.calibrate import calibrate
from train.model.models import fit_pipeline
from train.onnx import export
from train.onnx.fold_scaler import fold_scaler, fold_thresholds, scaler_output


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _stump_graph(t: np.ndarray, o: np.ndarray, s: np.ndarray, mode: str = "BRANCH_LEQ"):
    """Scaler → TreeEnsembleRegressor with one stump per feature; stump j writes 1 to
    output column j when its split goes left, 0 otherwise: the output is the branches."""
    n = len(t)
    per_node = [(j, k) for j in range(n) for k in range(3)]  # k: 0 split, 1 left, 2 right
    tree = helper.make_node(
        "TreeEnsembleRegressor", ["scaled"], ["score"], domain="ai.onnx.ml", n_targets=n,
        nodes_treeids=[j for j, _ in per_node], nodes_nodeids=[k for _, k in per_node],
        nodes_featureids=[j if k == 0 else 0 for j, k in per_node],
        nodes_modes=[mode if k == 0 else "LEAF" for _, k in per_node],
        nodes_values=[float(t[j]) if k == 0 else 0.0 for j, k in per_node],
        nodes_truenodeids=[1 if k == 0 else 0 for _, k in per_node],
        nodes_falsenodeids=[2 if k == 0 else 0 for _, k in per_node],
        # NaN goes left on odd stumps, right on even ones.
        nodes_missing_value_tracks_true=[j % 2 if k == 0 else 0 for j, k in per_node],
        target_treeids=[j for j in range(n) for _ in (1, 2)], target_nodeids=[1, 2] * n,
        target_ids=[j for j in range(n) for _ in (1, 2)], target_weights=[1.0, 0.0] * n,
        post_transform="NONE",
    )  # fmt: skip
    graph = helper.make_graph(
        [helper.make_node("Scaler", ["features"], ["scaled"], domain="ai.onnx.ml",
                          offset=[float(v) for v in o], scale=[float(v) for v in s]), tree],
        "stumps",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, n])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, n])],
    )  # fmt: skip
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


EXTREME_STUMPS = [  # (threshold, offset, scale)
    (INF, 0, 1),  # every x goes left
    (-INF, 0, 1),  # only -inf goes left
    (0.0, 0, 1),
    (-0.0, -2.0, 1),
    (1e38, 0, 2.0**-10),  # every finite x goes left, +inf does not
    (-1e38, -3e38, 1),  # no finite x goes left
    (5, -3e38, 2),
    (-5, 3e38, 2),
    (1e30, 0.0, 1e10),  # overflows to inf inside the scaler
    (3e-39, 0.0, 2.0**50),  # subnormal threshold
    (0.1, 0.0, 1e-30),
    (0.3, 60000, 0.0331),  # a price
    (2.5, 1e-3, 2.0**-20),
    (-2.0, 7.0, 9e3),
    (100.0, 1e6, 0.125),
]


def _kernel_order_stumps(rng: np.random.Generator, n: int) -> list[tuple[float, float, float]]:
    """Random stumps whose folded threshold would be different had the Scaler
    computed x - offset in float64 (one rounding instead of two): onnxruntime
    must agree with the float32 model on exactly these."""
    o = (rng.normal(size=20 * n) * 10.0 ** rng.integers(-2, 5, 20 * n)).astype(F32)
    s = rng.uniform(0.01, 100, 20 * n).astype(F32)
    t = rng.normal(0, 3, 20 * n).astype(F32)
    t32 = fold_thresholds(t, o, s)
    # The float64-subtraction alternative, by brute force around t32.
    cand = np.stack([ulps(t32, k) for k in range(-3, 4)], axis=1)
    y64 = ((cand.astype(np.float64) - o[:, None]) * s[:, None]).astype(F32)
    differs = np.any((y64 <= t[:, None]) != (cand <= t32[:, None]), axis=1)
    pick = np.flatnonzero(differs)[:n]
    assert len(pick) == n
    return list(zip(t[pick], o[pick], s[pick], strict=True))


def test_onnxruntime_branches_identically_on_hand_built_stumps():
    rng = np.random.default_rng(2)
    stumps = EXTREME_STUMPS + _kernel_order_stumps(rng, 100)
    t, o, s = (np.array(c, dtype=F32) for c in zip(*stumps, strict=True))
    before = _stump_graph(t, o, s)
    after = onnx.ModelProto()
    after.CopyFrom(before)
    assert fold_scaler(after) == len(t)
    assert [n.op_type for n in after.graph.node] == ["TreeEnsembleRegressor"]
    onnx.checker.check_model(after)
    t_new = fold_thresholds(t, o, s)
    cols = []
    for tn in t_new:
        near = np.concatenate([ulps(np.array([tn]), k) for k in range(-50, 51)])
        cols.append(np.concatenate([near, SPECIAL, [np.nan], random_float32(rng, (200,))]))
    X = np.stack([rng.choice(c, 20_000) for c in cols], axis=1).astype(F32)
    X[:101] = np.stack([c[:101] for c in cols], axis=1)  # every neighbour of every t'
    p0 = _session(before).run(None, {"features": X})[0]
    p1 = _session(after).run(None, {"features": X})[0]
    assert _bits_equal(p0, p1)
    # And both are what the float32 arithmetic says, branch by branch.
    with np.errstate(invalid="ignore"):
        y = scaler_output(X, o, s)
    left = (y <= t) | (np.isnan(y) & (np.arange(len(t)) % 2 == 1))
    np.testing.assert_array_equal(p1, left.astype(F32))


def test_graphs_the_fold_must_leave_alone():
    t = np.array([0.5, -0.5], dtype=F32)
    o = np.zeros(2, dtype=F32)
    for mode, scale in [("BRANCH_LT", [1.0, 1.0]), ("BRANCH_LEQ", [1.0, -1.0]),
                        ("BRANCH_LEQ", [1.0, 0.0]), ("BRANCH_GTE", [1.0, 1.0])]:  # fmt: skip
        model = _stump_graph(t, o, np.array(scale, dtype=F32), mode)
        before = model.SerializeToString()
        assert fold_scaler(model) is None, (mode, scale)
        assert model.SerializeToString() == before
    # The Scaler feeding something else (an MLP's MatMul) stays.
    X = np.random.default_rng(0).normal(size=(600, 3)).astype(F32)
    y = (X[:, 0] > 0).astype(int)
    mlp = export.to_onnx_fp32(fit_pipeline("mlp", {"hidden_layer_sizes": (4,)}, 0, X, y), 3, "mlp")
    assert "Scaler" in [n.op_type for n in mlp.graph.node]
    assert export.SCALER_PROP not in {p.key for p in mlp.metadata_props}


def _data(n: int = 8000) -> tuple[np.ndarray, np.ndarray]:
    """Wide magnitudes (a price near 60,000, a small ratio): where scaling rounds most."""
    rng = np.random.default_rng(5)
    X = np.column_stack([60000 + rng.normal(0, 30, n), rng.uniform(0.001, 0.2, n),
                         rng.normal(size=n)]).astype(F32)  # fmt: skip
    y = X[:, 0] - 60000 + 100 * X[:, 1] + 10 * X[:, 2] + 10 * rng.normal(size=n) > 0
    return X, y.astype(int)


def _probe_rows(model: onnx.ModelProto, rng: np.random.Generator, n: int) -> np.ndarray:
    """Rows whose every feature sits at, or a few ulps from, one of the graph's
    raw-space thresholds, plus special values; NaN for the missing-value branches."""
    (tree,) = [n for n in model.graph.node if n.op_type.startswith("TreeEnsemble")]
    a = {x.name: helper.get_attribute_value(x) for x in tree.attribute}
    branch = np.array(a["nodes_modes"]) == b"BRANCH_LEQ"
    fid = np.array(a["nodes_featureids"])[branch]
    thr = np.array(a["nodes_values"], dtype=F32)[branch]
    width = model.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    X = np.empty((n, width), dtype=F32)
    for j in range(width):
        tj = thr[fid == j]
        pool = np.concatenate([ulps(tj, k) for k in range(-3, 4)] + [SPECIAL, [np.nan]])
        X[:, j] = rng.choice(pool, n)
    return X


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("gbm", {"n_estimators": 80, "max_depth": 4, "subsample": 0.8}),
        ("hgb", {"max_iter": 80, "max_leaf_nodes": 31}),
        # A classifier ensemble (its calibrator stays: it sees probabilities).
        ("rf", {"n_estimators": 10, "max_depth": 8}),
    ],
)
def test_trained_model_folded_graph_is_bit_identical_to_the_scaler_graph(
    family, params, monkeypatch
):
    X, y = _data()
    pipe = calibrate(fit_pipeline(family, params, 0, X[:5000], y[:5000]), X[5000:6500],
                     y[5000:6500], "sigmoid")  # fmt: skip
    folded = export.to_onnx_fp32(pipe, 3, family)
    with monkeypatch.context() as m:
        m.setattr(export, "fold_scaler", lambda model: None)
        unfolded = export.to_onnx_fp32(pipe, 3, family)
    ops = [n.op_type for n in folded.graph.node]
    assert [n.op_type for n in unfolded.graph.node] == ["Scaler", *ops]
    assert ops[0].startswith("TreeEnsemble") and "Scaler" not in ops
    if family != "rf":
        assert ops == ["TreeEnsembleRegressor", "Sigmoid"]
    assert "split thresholds" in export.graph_note(folded)
    rng = np.random.default_rng(3)
    # Raw rows at and next to every folded threshold (where a split flips), ordinary
    # rows, and random bit patterns (subnormals, huge, ±inf).
    probes = np.concatenate([_probe_rows(folded, rng, 100_000), X,
                             rng.normal(60000, 100, (50_000, 3)).astype(F32),
                             random_float32(rng, (50_000, 3))])  # fmt: skip
    s0, s1 = _session(unfolded), _session(folded)
    p0, p1 = s0.run(None, {"features": probes})[0], s1.run(None, {"features": probes})[0]
    assert _bits_equal(p0, p1)
    # One row at a time too (onnxruntime's single-row path), on the probe rows.
    for row in probes[:2000]:
        r = row[None, :]
        assert _bits_equal(s0.run(None, {"features": r})[0], s1.run(None, {"features": r})[0])
    # And still scikit-learn's probability on ordinary rows.
    ref = pipe.predict_proba(X[6500:])[:, 1]
    assert np.max(np.abs(s1.run(None, {"features": X[6500:]})[0].reshape(-1) - ref)) < 2e-6
