"""The model directory as the sidecar serves it: variant, thresholds and promise.

The graph is loaded by infer's own loader (manifest validated, sha256 checked,
input/output names and shapes checked, canary batch run), so the monitor
scores exactly what `infer` would answer; the per-symbol thresholds come from
the manifest's `symbol_thresholds`, the promise from its `metrics.served`
block (written by `train fit`, train/monitor/promise.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelformat import manifest as mf
from train.errors import InputError
from train.labels.labeler import LabelParams
from train.monitor.window import label_params

SCORE_CHUNK = 1 << 16  # rows per onnxruntime call: bounded memory on a big window


@dataclass
class ServedModel:
    path: Path
    version: str
    variant: str
    features: list[str]
    default_threshold: float
    symbol_thresholds: dict[str, float]
    label: LabelParams
    manifest: dict[str, Any]
    model: Any  # infer.model.Model

    def threshold_of(self, symbols: np.ndarray) -> np.ndarray:
        """Each row's decision threshold: its symbol's, else the default."""
        thr = np.full(len(symbols), self.default_threshold, dtype=np.float64)
        for sym, t in self.symbol_thresholds.items():
            thr[symbols == sym] = t
        return thr

    def score(self, X: np.ndarray) -> np.ndarray:  # noqa: N803  (the feature matrix)
        """float32 [N, F] → float32 [N], in chunks, through the served graph."""
        out = np.empty(len(X), dtype=np.float32)
        for i in range(0, len(X), SCORE_CHUNK):
            out[i : i + SCORE_CHUNK] = self.model.predict(
                np.ascontiguousarray(X[i : i + SCORE_CHUNK], dtype=np.float32)
            )
        return out


def symbol_thresholds(man: dict[str, Any], where: str) -> dict[str, float]:
    raw = man.get("symbol_thresholds")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(f"{where}: field 'symbol_thresholds' must be an object")
    out = {}
    for sym, t in raw.items():
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0.0 < t < 1.0:
            raise InputError(
                f"{where}: field 'symbol_thresholds.{sym}' must be in (0, 1), got {t!r}"
            )
        out[str(sym)] = float(t)
    return out


def load_served(model_dir: Path, threads: int = 1) -> ServedModel:
    from infer.model import ModelError, load

    if not Path(model_dir).is_dir():
        raise InputError(f"{model_dir}: no such model directory")
    try:
        model = load(str(model_dir), threads=threads)
        man = mf.read_json(model.path)
    except (ModelError, mf.ManifestError) as e:
        raise InputError(str(e)) from None
    where = str(Path(model.path) / mf.FILE_NAME)
    return ServedModel(
        path=Path(model.path),
        version=model.version,
        variant=model.variant,
        features=list(model.features),
        default_threshold=float(model.threshold),
        symbol_thresholds=symbol_thresholds(man, where),
        label=label_params(man.get("label"), where),
        manifest=man,
        model=model,
    )


PROMISE_FIELDS = ("rows", "approvals", "precision", "expected_precision", "approval_rate")


def promise(man: dict[str, Any], where: str) -> dict[str, Any]:
    """The manifest's test-split figures at the served thresholds (`metrics.served`)."""
    served = (man.get("metrics") or {}).get("served")
    hint = "retrain with a `train fit` that writes it (train/monitor/promise.py)"
    if not isinstance(served, dict) or not isinstance(served.get("overall"), dict):
        raise InputError(f"{where}: no test-split figures (field 'metrics.served.overall'); {hint}")
    for scope, figs in [("overall", served["overall"]), *(served.get("per_symbol") or {}).items()]:
        for f in PROMISE_FIELDS:
            v = figs.get(f) if isinstance(figs, dict) else None
            if v is not None and (not isinstance(v, int | float) or not math.isfinite(v)):
                raise InputError(f"{where}: field 'metrics.served.{scope}.{f}' is {v!r}")
    if served["overall"].get("precision") is None:
        raise InputError(
            f"{where}: field 'metrics.served.overall.precision' is null (no test approvals); "
            "the model promised nothing to compare with"
        )
    return served
