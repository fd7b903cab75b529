"""The byte-level path for the commonest request: one `predict` of one array record.

`[0, msgid, "predict", [[[x, ...]]]]` with every x a float 32 (the Go
predictor's encoding) or every x a float 64 (what most msgpack libraries
write for a float) has one encoding once msgid's is read, so matching bytes
skips unpacking into Python objects and the generic shape checks. Anything
else, including the same request encoded otherwise, a threshold, or a value
the scorer cannot take as is (NaN, ±Inf, beyond float32), goes to the general
path (server.py), which gives the same answer or names the bad field.
"""

from __future__ import annotations

import struct

from infer.model import Model

_F32, _F64 = 0xCA, 0xCB


class SinglePredict:
    """Recognises one such request from its bytes."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._tail = b"\xa7predict\x91\x91" + bytes([0x90 | width]) if width < 16 else b""
        self._types = {_F32: bytes([_F32]) * width, _F64: bytes([_F64]) * width}
        self._values = {
            _F32: struct.Struct(">" + "xf" * width),
            _F64: struct.Struct(">" + "xd" * width),
        }
        self._step = {_F32: 5, _F64: 9}

    def match(self, data: bytes | memoryview) -> tuple[int, tuple[float, ...], bool] | None:
        """(msgid, values, all float 32) when data is exactly one such request, else None."""
        tail = self._tail
        if not tail or len(data) < 3 or data[0] != 0x94 or data[1] != 0:
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
        start = pos + len(tail)
        if len(data) <= start or data[pos:start] != tail:
            return None
        kind = data[start]
        step = self._step.get(kind)
        if (
            step is None
            or len(data) != start + step * self.width
            or data[start::step] != self._types[kind]
        ):
            return None
        return msgid, self._values[kind].unpack_from(data, start), kind == _F32


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
        msgid, values, exact32 = req
        scorer = model.scorer
        scored = scorer.one32(values) if exact32 else scorer.one64(values)
        if scored is None:
            return None
        return model.one_result.encode(msgid, scored[0], model.threshold, scored[1])
