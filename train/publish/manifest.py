"""The manifest `train fit` publishes (modelformat.manifest types it), and the version name."""

from __future__ import annotations

import hashlib
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from modelformat import manifest as mf
from train.model import families
from train.onnx.export import VARIANT_FILES, VariantCheck


def library_versions(family: str) -> dict[str, str]:
    out = {}
    for name in families.libraries(family):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def version_name(created: datetime, model_sha256: str, salt: int = 0) -> str:
    """UTC timestamp + 8 hex of the FP32 graph's hash, e.g. 20261124T020000Z-3f2a1c9b."""
    h = hashlib.sha256(f"{model_sha256}:{salt}".encode()).hexdigest() if salt else model_sha256
    return f"{created.strftime('%Y%m%dT%H%M%SZ')}-{h[:8]}"


def variant_entries(workdir: Path, checks: dict[str, VariantCheck]) -> dict[str, mf.Variant]:
    out = {}
    for name, fname in VARIANT_FILES.items():
        c = checks[name].to_dict()
        for key in ("name", "file", "accepted", "reason", "bytes"):
            c.pop(key, None)
        out[name] = mf.Variant(
            file=fname,
            sha256=mf.sha256_file(workdir / fname),
            bytes=(workdir / fname).stat().st_size,
            accepted=checks[name].accepted,
            reason=checks[name].reason,
            extra=c,  # the variant gate's figures: max_abs_dp, agreement, latency_us, ...
        )
    return out


def build_manifest(
    *,
    version: str,
    created: datetime,
    family: str,
    features: list[str],
    threshold: float,
    serve_variant: str,
    variants: dict[str, mf.Variant],
    feature_stats: dict[str, dict[str, Any]],
    label: dict[str, Any],
    data: dict[str, Any],
    training: dict[str, Any],
    metrics: dict[str, Any],
    parity: float,
    gates: dict[str, Any],
    comparison: dict[str, Any] | None = None,
) -> mf.Manifest:
    """The manifest of docs/MODEL_FORMAT.md; keys marked ★ there come first."""
    return mf.Manifest(
        version=version,
        created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        model_family=family,
        features=list(features),
        default_threshold=threshold,
        serve_variant=serve_variant,
        variants=variants,
        feature_stats=feature_stats,
        label=label,
        data=data,
        training=training,
        metrics=metrics,
        parity={"onnx_vs_sklearn_max_abs_dp": parity},
        gates=gates,
        comparison=comparison,
        libraries=library_versions(family),
    )


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Validate (the rules every consumer applies) and write; an invalid manifest is never
    published."""
    mf.write(path, mf.Manifest.from_dict(manifest, str(path)))
