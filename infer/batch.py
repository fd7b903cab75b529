"""Score the `predict` requests of one read with one onnxruntime call.

Pure apart from logging: score() takes the requests and their values and
returns each request's result or error, in request order; the server packs
them. A request holding a bad row (a value too big for float32, or a record
the model scores outside [0, 1]) gets an error and the others keep their
answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infer import answer
from infer import protocol as proto
from infer.model import Model
from infer.records import FLOAT32_MAX, raise_first_bad

log = logging.getLogger("infer")


# (msgid, records, number of records, threshold) of one `predict` request.
# A plain tuple: the server builds one per request, and a NamedTuple costs
# three times as much to construct.
Request = tuple[int, list[Any], int, float]


@dataclass(slots=True)
class Scored:
    results: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (msgid, result)
    errors: list[tuple[int, proto.RPCError]] = field(default_factory=list)  # (msgid, error)
    records: int = 0  # records answered with a probability


def score(model: Model, batch: list[Request], flat: list[float | int]) -> Scored:
    """Answer every request of batch; flat holds all their values, in order."""
    out = Scored()
    width = len(model.features)
    with np.errstate(over="ignore"):  # overflow to ±Inf is handled just below
        rows = np.array(flat, dtype=np.float32).reshape(-1, width)
    # False for NaN, ±Inf and float32's largest value, to which the cast
    # rounds a value up to half a step beyond it: those rows are judged on
    # the values as sent.
    if not (np.abs(rows) < FLOAT32_MAX).all():
        sent = np.abs(np.asarray(flat, dtype=np.float64)).reshape(-1, width)

        def too_big(req: Request, _: int, __: int) -> proto.RPCError:
            try:
                raise_first_bad(req[1], model.features)
            except proto.RPCError as exc:
                return exc
            return proto.RPCError(proto.BAD_FEATURES, "a value is not a finite float32")

        batch, kept = _drop(batch, (sent <= FLOAT32_MAX).all(axis=1), too_big, out)
        rows = rows[kept]
        if not batch:
            return out
    try:
        p = model.predict(rows)
    except Exception as exc:
        log.exception("onnxruntime failed", extra={"rows": len(rows)})
        err = proto.RPCError(proto.INTERNAL, f"onnxruntime failed: {exc}")
        out.errors += [(req[0], err) for req in batch]
        return out
    if not (p.min() >= 0.0 and p.max() <= 1.0):  # a NaN makes min() NaN

        def not_probability(_: Request, start: int, i: int) -> proto.RPCError:
            value = float(p[start + i])
            log.error(
                "model output is not a probability",
                extra={"version": model.version, "record": i, "p": repr(value)},
            )
            return proto.RPCError(
                proto.BAD_OUTPUT,
                f"model {model.version} scored record {i} as {value!r}, "
                "not a probability in [0, 1]; no decision was made",
                record=i,
            )

        batch, kept = _drop(batch, (p >= 0.0) & (p <= 1.0), not_probability, out)
        rows, p = rows[kept], p[kept]
        if not batch:
            return out
    ps = p.tolist()
    ood = model.ood(rows)
    start = 0
    version, results = model.version, out.results
    for msgid, _, n, t in batch:
        end = start + n
        flags = None if ood is None else ood[start:end]
        results.append((msgid, answer.result(ps[start:end], t, version, flags)))
        start = end
    out.records = start
    return out


def _drop(
    batch: list[Request],
    row_ok: np.ndarray,
    error_for: Callable[[Request, int, int], proto.RPCError],
    out: Scored,
) -> tuple[list[Request], np.ndarray]:
    """Give error_for(request, its first row, index of its first bad row) to every
    request with a row that is not row_ok; return the others and their rows' mask."""
    kept_rows = np.ones(len(row_ok), dtype=bool)
    keep, start = [], 0
    for req in batch:
        end = start + req[2]
        bad = np.flatnonzero(~row_ok[start:end])
        if len(bad):
            kept_rows[start:end] = False
            out.errors.append((req[0], error_for(req, start, int(bad[0]))))
        else:
            keep.append(req)
        start = end
    return keep, kept_rows
