"""Validate `predict` params and turn records into float32 rows.

The common case (well-formed records) takes a fast path of a few C-level
passes; only when it fails does the slow path walk the records to name the
first bad record and field.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Any

import numpy as np

from infer.protocol import BAD_FEATURES, BAD_REQUEST, MAX_RECORDS, RPCError, describe

_NUMBER = (float, int)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def within_float32(values: tuple[float, ...] | list[float | int]) -> bool:
    """Whether every value lies within float32's range (NaN aside: callers check it)."""
    return max(values) <= FLOAT32_MAX and min(values) >= -FLOAT32_MAX


def parse_threshold(params: list[Any]) -> float | None:
    """Check the shape of predict params; return the explicit threshold or None."""
    n = len(params)
    if n not in (1, 2):
        raise RPCError(
            BAD_REQUEST, f"predict takes [records] or [records, threshold], got {n} params"
        )
    records = params[0]
    if type(records) is not list:
        raise RPCError(BAD_REQUEST, f"records must be an array, got {type(records).__name__}")
    if not records:
        raise RPCError(BAD_REQUEST, "records is empty")
    if len(records) > MAX_RECORDS:
        raise RPCError(BAD_REQUEST, f"{len(records)} records is over the limit of {MAX_RECORDS}")
    if n == 1 or params[1] is None:
        return None
    t = params[1]
    if type(t) not in _NUMBER or not 0.0 <= t <= 1.0:  # NaN fails the range test too
        raise RPCError(BAD_REQUEST, f"threshold must be a number in [0, 1], got {describe(t)}")
    return float(t)


def flatten(records: list[Any], features: list[str]) -> list[float | int]:
    """All values of all records in feature order, as one flat list. Raises bad_features."""
    width = len(features)
    first = type(records[0])
    if first is list:
        if set(map(type, records)) == {list} and set(map(len, records)) == {width}:
            flat = list(chain.from_iterable(records))
            if _all_finite_numbers(flat):
                return flat
    elif first is dict:
        keys = set(features)
        if set(map(type, records)) == {dict} and all(r.keys() == keys for r in records):
            flat = [r[f] for r in records for f in features]
            if _all_finite_numbers(flat):
                return flat
    # Mixed array and map records, or a value the fast checks could not clear.
    raise_first_bad(records, features)
    return [v for r in records for v in (r if type(r) is list else [r[f] for f in features])]


def _all_finite_numbers(flat: list[Any]) -> bool:
    if not set(map(type, flat)) <= {float, int}:
        return False
    # The sum is NaN or ±Inf if any element is; a sum overflowing from finite values
    # needs elements far beyond float32, which the slow path then names.
    return math.isfinite(sum(flat, 0.0))


def _check_value(value: Any, index: int, name: str) -> None:
    if type(value) not in _NUMBER:
        raise RPCError(
            BAD_FEATURES,
            f"record {index}: field {name!r} must be a number, got {type(value).__name__}",
            index,
            name,
        )
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        raise RPCError(
            BAD_FEATURES,
            f"record {index}: field {name!r} is {value!r}, not a finite float32",
            index,
            name,
        )


def raise_first_bad(records: list[Any], features: list[str]) -> None:
    width = len(features)
    known = set(features)
    for i, rec in enumerate(records):
        if type(rec) is list:
            if len(rec) != width:
                raise RPCError(
                    BAD_FEATURES,
                    f"record {i}: expected {width} numbers ({', '.join(features)}), got {len(rec)}",
                    i,
                )
            for name, value in zip(features, rec, strict=True):
                _check_value(value, i, name)
        elif type(rec) is dict:
            for key in rec:
                if key not in known:
                    # Cut short: the key can be nearly a whole message long, and the
                    # answer must stay within the size limit.
                    name = str(key)
                    name = name if len(name) <= 60 else name[:57] + "..."
                    raise RPCError(
                        BAD_FEATURES,
                        f"record {i}: unknown feature {name!r} (expected {', '.join(features)})",
                        i,
                        name,
                    )
            for name in features:
                if name not in rec:
                    raise RPCError(BAD_FEATURES, f"record {i}: missing feature {name!r}", i, name)
                _check_value(rec[name], i, name)
        else:
            raise RPCError(
                BAD_FEATURES,
                f"record {i}: must be an array or a map, got {type(rec).__name__}",
                i,
            )
