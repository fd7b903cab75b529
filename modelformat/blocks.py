"""JSON objects with typed keys that give back the JSON they were read from.

The building blocks of modelformat.manifest: validation helpers whose errors
name the file and the dotted field, and a base class whose to_dict keeps the
key order read and every key it does not type.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


class ManifestError(ValueError):
    """A manifest or model file that must not be used; the message names the file and field."""


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


def _typed_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)} - {"extra", "keys"}


def split(cls: type, d: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    names = _typed_names(cls)
    typed = {k: v for k, v in d.items() if k in names}
    return typed, {k: v for k, v in d.items() if k not in names}


def need(d: dict[str, Any], key: str, kinds: type | tuple[type, ...], where: str, at: str) -> Any:
    if key not in d:
        raise ManifestError(f"{where}: missing key {at + key!r}")
    return kind(d[key], kinds, where, at + key)


def kind(v: Any, kinds: type | tuple[type, ...], where: str, name: str) -> Any:
    bool_ok = kinds is bool or (isinstance(kinds, tuple) and bool in kinds)
    if not isinstance(v, kinds) or (isinstance(v, bool) and not bool_ok):
        raise ManifestError(f"{where}: field {name!r} has the wrong type ({type(v).__name__})")
    return v


def plain_file(d: dict[str, Any], where: str, at: str) -> str:
    """A file name inside the model directory: never a path that leaves it."""
    file = need(d, "file", str, where, at)
    if not file or os.path.basename(file) != file:
        raise ManifestError(
            f"{where}: field {at + 'file'!r} must be a plain 'file' name in the model "
            f"directory, got {file!r}"
        )
    return file


def opt(d: dict[str, Any], key: str, kinds: type | tuple[type, ...], where: str, at: str) -> Any:
    return None if d.get(key) is None else kind(d[key], kinds, where, at + key)
