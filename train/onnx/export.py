"""ONNX export: FP32 graph with the scaler inside, FP16 and INT8 variants, checks.

Every graph has one input `features` float32 [N, F] (raw features) and one
output `probability` float32 [N] or [N, 1] (class-1 probability; [N, 1] where
the graph ends in the Sigmoid of train/onnx/fold.py's regressor rewrite). For tree
ensembles the scaler is folded into the split thresholds (train/onnx/fold.py).
"""
# ruff: noqa: N803  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from sklearn.metrics import roc_auc_score

from modelformat.manifest import INPUT_NAME, OUTPUT_NAME
from train.errors import ExportError
from train.model import families
from train.onnx.fold import (
    as_logistic_regressor,
    fold_into_graph,
    raw_score_name,
    sigmoid_to_fold,
)
from train.onnx.fold_scaler import fold_scaler
from train.onnx.fp16 import convert_to_fp16
from train.onnx.isotonic import append_interpolation, isotonic_to_interpolate

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
CALIBRATION_PROP = "sigmagate.calibration"
FOLDED = "sigmoid folded into the tree ensemble (leaf weights x -A, base -(A*base+B))"
ISOTONIC = "isotonic: linear interpolation between breakpoints, as scikit-learn"
ENSEMBLE_PROP = "sigmagate.ensemble"
REGRESSOR = "TreeEnsembleRegressor + Sigmoid (binary classifier rewritten, same probability)"
SCALER_PROP = "sigmagate.scaler"
SCALER_FOLDED = (
    "StandardScaler folded into the {n} split thresholds (no Scaler node; "
    "same branch for every float32 input)"
)
GRAPH_PROPS = (CALIBRATION_PROP, ENSEMBLE_PROP, SCALER_PROP)
VARIANT_FILES = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}


def to_onnx_fp32(pipeline: Any, n_features: int, family: str) -> onnx.ModelProto:
    """Convert a fitted scaler+classifier pipeline; keep only the class-1 probability."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    iso = isotonic_to_interpolate(pipeline)
    if iso is not None:
        return _with_isotonic(*iso, n_features, family)
    families.get(family).prepare_export()
    # A sigmoid calibration of GradientBoosting/HistGradientBoosting is folded into
    # the ensemble's leaves (train/onnx/fold.py): convert the bare classifier, then rewrite.
    folded = sigmoid_to_fold(pipeline)
    if folded is not None:
        pipeline = folded[0]
    clf = pipeline.steps[-1][1]
    try:
        model = convert_sklearn(
            pipeline,
            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            options={id(clf): {"zipmap": False}},
            target_opset=TARGET_OPSET,
        )
    except Exception as e:  # skl2onnx raises many types; name the step that failed
        raise ExportError(f"skl2onnx could not convert {type(clf).__name__}: {e}") from e
    if folded is not None and not fold_into_graph(model, folded[1], folded[2]):
        raise ExportError(
            f"{type(clf).__name__}: converter output is not a binary LOGISTIC "
            "TreeEnsembleClassifier; cannot fold the sigmoid calibration"
        )
    _dedupe_opsets(model)
    g = model.graph
    prob = [o.name for o in g.output if o.name != "label"]
    if len(prob) != 1:
        raise ExportError(f"unexpected converter outputs {[o.name for o in g.output]}")
    g.initializer.append(numpy_helper.from_array(np.array(1, dtype=np.int64), "class1_index"))
    g.node.append(helper.make_node("Gather", [prob[0], "class1_index"], [OUTPUT_NAME], axis=1))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [None]))
    # Drop the unused `label` branch.
    model = onnx.utils.Extractor(model).extract_model([INPUT_NAME], [OUTPUT_NAME])
    model.doc_string = "sigmagate: raw features -> class-1 probability"
    props = {}
    if folded is not None:
        props[CALIBRATION_PROP] = FOLDED
    if as_logistic_regressor(model, OUTPUT_NAME):
        props[ENSEMBLE_PROP] = REGRESSOR
    n_folded = fold_scaler(model)
    if n_folded is not None:
        props[SCALER_PROP] = SCALER_FOLDED.format(n=n_folded)
    if props:
        onnx.helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


def _with_isotonic(
    bare: Any, iso: Any, raw_input: bool, n_features: int, family: str
) -> onnx.ModelProto:
    """The bare classifier's graph + scikit-learn's isotonic interpolation (isotonic.py)."""
    model = to_onnx_fp32(bare, n_features, family)
    score = OUTPUT_NAME
    if raw_input:  # the calibrator sees decision_function: the ensemble's raw score
        score = raw_score_name(OUTPUT_NAME)
        if not any(score in n.output for n in model.graph.node):
            raise ExportError(
                f"{type(bare.steps[-1][1]).__name__}: no raw-score tensor in the graph to "
                "feed the isotonic calibrator"
            )
    # The note keeps what was done to the bare graph (folded scaler; the regressor
    # rewrite unless its Sigmoid is cut off because the calibrator takes the raw score).
    props = {p.key: p.value for p in model.metadata_props}
    if raw_input:
        props.pop(ENSEMBLE_PROP, None)
    try:
        model = append_interpolation(model, score, OUTPUT_NAME, iso)
    except ValueError as e:
        raise ExportError(f"isotonic calibrator: {e}") from e
    model.doc_string = "sigmagate: raw features -> class-1 probability"
    onnx.helper.set_model_props(model, {**props, CALIBRATION_PROP: ISOTONIC})
    onnx.checker.check_model(model)
    return model


def _dedupe_opsets(model: onnx.ModelProto) -> None:
    """skl2onnx imports the default domain twice for a bare HistGradientBoosting;
    onnxruntime's quantiser refuses such a graph. Keep one import per domain."""
    best: dict[str, int] = {}
    for op in model.opset_import:
        best[op.domain] = max(best.get(op.domain, 0), op.version)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in best.items())


def graph_note(model: onnx.ModelProto) -> str | None:
    """What to_onnx_fp32 did to make the graph cheaper (for the manifest), or None."""
    props = {p.key: p.value for p in model.metadata_props}
    done = [props[k] for k in GRAPH_PROPS if k in props]
    return "; ".join(done) or None


def to_int8(fp32_path: Path, out_path: Path) -> int:
    """Dynamic INT8 quantisation; returns how many integer ops the graph gained."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs a "consider pre-processing" hint to the root logger;
    # it is about conv nets, not these graphs. Silence it for this call only.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(fp32_path), str(out_path), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    ops = [n.op_type for n in onnx.load(str(out_path)).graph.node]
    return sum(op in ("MatMulInteger", "DynamicQuantizeMatMul", "QLinearMatMul") for op in ops)


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def predict(sess: ort.InferenceSession, X: np.ndarray) -> np.ndarray:
    out = sess.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(X, dtype=np.float32)})[0]
    return np.asarray(out, dtype=np.float64).reshape(-1)


def latency_us(sess: ort.InferenceSession, x1: np.ndarray, repeats: int = 300) -> float:
    """Median wall time of one single-record call, in microseconds."""
    x = np.ascontiguousarray(x1[:1], dtype=np.float32)
    for _ in range(20):
        sess.run(None, {INPUT_NAME: x})
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        sess.run(None, {INPUT_NAME: x})
        times.append(time.perf_counter_ns() - t0)
    return float(np.median(times) / 1000.0)


@dataclass
class VariantCheck:
    name: str
    file: str
    accepted: bool
    reason: str | None
    bytes: int
    max_abs_dp: float | None = None
    agreement: float | None = None
    auc_delta: float | None = None
    latency_us: float | None = None
    note: str | None = None
    converted_nodes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def compare(
    name: str,
    path: Path,
    p_ref: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    threshold: float,
    min_agreement: float,
    max_auc_delta: float,
) -> tuple[VariantCheck, np.ndarray | None]:
    """Load a variant, score the test split, apply the gate against FP32."""
    size = path.stat().st_size
    try:
        sess = session(path)
        p = predict(sess, X)
    except Exception as e:  # a graph onnxruntime refuses is a rejected variant
        return VariantCheck(name, path.name, False, f"does not load/run: {e}", size), None
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        return VariantCheck(name, path.name, False, "non-finite or out-of-range output", size), p
    dp = float(np.max(np.abs(p - p_ref))) if len(p) else 0.0
    agree = float(np.mean((p >= threshold) == (p_ref >= threshold))) if len(p) else 1.0
    auc_d = float(roc_auc_score(y, p) - roc_auc_score(y, p_ref)) if len(set(y)) == 2 else 0.0
    reasons = []
    if agree < min_agreement:
        reasons.append(f"agreement {agree:.4f} < {min_agreement}")
    if abs(auc_d) > max_auc_delta:
        reasons.append(f"|AUC delta| {abs(auc_d):.4f} > {max_auc_delta}")
    check = VariantCheck(
        name,
        path.name,
        not reasons,
        "; ".join(reasons) or None,
        size,
        dp,
        agree,
        auc_d,
    )
    return check, p


def measure_latency(checks: dict[str, VariantCheck], workdir: Path, X: np.ndarray) -> None:
    """Single-record latency per loadable variant, rounds interleaved so that
    load from other processes hits every variant alike; median of round medians."""
    sessions = {}
    for name, c in checks.items():
        try:
            sessions[name] = session(workdir / c.file)
        except Exception:  # refused graphs are already rejected by compare()
            continue
    per: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(5):
        for name, sess in sessions.items():
            per[name].append(latency_us(sess, X, repeats=100))
    for name, vals in per.items():
        checks[name].latency_us = round(float(np.median(vals)), 3)


def write_variants(fp32: onnx.ModelProto, out_dir: Path) -> tuple[dict[str, str], dict[str, int]]:
    """Write the three files; returns notes on what each conversion did and how
    many nodes it changed."""
    notes: dict[str, str] = {}
    fp32_path = out_dir / VARIANT_FILES["fp32"]
    onnx.save(fp32, str(fp32_path))
    has_matmul = any(n.op_type in ("MatMul", "Gemm") for n in fp32.graph.node)
    # Without a MatMul the only float16 candidates are a few scalar ops of the
    # calibrator: converting them costs precision and saves nothing.
    half, n_half = convert_to_fp16(fp32) if has_matmul else (fp32, 0)
    onnx.save(half, str(out_dir / VARIANT_FILES["fp16"]))
    notes["fp16"] = (
        f"{n_half} node(s) run in float16"
        if n_half
        else "no MatMul to run in float16 (tree ops have no float16 kernels): same graph as FP32"
    )
    # quantize_dynamic writes helper files next to its output; keep them out of the model dir.
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        tmp_out = Path(tmp) / "q.onnx"
        n_int = to_int8(fp32_path, tmp_out)
        os.replace(tmp_out, out_dir / VARIANT_FILES["int8"])
    notes["int8"] = (
        f"{n_int} MatMul(s) quantised to int8"
        if n_int
        else "dynamic INT8 quantises MatMul weights only; a tree ensemble has none: "
        "same graph as FP32"
    )
    return notes, {"fp32": 0, "fp16": n_half, "int8": n_int}
