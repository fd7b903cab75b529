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
    exact_keys,
    kind,
    need,
    number,
    numbers,
    opt,
    opt_number,
    parse_json,
    plain_file,
    sha256_hex,
    split,
    typed_names,
)
from modelformat.defaults import DEFAULT_MIN_AUC, DEFAULT_THRESHOLD

__all__ = [
    "DEFAULT_MIN_AUC",
    "DEFAULT_THRESHOLD",
    "FILE_NAME",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "SCHEMA",
    "Bins",
    "FileRef",
    "Manifest",
    "ManifestError",
    "Reference",
    "Variant",
    "finite",
    "load",
    "loads",
    "read_json",
    "sha256_file",
    "verify_file",
    "write",
]

SCHEMA = 1
FILE_NAME = "manifest.json"
INPUT_NAME = "features"
OUTPUT_NAME = "probability"
# The untyped blocks a consumer reads by key: their known keys are checked for
# case twins and finite numbers, like go/manifest's Label and FeatureStats.
LABEL_KEYS = ("lookahead_s", "threshold_sigma", "min_dist_sigma", "min_std")
STATS_KEYS = ("mean", "std", "min", "max", "q001", "q999")
# A threshold of exactly 0 approves every trade and 1 approves none (p is
# never above 1): legal only when the manifest says so in this key.
OPT_IN = "allow_extreme_thresholds"


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
        exact_keys(d, typed_names(cls), where, at)
        typed, extra = split(cls, d)
        typed.update(
            file=plain_file(d, where, at),
            sha256=sha256_hex(d, where, at),
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
        exact_keys(d, typed_names(cls), where, at)
        file = plain_file(d, where, at)
        sha = sha256_hex(d, where, at)
        rows = opt(d, "rows", int, where, at)
        _, extra = split(cls, d)
        return cls(file=file, sha256=sha, rows=rows, extra=extra, keys=tuple(d))


@dataclass(kw_only=True)
class Bins(Block):
    """A feature's histogram on the training split: len(edges) == len(fractions) + 1."""

    edges: list[float]
    fractions: list[float]

    @classmethod
    def from_dict(cls, d: Any, where: str, at: str) -> Bins:
        d = kind(d, dict, where, at.rstrip("."))
        exact_keys(d, typed_names(cls), where, at)
        edges = numbers(d, "edges", where, at)
        fractions = numbers(d, "fractions", where, at)
        if not fractions or len(edges) != len(fractions) + 1:
            raise ManifestError(
                f"{where}: field {at.rstrip('.')!r}: {len(edges)} edges for "
                f"{len(fractions)} fractions (want one more edge than fractions)",
                at.rstrip("."),
            )
        _, extra = split(cls, d)
        return cls(edges=d["edges"], fractions=d["fractions"], extra=extra, keys=tuple(d))


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
        exact_keys(d, typed_names(cls), where, at)
        feats = need(d, "features", dict, where, at)
        typed, extra = split(cls, d)
        typed["features"] = {
            k: Bins.from_dict(v, where, f"{at}features.{k}.") for k, v in feats.items()
        }
        opt_number(d, "approval_rate", where, at)
        opt_number(d, "approval_threshold", where, at)
        opt(d, "rows", int, where, at)
        return cls(**typed, extra=extra, keys=tuple(d))


def _threshold(v: Any, opt_in: bool, where: str, name: str) -> float:
    """A decision threshold: in (0, 1), or exactly 0 or 1 with the opt-in."""
    t = number(v, where, name)
    if not 0.0 <= t <= 1.0:
        raise ManifestError(f"{where}: field {name!r} {t} is outside [0, 1]", name)
    if t in (0.0, 1.0) and not opt_in:
        what = "approves every trade" if t == 0.0 else "approves no trade"
        raise ManifestError(
            f"{where}: field {name!r} is {t:g}, which {what}; if that is meant, "
            f'set "{OPT_IN}": true in the manifest',
            name,
        )
    return t


def _plain_numbers(d: dict[str, Any], known: tuple[str, ...], where: str, at: str) -> None:
    """An untyped block's known keys: exact case, finite numbers when set."""
    exact_keys(d, known, where, at)
    for key in known:
        opt_number(d, key, where, at)


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
    allow_extreme_thresholds: bool | None = None
    symbol_thresholds: dict[str, float] | None = None
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
        """Validate (the rules of MODEL_FORMAT.md, in the order go/manifest applies
        them) and type `d`. `where` names the file in errors."""
        if not isinstance(d, dict):
            raise ManifestError(f"{where}: manifest must be a JSON object")
        exact_keys(d, typed_names(cls), where, "")
        schema = need(d, "schema", int, where, "")
        if schema != SCHEMA:
            raise ManifestError(f"{where}: schema {schema!r}, this build reads {SCHEMA}", "schema")
        version = need(d, "version", str, where, "")
        if not version:
            raise ManifestError(f"{where}: field 'version' is empty", "version")
        features = need(d, "features", list, where, "")
        if (
            not features
            or not all(isinstance(f, str) and f for f in features)
            or len(set(features)) != len(features)
        ):
            raise ManifestError(
                f"{where}: field 'features' must be distinct non-empty names, got {features!r}",
                "features",
            )
        names = {}
        for key in ("input_name", "output_name"):
            names[key] = need(d, key, str, where, "")
            if not names[key]:
                raise ManifestError(f"{where}: field {key!r} is empty", key)
        opt_in = opt(d, OPT_IN, bool, where, "") is True
        threshold = _threshold(
            need(d, "default_threshold", (int, float), where, ""), opt_in, where,
            "default_threshold",
        )  # fmt: skip
        symbols = opt(d, "symbol_thresholds", dict, where, "")
        if symbols is not None:
            if "" in symbols:
                raise ManifestError(
                    f"{where}: field 'symbol_thresholds' has an empty symbol", "symbol_thresholds"
                )
            symbols = {
                k: _threshold(v, opt_in, where, f"symbol_thresholds.{k}")
                for k, v in symbols.items()
            }
        variants = need(d, "variants", dict, where, "")
        typed_variants = {
            k: Variant.from_dict(v, where, f"variants.{k}.") for k, v in variants.items()
        }
        serve = need(d, "serve_variant", str, where, "")
        for key in ("created", "model_family"):
            opt(d, key, str, where, "")
        stats = opt(d, "feature_stats", dict, where, "")
        for name, s in (stats or {}).items():
            kind(s, dict, where, f"feature_stats.{name}")
            _plain_numbers(s, STATS_KEYS, where, f"feature_stats.{name}.")
        label = opt(d, "label", dict, where, "")
        if label is not None:
            _plain_numbers(label, LABEL_KEYS, where, "label.")
        typed, extra = split(cls, d)
        typed.update(
            version=version,
            features=list(features),
            input_name=names["input_name"],
            output_name=names["output_name"],
            default_threshold=threshold,
            symbol_thresholds=symbols,
            serve_variant=serve,
            variants=typed_variants,
            check_vectors=None
            if d.get("check_vectors") is None
            else FileRef.from_dict(d["check_vectors"], where, "check_vectors."),
            reference=None
            if d.get("reference") is None
            else Reference.from_dict(d["reference"], where, "reference."),
        )
        for key in ("data", "training", "metrics", "parity", "gates", "comparison", "libraries"):
            opt(d, key, dict, where, "")
        m = cls(**typed, extra=extra, keys=tuple(d))
        m.served(where=where)  # rule 2: serve_variant names an accepted variant
        return m

    def threshold_for(self, symbol: str) -> float:
        """The decision threshold of one symbol: its own, else default_threshold."""
        return (self.symbol_thresholds or {}).get(symbol, self.default_threshold)

    def served(self, name: str | None = None, where: str = FILE_NAME) -> tuple[str, Variant]:
        """The variant to serve (rule 2): `name` or serve_variant, present and accepted."""
        field = "" if name else "serve_variant"
        name = name or self.serve_variant
        spec = self.variants.get(name)
        if spec is None:
            raise ManifestError(
                f"{where}: no variant {name!r} (have {sorted(self.variants)})", field
            )
        if not spec.accepted:
            raise ManifestError(
                f"{where}: variant {name!r} was rejected ({spec.reason}), not serving it",
                field and f"variants.{name}.accepted",
            )
        return name, spec


def read_json(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed manifest.json of a model directory, unvalidated; errors name file and line."""
    path = Path(directory) / FILE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    return parse_json(text, str(path))


def loads(text: str, where: str = FILE_NAME) -> Manifest:
    """Parse and validate a manifest's text; `where` names it in errors."""
    return Manifest.from_dict(parse_json(text, where), where)


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
    if got != want:
        raise ManifestError(f"{path}: sha256 {got} does not match the manifest's {want}")
    return blob


def finite(v: Any) -> bool:
    """A JSON number that is neither NaN nor infinite (and not a bool)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
