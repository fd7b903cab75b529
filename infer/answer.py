"""The shape of a `predict` answer, defined once, and its one-record byte encoder.

docs/PROTOCOL.md: a `predict` result is a map of five keys, in this order:
`p` (probability per record), `approve` (p >= threshold per record),
`threshold` (the one applied), `version` (the model's) and `ood` (per record,
a feature outside its training range; nil when the manifest has no ranges).
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from infer.protocol import RESPONSE

KEYS = ("p", "approve", "threshold", "version", "ood")
_P, _APPROVE, _THRESHOLD, _VERSION, _OOD = KEYS


def result(
    p: list[float], threshold: float, version: str, ood: list[bool] | None
) -> dict[str, Any]:
    """The `predict` result for records scored p (in request order)."""
    # A literal, not dict(zip(KEYS, ...)): this runs once per request of a
    # batch, and the zip costs three times as much.
    approve = [p[0] >= threshold] if len(p) == 1 else [x >= threshold for x in p]
    return {
        _P: p,
        _APPROVE: approve,
        _THRESHOLD: threshold,
        _VERSION: version,
        _OOD: ood,
    }


class OneRecordResult:
    """Encodes `[1, msgid, nil, result([p], threshold, version, [ood])]` for one record.

    Byte-identical to msgpack.Packer on the same response (a test checks it
    against result()) and about three times faster, which matters on the
    single-record path. The fixed bytes are derived from KEYS here.
    """

    def __init__(self, version: str) -> None:
        pack = msgpack.Packer().pack
        self._pack_int = pack
        k_p, k_approve, k_threshold, k_version, k_ood = (pack(k) for k in KEYS)
        self._head = bytes([0x94]) + pack(RESPONSE)
        # nil error, map of 5, "p": [float64 <p>], "approve": [<bool>], "threshold": float64 <t>
        self._body = struct.Struct(
            f">{2 + len(k_p) + 2}sd{len(k_approve) + 1}sB{len(k_threshold) + 1}sd"
        )
        self._p = pack(None) + bytes([0x80 | len(KEYS)]) + k_p + b"\x91\xcb"
        self._approve = k_approve + b"\x91"
        self._threshold = k_threshold + b"\xcb"
        self._version = k_version + pack(version)
        self._ood = {v: k_ood + pack(None if v is None else [v]) for v in (None, False, True)}

    def encode(self, msgid: int, p: float, threshold: float, ood: bool | None) -> bytes:
        approve = 0xC3 if p >= threshold else 0xC2
        body = self._body.pack(self._p, p, self._approve, approve, self._threshold, threshold)
        return b"".join((self._head, self._pack_int(msgid), body, self._version, self._ood[ood]))
