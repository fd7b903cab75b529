"""The well-formed predict requests of vectors.json, which the sidecar answers.

Also the feature records and request builders the other cases (cases.py) use.
"""

from __future__ import annotations

from typing import Any

import msgpack

R0 = [0.1, 0.2, 0.3]
R1 = [0.5, -0.5, -2.0]
R2 = [-1.0, -1.0, 3.0]
NAMES = ["tick_ratio", "depth_ratio", "price_dist"]


def req(msgid: int, method: Any, params: Any) -> bytes:
    return msgpack.packb([0, msgid, method, params])


def m(rec: list[float]) -> dict[str, float]:
    return dict(zip(NAMES, rec, strict=True))


# (name, description, session, request bytes, mode, intent) — intent is checked at generation:
#   ("p", records, threshold) the result's p equals onnxruntime's and approve uses threshold
#   ("error", code, record, field) a response error; ("note", code) an error notification
CaseSpec = tuple[str, str, str, bytes, str, tuple[Any, ...]]

PREDICT_CASES: list[CaseSpec] = [
    (
        "predict_array_one",
        "one array record, default threshold",
        "model",
        req(1, "predict", [[R0]]),
        "bytes",
        ("p", [R0], 0.65),
    ),
    (
        "predict_array_batch",
        "three array records in one request",
        "model",
        req(2, "predict", [[R0, R1, R2]]),
        "bytes",
        ("p", [R0, R1, R2], 0.65),
    ),
    (
        "predict_map_one",
        "one map record keyed by feature name",
        "model",
        req(3, "predict", [[m(R1)]]),
        "bytes",
        ("p", [R1], 0.65),
    ),
    (
        "predict_map_reordered",
        "map keys in another order than the manifest",
        "model",
        req(4, "predict", [[{"price_dist": -2.0, "tick_ratio": 0.5, "depth_ratio": -0.5}]]),
        "bytes",
        ("p", [R1], 0.65),
    ),
    (
        "predict_mixed",
        "array and map records mixed in one request",
        "model",
        req(5, "predict", [[R0, m(R2)]]),
        "bytes",
        ("p", [R0, R2], 0.65),
    ),
    (
        "predict_threshold",
        "explicit threshold 0.3",
        "model",
        req(6, "predict", [[R0, R1, R2], 0.3]),
        "bytes",
        ("p", [R0, R1, R2], 0.3),
    ),
    (
        "predict_threshold_int",
        "integer threshold 1 (approves only p == 1)",
        "model",
        req(7, "predict", [[R0], 1]),
        "bytes",
        ("p", [R0], 1.0),
    ),
    (
        "predict_threshold_nil",
        "nil threshold means the default",
        "model",
        req(8, "predict", [[R0], None]),
        "bytes",
        ("p", [R0], 0.65),
    ),
    (
        "predict_ints_and_float32",
        "integer and float 32 feature values",
        "model",
        msgpack.packb([0, 9, "predict", [[[1, -1, 0.25]]]], use_single_float=True),
        "bytes",
        ("p", [[1.0, -1.0, 0.25]], 0.65),
    ),
    (
        "predict_ood",
        "a price_dist far outside the training range is flagged",
        "model",
        req(10, "predict", [[R0, [0.1, 0.2, 50.0]]]),
        "bytes",
        ("p", [R0, [0.1, 0.2, 50.0]], 0.65),
    ),
    (
        "predict_max_msgid",
        "msgid 2^32-1 is echoed",
        "model",
        req(2**32 - 1, "predict", [[R0]]),
        "bytes",
        ("p", [R0], 0.65),
    ),
]
