"""manifest.json of a model directory (docs/MODEL_FORMAT.md): the one Python definition.

`train` writes it, `infer` and scripts/deploy_checks.py read and check it, all
through this module. Standard library only: the serving install carries it
next to onnxruntime, numpy and msgpack.

`Manifest.from_dict(d).to_dict()` gives back `d`: the same keys in the same
order, keys this module does not name kept in `extra`, so a reader never drops
what a newer writer recorded.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from modelformat.blocks import (
    Block,
    ManifestError,
    kind,
    need,
    opt,
    plain_file,
    split,
)

SCHEMA = 1
FILE_NAME = "manifest.json"
INPUT_NAME = "features"
OUTPUT_NAME = "probability"
# The defaults `train fit` and the deploy use, and the one place they are written.
DEFAULT_THRESHOLD = 0.65  # decision threshold: approve when p >= it
DEFAULT_MIN_AUC = 0.55  # quality gate: test-split AUC a model must reach to be published


@dataclass(kw_only=True)
class Variant(Block):
    """One ONNX graph of the model (fp32, fp16, int8). `extra` holds train's
    variant checks (max_abs_dp, agreement, auc_delta, latency_us, note, ...)."""

    NULLABLE: ClassVar[tuple[str, ...]] = ("reason",)
    file: str
    sha256: str
    bytes: int | None = None
    accepted: bool = False
    reason: str | None = None

    @classmethod
    def from_dict(cls, d: Any, where: str, at: str) -> Variant:
        d = kind(d, dict, where, at.rstrip("."))
        file = plain_file(d, where, at)
        typed, extra = split(cls, d)
        typed.update(
            file=file,
            sha256=need(d, "sha256", str, where, at).lower(),
            bytes=opt(d, "bytes", int, where, at),
            accepted=need(d, "accepted", bool, where, at),
            reason=opt(d, "reason", str, where, at),
        )
        return cls(**typed, extra=extra, keys=tuple(d))


@dataclass(kw_only=True)
class FileRef(Block):
    """Another file of the model directory and its hash (e.g. check_vectors)."""

    file: str
    sha256: str
    rows: int | None = None

    @classmethod
    def from_dict(cls, d: Any, where: str, at: str) -> FileRef:
        d = kind(d, dict, where, at.rstrip("."))
        file = plain_file(d, where, at)
        _, extra = split(cls, d)
        sha = need(d, "sha256", str, where, at).lower()
        rows = opt(d, "rows", int, where, at)
        return cls(file=file, sha256=sha, rows=rows, extra=extra, keys=tuple(d))


@dataclass(kw_only=True)
class Bins(Block):
    """A feature's histogram on the training split: len(edges) == len(fractions) + 1."""

    edges: list[float]
    fractions: list[float]

    @classmethod
    def from_dict(cls, d: Any, where: str, at: str) -> Bins:
        d = kind(d, dict, where, at.rstrip("."))
        edges = need(d, "edges", list, where, at)
        fractions = need(d, "fractions", list, where, at)
        if not fractions or len(edges) != len(fractions) + 1:
            raise ManifestError(
                f"{where}: field {at.rstrip('.')!r}: {len(edges)} edges for "
                f"{len(fractions)} fractions (want one more edge than fractions)"
            )
        _, extra = split(cls, d)
        return cls(edges=edges, fractions=fractions, extra=extra, keys=tuple(d))


@dataclass(kw_only=True)
class Reference(Block):
    """The training distribution live drift is measured against."""

    features: dict[str, Bins]
    approval_rate: float | None = None
    approval_threshold: float | None = None
    rows: int | None = None

    @classmethod
    def from_dict(cls, d: Any, where: str, at: str) -> Reference:
        d = kind(d, dict, where, at.rstrip("."))
        feats = need(d, "features", dict, where, at)
        typed, extra = split(cls, d)
        typed["features"] = {
            k: Bins.from_dict(v, where, f"{at}features.{k}.") for k, v in feats.items()
        }
        return cls(**typed, extra=extra, keys=tuple(d))


@dataclass(kw_only=True)
class Manifest(Block):
    """The keys a consumer relies on (★ in MODEL_FORMAT.md) typed and checked;
    the record of how the model was made kept as plain JSON objects."""

    NULLABLE: ClassVar[tuple[str, ...]] = ("comparison",)
    schema: int = SCHEMA
    version: str
    created: str | None = None
    model_family: str | None = None
    features: list[str]
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    default_threshold: float = DEFAULT_THRESHOLD
    serve_variant: str
    variants: dict[str, Variant]
    feature_stats: dict[str, dict[str, Any]] | None = None
    label: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    parity: dict[str, Any] | None = None
    gates: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None
    libraries: dict[str, str] | None = None
    check_vectors: FileRef | None = None
    reference: Reference | None = None

    @classmethod
    def from_dict(cls, d: Any, where: str = FILE_NAME) -> Manifest:
        """Validate (rule 1 of MODEL_FORMAT.md and every key's type) and type `d`.
        `where` names the file in errors."""
        if not isinstance(d, dict):
            raise ManifestError(f"{where}: manifest must be a JSON object")
        schema = need(d, "schema", int, where, "")
        if schema != SCHEMA:
            raise ManifestError(f"{where}: schema {schema!r}, this build reads {SCHEMA}")
        version = need(d, "version", str, where, "")
        if not version:
            raise ManifestError(f"{where}: field 'version' is empty")
        features = need(d, "features", list, where, "")
        if (
            not features
            or not all(isinstance(f, str) and f for f in features)
            or len(set(features)) != len(features)
        ):
            raise ManifestError(
                f"{where}: field 'features' must be distinct names, got {features!r}"
            )
        threshold = float(need(d, "default_threshold", (int, float), where, ""))
        if not 0.0 <= threshold <= 1.0:
            raise ManifestError(f"{where}: field 'default_threshold' {threshold} is outside [0, 1]")
        variants = need(d, "variants", dict, where, "")
        typed, extra = split(cls, d)
        typed.update(
            version=version,
            features=list(features),
            input_name=need(d, "input_name", str, where, ""),
            output_name=need(d, "output_name", str, where, ""),
            default_threshold=threshold,
            serve_variant=need(d, "serve_variant", str, where, ""),
            variants={
                k: Variant.from_dict(v, where, f"variants.{k}.") for k, v in variants.items()
            },
            check_vectors=None
            if d.get("check_vectors") is None
            else FileRef.from_dict(d["check_vectors"], where, "check_vectors."),
            reference=None
            if d.get("reference") is None
            else Reference.from_dict(d["reference"], where, "reference."),
        )
        for key in ("feature_stats", "label", "data", "training", "metrics", "parity", "gates",
                    "comparison", "libraries"):  # fmt: skip
            opt(d, key, dict, where, "")
        return cls(**typed, extra=extra, keys=tuple(d))

    def served(self, name: str | None = None, where: str = FILE_NAME) -> tuple[str, Variant]:
        """The variant to serve (rule 2): `name` or serve_variant, present and accepted."""
        name = name or self.serve_variant
        spec = self.variants.get(name)
        if spec is None:
            raise ManifestError(f"{where}: no variant {name!r} (have {sorted(self.variants)})")
        if not spec.accepted:
            raise ManifestError(
                f"{where}: variant {name!r} was rejected ({spec.reason}), not serving it"
            )
        return name, spec


def read_json(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed manifest.json of a model directory, unvalidated; errors name file and line."""
    path = Path(directory) / FILE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: manifest must be a JSON object")
    return data


def load(directory: str | os.PathLike[str]) -> Manifest:
    """Read and validate directory/manifest.json (no file hashing: see verify_file)."""
    return Manifest.from_dict(read_json(directory), str(Path(directory) / FILE_NAME))


def write(path: str | os.PathLike[str], manifest: Manifest) -> None:
    text = json.dumps(manifest.to_dict(), indent=2)
    Path(path).write_text(text + "\n", encoding="utf-8")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (data files can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: str | os.PathLike[str], want: str) -> bytes:
    """The file's bytes, once their sha256 equals `want` (rule 3). The bytes are
    returned so a caller loads exactly the bytes that were hashed."""
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    got = hashlib.sha256(blob).hexdigest()
    if got != want.lower():
        raise ManifestError(f"{path}: sha256 {got} does not match the manifest's {want}")
    return blob


def finite(v: Any) -> bool:
    """A JSON number that is neither NaN nor infinite (and not a bool)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
