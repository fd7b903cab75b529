"""The byte-level path for the commonest read: one `predict` of array records.

`[0, msgid, "predict", [[[x, ...], ...]]]` with every x a float 32 (the Go
predictor's encoding) or every x a float 64 (what most msgpack libraries
write for a float), optionally followed by a threshold (nil, float 32 or
float 64), has one encoding once msgid's and the record count's are read, so
matching bytes skips unpacking into Python objects and the generic shape
checks. One record is scored through the scorer's preallocated single-row
binding and encoded by `answer.OneRecordResult`; several (the predictor's
batches) are scored with one onnxruntime call and answered as the general
path answers them. Anything else, including the same request encoded
otherwise, a threshold outside [0, 1], or a value or a score the fast checks
cannot clear (NaN, ±Inf, beyond float32, a score outside [0, 1]), goes to the
general path (server.py), which gives the same answer or names the bad field.
"""

from __future__ import annotations

import math
import struct

import msgpack
import numpy as np

from infer import answer
from infer.model import Model
from infer.protocol import RESPONSE
from infer.records import within_float32

_F32, _F64 = 0xCA, 0xCB
_STEP = {_F32: 5, _F64: 9}  # bytes per value: the type byte, then the value
_CODE = {_F32: "f", _F64: "d"}  # the value's struct code
_NIL = -1.0  # _threshold's answer for an explicit nil threshold
_REJECT = -2.0  # SinglePredict._ending's answer for a request that ends otherwise
_T32, _T64 = struct.Struct(">f"), struct.Struct(">d")
# "predict", then params [records] or [records, threshold]
_PARAMS = {b"\xa7predict\x91": False, b"\xa7predict\x92": True}
# The most records this path takes in one request; larger ones take the
# general path, so the layouts cached below stay small whatever record counts
# a client sends.
MAX_BATCH = 1024


def _threshold(data: bytes | memoryview, pos: int) -> float | None:
    """The threshold that ends data at pos: a float in [0, 1], _NIL for nil,
    None when it is anything else (the general path then answers it)."""
    n, kind = len(data) - pos, data[pos] if pos < len(data) else None
    if kind == 0xC0 and n == 1:
        return _NIL
    if kind == _F64 and n == 9:
        t = _T64.unpack_from(data, pos + 1)[0]
    elif kind == _F32 and n == 5:
        t = _T32.unpack_from(data, pos + 1)[0]
    else:
        return None
    return t if 0.0 <= t <= 1.0 else None  # NaN fails too


class SinglePredict:
    """Recognises one such request from its bytes."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._record = bytes([0x90 | width]) if 0 < width < 16 else b""
        # The bytes from the method name to one record's first value: the
        # commonest request is matched with one lookup of them.
        one = b"\x91" + self._record
        self._one = {tail + one: t for tail, t in _PARAMS.items()} if self._record else {}
        self._types = {kind: bytes([kind]) * width for kind in _STEP}  # of one record
        self._one_values = {
            kind: struct.Struct(">" + ("x" + code) * width) for kind, code in _CODE.items()
        }
        # (kind, record count) -> the values' Struct, and the bytes that every
        # record's header and every type byte of one value column must show.
        self._layouts: dict[tuple[int, int], tuple[struct.Struct, bytes, bytes]] = {}

    def match(
        self, data: bytes | memoryview
    ) -> tuple[int, tuple[float, ...], bool, float | None] | None:
        """(msgid, every record's values in a row, all float 32, threshold or
        None) when data is exactly one such request, else None."""
        # A read may end anywhere in a message, even inside its msgid.
        if not self._record or len(data) < 4 or data[0] != 0x94 or data[1] != 0:
            return None
        c = data[2]
        if c < 0x80:
            msgid, pos = c, 3
        elif c == 0xCC:
            msgid, pos = data[3], 4
        elif c == 0xCD:
            msgid, pos = int.from_bytes(data[3:5], "big"), 5
        elif c == 0xCE:
            msgid, pos = int.from_bytes(data[3:7], "big"), 7
        else:
            return None
        start = pos + 11
        with_threshold = self._one.get(bytes(data[pos:start]))
        if with_threshold is None:
            return self._match_batch(data, msgid, pos)
        if len(data) <= start:
            return None
        kind = data[start]
        step = _STEP.get(kind)
        if step is None:
            return None
        end = start + step * self.width
        if data[start:end:step] != self._types[kind]:
            return None
        t = self._ending(data, end, with_threshold)
        if t is _REJECT:
            return None
        return msgid, self._one_values[kind].unpack_from(data, start), kind == _F32, t

    def _match_batch(
        self, data: bytes | memoryview, msgid: int, pos: int
    ) -> tuple[int, tuple[float, ...], bool, float | None] | None:
        """match for requests of several records; pos is where "predict" starts."""
        with_threshold = _PARAMS.get(bytes(data[pos : pos + 9]))
        if with_threshold is None or len(data) < pos + 12:
            return None
        head = data[pos + 9]
        if 0x92 <= head <= 0x9F:
            n, start = head & 0x0F, pos + 10
        elif head == 0xDC:
            n, start = int.from_bytes(data[pos + 10 : pos + 12], "big"), pos + 12
        else:
            return None
        if not 1 < n <= MAX_BATCH or len(data) < start + 2:
            return None
        kind = data[start + 1]
        step = _STEP.get(kind)
        if step is None:
            return None
        size = 1 + step * self.width
        end = start + n * size
        values, headers, kinds = self._layout(kind, n)
        if data[start:end:size] != headers:
            return None
        for k in range(1, size, step):
            if data[start + k : end : size] != kinds:
                return None
        t = self._ending(data, end, with_threshold)
        if t is _REJECT:
            return None
        return msgid, values.unpack_from(data, start), kind == _F32, t

    @staticmethod
    def _ending(data: bytes | memoryview, end: int, given: bool) -> float | None:
        """The explicit threshold after the records, which end at end: None when
        there is none (or nil), _REJECT when data does not end as it should."""
        if not given:
            return None if len(data) == end else _REJECT
        t = _threshold(data, end)
        if t is None:
            return _REJECT
        return None if t is _NIL else t

    def _layout(self, kind: int, n: int) -> tuple[struct.Struct, bytes, bytes]:
        layout = self._layouts.get((kind, n))
        if layout is None:
            if len(self._layouts) >= 64:  # a client cycling through sizes: start over
                self._layouts.clear()
            record = "x" + ("x" + _CODE[kind]) * self.width
            layout = struct.Struct(">" + record * n), self._record * n, bytes([kind]) * n
            self._layouts[kind, n] = layout
        return layout


class SinglePath:
    """Answers a read that is exactly one such request, as encoded response bytes."""

    def __init__(self) -> None:
        self._match = SinglePredict(0)
        self._pack = msgpack.Packer().pack

    def answer(self, model: Model, data: bytes | memoryview) -> tuple[bytes, int] | None:
        """The response for data and its number of records, or None when the
        general path must take it."""
        width = len(model.features)
        m = self._match
        if m.width != width:
            m = self._match = SinglePredict(width)
        req = m.match(data)
        if req is None:
            return None
        msgid, values, exact32, t = req
        t = model.threshold if t is None else t
        try:
            if len(values) == width:
                scorer = model.scorer
                scored = scorer.one32(values) if exact32 else scorer.one64(values)
                if scored is None:
                    return None
                return model.one_result.encode(msgid, scored[0], t, scored[1]), 1
            return self._score_batch(model, msgid, values, exact32, t)
        except Exception:  # onnxruntime failed: the general path logs and answers it
            return None

    def _score_batch(
        self, model: Model, msgid: int, values: tuple[float, ...], exact32: bool, t: float
    ) -> tuple[bytes, int] | None:
        # Overflow of the float32 cast, NaN or ±Inf: the full checks name it.
        if not (exact32 or within_float32(values)):
            return None
        if not math.isfinite(sum(values)):
            return None
        rows = np.array(values, dtype=np.float32).reshape(-1, len(model.features))
        p = model.predict(rows).tolist()
        # A NaN makes the sum NaN; the general path then names the record.
        if not (math.isfinite(sum(p)) and min(p) >= 0.0 and max(p) <= 1.0):
            return None
        result = answer.result(p, t, model.version, model.ood(rows))
        return self._pack([RESPONSE, msgid, None, result]), len(p)
