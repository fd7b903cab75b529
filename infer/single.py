"""The byte-level path for the commonest request: one `predict` of one array record.

`[0, msgid, "predict", [[[x, ...]]]]` with every x a float 32 (the Go
predictor's encoding) or every x a float 64 (what most msgpack libraries
write for a float), optionally followed by a threshold (nil, float 32 or
float 64), has one encoding once msgid's is read, so matching bytes skips
unpacking into Python objects and the generic shape checks. Anything else,
including the same request encoded otherwise, a threshold outside [0, 1], or
a value the scorer cannot take as is (NaN, ±Inf, beyond float32), goes to the
general path (server.py), which gives the same answer or names the bad field.
"""

from __future__ import annotations

import struct

from infer.model import Model

_F32, _F64 = 0xCA, 0xCB
_NIL = -1.0  # _threshold's answer for an explicit nil threshold
_T32, _T64 = struct.Struct(">f"), struct.Struct(">d")


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
        record = b"\x91" + bytes([0x90 | width]) if width < 16 else b""
        # params [records] or [records, threshold]
        self._tails = {b"\xa7predict\x91" + record: False, b"\xa7predict\x92" + record: True}
        self._tail_len = 9 + len(record)
        self._types = {_F32: bytes([_F32]) * width, _F64: bytes([_F64]) * width}
        self._values = {
            _F32: struct.Struct(">" + "xf" * width),
            _F64: struct.Struct(">" + "xd" * width),
        }
        self._step = {_F32: 5, _F64: 9}

    def match(
        self, data: bytes | memoryview
    ) -> tuple[int, tuple[float, ...], bool, float | None] | None:
        """(msgid, values, all float 32, threshold or None) when data is exactly
        one such request, else None."""
        if self._tail_len == 9 or len(data) < 3 or data[0] != 0x94 or data[1] != 0:
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
        start = pos + self._tail_len
        with_threshold = self._tails.get(bytes(data[pos:start]))
        if with_threshold is None or len(data) <= start:
            return None
        kind = data[start]
        step = self._step.get(kind)
        if step is None:
            return None
        end = start + step * self.width
        if data[start:end:step] != self._types[kind]:
            return None
        threshold = None
        if with_threshold:
            threshold = _threshold(data, end)
            if threshold is None:
                return None
        elif len(data) != end:
            return None
        t = None if threshold is _NIL else threshold
        return msgid, self._values[kind].unpack_from(data, start), kind == _F32, t


class SinglePath:
    """Answers a read that is exactly one such request, as encoded response bytes."""

    def __init__(self) -> None:
        self._match = SinglePredict(0)

    def answer(self, model: Model, data: bytes | memoryview) -> bytes | None:
        """The response for data, or None when the general path must take it."""
        m = self._match
        if m.width != len(model.features):
            m = self._match = SinglePredict(len(model.features))
        req = m.match(data)
        if req is None:
            return None
        msgid, values, exact32, t = req
        scorer = model.scorer
        scored = scorer.one32(values) if exact32 else scorer.one64(values)
        if scored is None:
            return None
        t = model.threshold if t is None else t
        return model.one_result.encode(msgid, scored[0], t, scored[1])
