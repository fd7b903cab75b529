"""Load a model directory (docs/MODEL_FORMAT.md), check it, and score rows.

Nothing here is ever unpickled: the manifest is JSON and the model is ONNX,
read once into memory so the bytes hashed are the bytes loaded.
"""

from __future__ import annotations

import hashlib
import json
import math
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

SCHEMA = 1


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
    input_name: str
    output_name: str
    session: ort.InferenceSession
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


def read_manifest(directory: Path) -> dict[str, Any]:
    """The parsed manifest.json of a model directory; errors name the file and line."""
    path = directory / "manifest.json"
    try:
        text = path.read_text()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read manifest: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path}: manifest must be a JSON object")
    return data


def _require(m: dict[str, Any], key: str, kind: type | tuple[type, ...], where: Path) -> Any:
    if key not in m:
        raise ModelError(f"{where}/manifest.json: missing key {key!r}")
    value = m[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ModelError(
            f"{where}/manifest.json: {key!r} has the wrong type ({type(value).__name__})"
        )
    return value


def _ranges(m: dict[str, Any], features: list[str]) -> tuple[list[float], list[float]] | None:
    stats = m.get("feature_stats")
    if not isinstance(stats, dict):
        return None
    lo, hi = [], []
    for name in features:
        s = stats.get(name)
        if not isinstance(s, dict):
            return None
        a, b = s.get("min"), s.get("max")
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in (a, b)):
            return None
        lo.append(float(a))
        hi.append(float(b))
    return lo, hi


def _canary(features: list[str], m: dict[str, Any]) -> np.ndarray:
    """Rows at the training mean, min and max of each feature (zeros if unknown)."""
    stats = m.get("feature_stats") if isinstance(m.get("feature_stats"), dict) else {}
    rows = np.zeros((4, len(features)), dtype=np.float32)
    for j, name in enumerate(features):
        s = stats.get(name, {})
        for i, key in enumerate(("mean", "min", "max")):
            v = s.get(key) if isinstance(s, dict) else None
            if isinstance(v, int | float) and math.isfinite(v):
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
        raise ModelError(f"{model_path}: not a directory")
    m = read_manifest(directory)
    if m.get("schema") != SCHEMA:
        raise ModelError(
            f"{directory}/manifest.json: schema {m.get('schema')!r}, this sidecar reads {SCHEMA}"
        )
    version = _require(m, "version", str, directory)
    features = _require(m, "features", list, directory)
    if (
        not features
        or not all(isinstance(f, str) for f in features)
        or len(set(features)) != len(features)
    ):
        raise ModelError(
            f"{directory}/manifest.json: 'features' must be distinct names, got {features!r}"
        )
    in_name = _require(m, "input_name", str, directory)
    out_name = _require(m, "output_name", str, directory)
    default_t = float(_require(m, "default_threshold", (int, float), directory))
    if threshold is not None:
        default_t = threshold
    if not 0.0 <= default_t <= 1.0:
        raise ModelError(f"{directory}: threshold {default_t} is outside [0, 1]")
    variants = _require(m, "variants", dict, directory)
    name = variant or _require(m, "serve_variant", str, directory)
    spec = variants.get(name)
    if not isinstance(spec, dict):
        raise ModelError(
            f"{directory}/manifest.json: no variant {name!r} (have {sorted(variants)})"
        )
    if spec.get("accepted") is not True:
        raise ModelError(
            f"{directory}: variant {name!r} was rejected ({spec.get('reason')}), not serving it"
        )
    file_name, want = spec.get("file"), spec.get("sha256")
    if (
        not isinstance(file_name, str)
        or os.path.basename(file_name) != file_name
        or not isinstance(want, str)
    ):
        raise ModelError(
            f"{directory}/manifest.json: variant {name!r} needs a plain 'file' name and a 'sha256'"
        )
    onnx_path = directory / file_name
    blob = _read_verified(onnx_path, want)
    got = want.lower()
    # The other variants are not loaded, but a mismatch there still means the
    # directory is not what `train` published: refuse it whole.
    for other, ospec in variants.items():
        if other != name and isinstance(ospec, dict) and isinstance(ospec.get("file"), str):
            other_path = directory / os.path.basename(ospec["file"])
            if other_path.exists():
                _read_verified(other_path, str(ospec.get("sha256", "")))
    sess = _session(blob, threads, onnx_path)
    _check_io(sess, in_name, out_name, len(features), onnx_path)
    ranges = _ranges(m, features)
    model = Model(
        version=version,
        sha256=got,
        features=list(features),
        threshold=default_t,
        variant=name,
        path=str(directory),
        loaded_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        input_name=in_name,
        output_name=out_name,
        session=sess,
        scorer=Scorer(
            sess,
            in_name,
            out_name,
            len(features),
            len(sess.get_outputs()[0].shape),
            ranges[0] if ranges else None,
            ranges[1] if ranges else None,
        ),
        one_result=OneRecordResult(version),
        loaded_mono=time.monotonic(),
    )
    _run_canary(model, _canary(model.features, m), onnx_path)
    return model


def _read_verified(path: Path, want: str) -> bytes:
    """The file's bytes, once their sha256 matches the manifest's."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    got = hashlib.sha256(blob).hexdigest()
    if got != want.lower():
        raise ModelError(f"{path}: sha256 {got} does not match the manifest's {want}")
    return blob


def _run_canary(model: Model, rows: np.ndarray, src: Path) -> None:
    try:
        p = model.predict(rows)
    except Exception as exc:
        raise ModelError(f"{src}: canary batch failed: {exc}") from exc
    if p.shape != (len(rows),):
        raise ModelError(f"{src}: canary gave shape {p.shape} for {len(rows)} rows")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise ModelError(f"{src}: canary gave probabilities outside [0, 1]: {p.tolist()}")
