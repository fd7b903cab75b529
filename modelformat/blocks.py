"""JSON objects with typed keys that give back the JSON they were read from.

The building blocks of modelformat.manifest: strict JSON parsing (duplicate
keys and NaN/Infinity refused), validation helpers whose errors name the file
and the dotted field, and a base class whose to_dict keeps the key order read
and every key it does not type.

The rules here are the cross-language contract of docs/MODEL_FORMAT.md
("Validation rules"); go/manifest applies the same ones, and the cases in
tests/vectors/manifests/ hold both to it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

SHA256_RE = re.compile(r"[0-9a-f]{64}")


class ManifestError(ValueError):
    """A manifest or model file that must not be used; the message names the file and field.

    `field` is the JSON path of the value at fault ("default_threshold",
    "variants.fp32.sha256"), or "" when the fault is the document itself
    (not JSON, not an object) or a file rather than a manifest key.
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers the first key it saw twice."""

    repeated: str | None = None


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    for k, v in pairs:
        if k in obj and obj.repeated is None:
            obj.repeated = k
        obj[k] = v
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _first_repeated(v: Any, at: str) -> str | None:
    """The path of the first repeated key, in document order."""
    if isinstance(v, dict):
        if isinstance(v, _Object) and v.repeated is not None:
            return at + v.repeated
        for k, x in v.items():
            found = _first_repeated(x, f"{at}{k}.")
            if found is not None:
                return found
    elif isinstance(v, list):
        for x in v:
            found = _first_repeated(x, at)
            if found is not None:
                return found
    return None


def parse_json(text: str, where: str) -> dict[str, Any]:
    """A JSON object, strictly: no NaN/Infinity, no key given twice in one object.

    Python's json would keep the last of two equal keys while other readers
    keep the first, so a manifest with one must not be read at all."""
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
        repeated = _first_repeated(data, "")
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{where}: line {exc.lineno}: invalid JSON: {exc.msg}") from exc
    except ValueError as exc:  # from _no_constant: json adds no position
        raise ManifestError(f"{where}: invalid JSON: {exc}") from exc
    except RecursionError as exc:  # no manifest nests anywhere near that deep
        raise ManifestError(f"{where}: invalid JSON: nested too deeply") from exc
    if repeated is not None:
        raise ManifestError(
            f"{where}: key {repeated!r} is given twice; remove one (readers disagree on "
            "which one wins)",
            repeated,
        )
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: manifest must be a JSON object")
    return data


def _json(value: Any) -> Any:
    if isinstance(value, Block):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


@dataclass(kw_only=True)
class Block:
    """A JSON object with typed keys; unknown keys are kept in `extra`."""

    # Optional keys written as null when unset (the rest are left out when None).
    NULLABLE: ClassVar[tuple[str, ...]] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    # Key order as read, so that to_dict gives the file back unchanged.
    keys: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        typed = [f.name for f in fields(self) if f.name not in ("extra", "keys")]
        order = list(self.keys) or typed
        order += [k for k in (*typed, *self.extra) if k not in order]
        out: dict[str, Any] = {}
        for k in order:
            if k in self.extra:
                out[k] = _json(self.extra[k])
            elif k in typed:
                v = getattr(self, k)
                if v is not None or k in self.keys or (not self.keys and k in self.NULLABLE):
                    out[k] = _json(v)
        return out


def typed_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name not in ("extra", "keys"))


def split(cls: type, d: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    names = set(typed_names(cls))
    typed = {k: v for k, v in d.items() if k in names}
    return typed, {k: v for k, v in d.items() if k not in names}


def exact_keys(d: dict[str, Any], known: Iterable[str], where: str, at: str) -> None:
    """Refuse a key that is a known key in another case ("Default_Threshold"):
    a case-insensitive reader (Go's encoding/json) would take it for the known one."""
    folded = {k.casefold(): k for k in known}
    for k in d:
        twin = folded.get(k.casefold())
        if twin is not None and twin != k:
            raise ManifestError(
                f"{where}: key {at + k!r} differs from the known key {at + twin!r} only in "
                "case; keys are case-sensitive: rename or remove it",
                at + k,
            )


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}.get(
        type(v), "object" if isinstance(v, dict) else type(v).__name__
    )


def need(d: dict[str, Any], key: str, kinds: type | tuple[type, ...], where: str, at: str) -> Any:
    """A required key: present, not null, of the given type."""
    if key not in d:
        raise ManifestError(f"{where}: missing key {at + key!r}", at + key)
    if d[key] is None:
        raise ManifestError(f"{where}: field {at + key!r} is null; it is required", at + key)
    return kind(d[key], kinds, where, at + key)


def opt(d: dict[str, Any], key: str, kinds: type | tuple[type, ...], where: str, at: str) -> Any:
    """An optional key: absent or null means unset."""
    return None if d.get(key) is None else kind(d[key], kinds, where, at + key)


def kind(v: Any, kinds: type | tuple[type, ...], where: str, name: str) -> Any:
    bool_ok = kinds is bool or (isinstance(kinds, tuple) and bool in kinds)
    if not isinstance(v, kinds) or (isinstance(v, bool) and not bool_ok):
        raise ManifestError(f"{where}: field {name!r} has the wrong type ({_type_name(v)})", name)
    return v


def number(v: Any, where: str, name: str) -> float:
    """A finite JSON number (an integer is one; a boolean is not)."""
    kind(v, (int, float), where, name)
    if not math.isfinite(v):
        raise ManifestError(f"{where}: field {name!r} is {v}, not a finite number", name)
    return float(v)


def opt_number(d: dict[str, Any], key: str, where: str, at: str) -> float | None:
    v = opt(d, key, (int, float), where, at)
    return None if v is None else number(v, where, at + key)


def numbers(d: dict[str, Any], key: str, where: str, at: str) -> list[float]:
    """A required array of finite numbers."""
    items = need(d, key, list, where, at)
    return [number(x, where, at + key) for x in items]


def plain_file(d: dict[str, Any], where: str, at: str) -> str:
    """A file name inside the model directory: never a path that leaves it."""
    file = need(d, "file", str, where, at)
    if file in ("", ".", "..") or any(c in file for c in "/\\\0"):
        raise ManifestError(
            f"{where}: field {at + 'file'!r} must be a plain 'file' name in the model "
            f"directory (no '/', '\\', not '.' or '..', not empty), got {file!r}",
            at + "file",
        )
    return file


def sha256_hex(d: dict[str, Any], where: str, at: str) -> str:
    """One spelling of a hash, so every reader compares it the same way."""
    sha = need(d, "sha256", str, where, at)
    if not SHA256_RE.fullmatch(sha):
        raise ManifestError(
            f"{where}: field {at + 'sha256'!r} must be 64 lowercase hex digits "
            f"(sha256sum's output), got {sha!r}; write it in lowercase, in full",
            at + "sha256",
        )
    return sha
