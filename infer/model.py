"""Load a model directory (docs/MODEL_FORMAT.md), check it, and score rows.

Nothing here is ever unpickled: the manifest is JSON and the model is ONNX,
read once into memory so the bytes hashed are the bytes loaded.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from infer.answer import OneRecordResult
from infer.scorer import Scorer
from modelformat import manifest as mf


class ModelError(Exception):
    """A model directory that must not be served; the message says why."""


@dataclass(slots=True)
class Model:
    version: str
    sha256: str
    features: list[str]
    threshold: float
    variant: str
    path: str
    loaded_at: str
    scorer: Scorer
    one_result: OneRecordResult
    loaded_mono: float = 0.0

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """float32 [N, F] -> float32 [N] class-1 probabilities."""
        return self.scorer.batch(rows)

    def ood(self, rows: np.ndarray) -> list[bool] | None:
        """Per row: is a feature outside its training [min, max]? None without ranges."""
        return self.scorer.ood(rows)

    def info(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "sha256": self.sha256,
            "features": list(self.features),
            "threshold": self.threshold,
            "variant": self.variant,
            "path": self.path,
            "loaded_at": self.loaded_at,
        }


def _ranges(m: mf.Manifest) -> tuple[list[float], list[float]] | None:
    stats = m.feature_stats
    if stats is None:
        return None
    lo, hi = [], []
    for name in m.features:
        s = stats.get(name)
        if not isinstance(s, dict):
            return None
        a, b = s.get("min"), s.get("max")
        if not (mf.finite(a) and mf.finite(b)):
            return None
        lo.append(float(a))
        hi.append(float(b))
    return lo, hi


def _canary(m: mf.Manifest) -> np.ndarray:
    """Rows at the training mean, min and max of each feature (zeros if unknown)."""
    stats = m.feature_stats or {}
    rows = np.zeros((4, len(m.features)), dtype=np.float32)
    for j, name in enumerate(m.features):
        s = stats.get(name, {})
        for i, key in enumerate(("mean", "min", "max")):
            v = s.get(key) if isinstance(s, dict) else None
            if mf.finite(v):
                rows[i + 1, j] = v
    return rows


def _session(blob: bytes, threads: int, source: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # Idle intra-op threads must not spin: the serving loop owns the spare core.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(blob, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"{source}: onnxruntime cannot load it: {exc}") from exc


def _check_io(
    sess: ort.InferenceSession, in_name: str, out_name: str, width: int, src: Path
) -> None:
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    if len(inputs) != 1 or inputs[0].name != in_name:
        raise ModelError(
            f"{src}: expected one input {in_name!r}, graph has {[i.name for i in inputs]}"
        )
    inp = inputs[0]
    if inp.type != "tensor(float)":
        raise ModelError(f"{src}: input {in_name!r} is {inp.type}, expected tensor(float)")
    shape = inp.shape
    if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != width):
        raise ModelError(f"{src}: input {in_name!r} has shape {shape}, expected [N, {width}]")
    if len(outputs) != 1 or outputs[0].name != out_name:
        raise ModelError(
            f"{src}: expected one output {out_name!r}, graph has {[o.name for o in outputs]}"
        )
    if outputs[0].type != "tensor(float)":
        raise ModelError(f"{src}: output {out_name!r} is {outputs[0].type}, expected tensor(float)")
    oshape = outputs[0].shape
    column = len(oshape) == 2 and (oshape[1] == 1 or not isinstance(oshape[1], int))
    if len(oshape) != 1 and not column:
        raise ModelError(f"{src}: output {out_name!r} has shape {oshape}, expected [N] or [N, 1]")


def load(
    model_path: str, variant: str | None = None, threshold: float | None = None, threads: int = 1
) -> Model:
    """Resolve model_path (it may be a `current` symlink), validate and load it."""
    directory = Path(os.path.realpath(model_path))
    if not directory.is_dir():
        why = "not a directory" if directory.exists() else "no such model directory"
        raise ModelError(
            f"{model_path}: {why} (resolved to {directory}); deploy a model there first "
            "(scripts/deploy_model.sh) or pass --model DIR"
        )
    try:
        m = mf.load(directory)
        where = str(directory / mf.FILE_NAME)
        name, spec = m.served(variant, where)
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ModelError(f"{directory}: threshold {threshold} is outside [0, 1]")
        onnx_path = directory / spec.file
        blob = mf.verify_file(onnx_path, spec.sha256)
        # The other variants are not loaded, but a mismatch there still means the
        # directory is not what `train` published: refuse it whole.
        for other, ospec in m.variants.items():
            if other != name and (directory / ospec.file).exists():
                mf.verify_file(directory / ospec.file, ospec.sha256)
    except mf.ManifestError as exc:
        raise ModelError(str(exc)) from exc
    sess = _session(blob, threads, onnx_path)
    _check_io(sess, m.input_name, m.output_name, len(m.features), onnx_path)
    ranges = _ranges(m)
    model = Model(
        version=m.version,
        sha256=spec.sha256,
        features=list(m.features),
        threshold=m.default_threshold if threshold is None else threshold,
        variant=name,
        path=str(directory),
        loaded_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        scorer=Scorer(
            sess,
            m.input_name,
            m.output_name,
            len(m.features),
            len(sess.get_outputs()[0].shape),
            ranges[0] if ranges else None,
            ranges[1] if ranges else None,
        ),
        one_result=OneRecordResult(m.version),
        loaded_mono=time.monotonic(),
    )
    _run_canary(model, _canary(m), onnx_path)
    return model


def _run_canary(model: Model, rows: np.ndarray, src: Path) -> None:
    try:
        p = model.predict(rows)
    except Exception as exc:
        raise ModelError(f"{src}: canary batch failed: {exc}") from exc
    if p.shape != (len(rows),):
        raise ModelError(f"{src}: canary gave shape {p.shape} for {len(rows)} rows")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise ModelError(f"{src}: canary gave probabilities outside [0, 1]: {p.tolist()}")
    # One record at a time is how a bot mostly asks, and it takes the scorer's
    # own single-row binding: a graph that cannot score one row must not serve.
    # (Whether a row scores the same alone as in a batch is gatecheck's
    # agreement check, on a real sample.)
    row = tuple(rows[1].tolist())  # the training means, exact float32 values
    try:
        one = model.scorer.one32(row)
    except Exception as exc:
        raise ModelError(f"{src}: canary row failed alone: {exc}") from exc
    if one is None:
        raise ModelError(f"{src}: canary row alone gave a probability outside [0, 1]")
