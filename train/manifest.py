"""manifest.json per docs/MODEL_FORMAT.md, and the version name."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from train.export import INPUT_NAME, OUTPUT_NAME, VARIANT_FILES
from train.io import sha256_file

SCHEMA = 1
LIBRARIES = (
    "scikit-learn", "onnx", "onnxruntime", "skl2onnx", "numpy", "onnxmltools",
    "onnxconverter-common", "xgboost-cpu", "scipy",
)  # fmt: skip


def library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def version_name(created: datetime, model_sha256: str, salt: int = 0) -> str:
    """UTC timestamp + 8 hex of the FP32 graph's hash, e.g. 20261124T020000Z-3f2a1c9b."""
    h = hashlib.sha256(f"{model_sha256}:{salt}".encode()).hexdigest() if salt else model_sha256
    return f"{created.strftime('%Y%m%dT%H%M%SZ')}-{h[:8]}"


def variant_entries(workdir: Path, checks: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, fname in VARIANT_FILES.items():
        c = checks[name].to_dict()
        c["file"] = fname
        c["sha256"] = sha256_file(workdir / fname)
        c["bytes"] = (workdir / fname).stat().st_size
        c.pop("name", None)
        out[name] = c
    return out


def build_manifest(**kw: Any) -> dict[str, Any]:
    """Assemble the manifest; keys marked ★ in MODEL_FORMAT.md come first."""
    return {
        "schema": SCHEMA,
        "version": kw["version"],
        "created": kw["created"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model_family": kw["family"],
        "features": kw["features"],
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "default_threshold": kw["threshold"],
        "serve_variant": kw["serve_variant"],
        "variants": kw["variants"],
        "feature_stats": kw["feature_stats"],
        "label": kw["label"],
        "data": kw["data"],
        "training": kw["training"],
        "metrics": kw["metrics"],
        "parity": {"onnx_vs_sklearn_max_abs_dp": kw["parity"]},
        "gates": kw["gates"],
        "comparison": kw.get("comparison"),
        "libraries": library_versions(),
    }


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
