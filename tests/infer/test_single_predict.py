"""The byte-level path for a one-record `predict` request (infer/single.py)."""

from __future__ import annotations

import struct

import msgpack
import pytest

from infer.protocol import RPCError
from infer.single import SinglePredict
from tests.infer.sidecar import Sidecar


def go_request(msgid: int, values: list[float], **extra: object) -> bytes:
    """The request as the Go predictor encodes it: compact msgid, float 32 values."""
    return msgpack.packb([0, msgid, "predict", [[values]]], use_single_float=True, **extra)


def f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


@pytest.mark.parametrize("msgid", [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2**32 - 1])
def test_single_predict_reads_msgid_and_float32_values(msgid: int) -> None:
    values = [0.1, -2.5, 3e38]
    want = (msgid, tuple(map(f32, values)), True, None)
    assert SinglePredict(3).match(go_request(msgid, values)) == want
    assert SinglePredict(3).match(memoryview(go_request(msgid, values))) is not None


@pytest.mark.parametrize("msgid", [0, 127, 128, 65_536, 2**32 - 1])
def test_single_predict_reads_float64_values_as_python_clients_send_them(msgid: int) -> None:
    values = [0.1, -2.5, 1e300]
    data = msgpack.packb([0, msgid, "predict", [[values]]])
    assert SinglePredict(3).match(data) == (msgid, tuple(values), False, None)


@pytest.mark.parametrize(
    ("threshold", "single", "want"),
    [
        (0.5, False, 0.5),
        (0.25, True, 0.25),
        (0.0, False, 0.0),
        (1.0, True, 1.0),
        (None, False, None),
    ],
)
def test_single_predict_reads_an_explicit_threshold(
    threshold: float | None, single: bool, want: float | None
) -> None:
    data = msgpack.packb([0, 3, "predict", [[[0.5, 1.0, 2.0]], threshold]], use_single_float=single)
    assert SinglePredict(3).match(data) == (3, (0.5, 1.0, 2.0), single, want)


@pytest.mark.parametrize(
    "data",
    [
        msgpack.packb([0, 1, "predict", [[[0.1, 0.2, 0.3]], 1.5]]),  # threshold out of range
        msgpack.packb([0, 1, "predict", [[[0.1, 0.2, 0.3]], float("nan")]]),
        msgpack.packb([0, 1, "predict", [[[0.1, 0.2, 0.3]], 1]]),  # an integer threshold
        msgpack.packb([0, 1, "predict", [[[0.1, 0.2, 0.3]], 0.5, 0.5]]),
        msgpack.packb([0, 1, "predict", [[[0.1, 0.2, 0.3]], 0.5]])[:-1],
        msgpack.packb([0, 1, "predict", [[[0.1, 0.2, 0.3]]]])[:-1],  # truncated float 64
        msgpack.packb([0, 1, "predict", [[[0.1, 0.2, 0.3]] * 2]], use_single_float=True),
        msgpack.packb([0, 1, "predict", [[[0.1, 0.2]]]], use_single_float=True),
        msgpack.packb([0, 1, "predict", [[[1, 0.2, 0.3]]]], use_single_float=True),
        msgpack.packb([0, 1, "predictx", [[[0.1, 0.2, 0.3]]]], use_single_float=True),
        msgpack.packb([0, -1, "predict", [[[0.1, 0.2, 0.3]]]], use_single_float=True),
        msgpack.packb([1, 1, "predict", [[[0.1, 0.2, 0.3]]]], use_single_float=True),
        go_request(1, [0.1, 0.2, 0.3]) + b"\x90",  # a second message follows
        go_request(1, [0.1, 0.2, 0.3])[:-1],  # truncated
        b"",
        b"\x94",
    ],
)
def test_single_predict_leaves_everything_else_to_the_general_path(data: bytes) -> None:
    assert SinglePredict(3).match(data) is None


def test_byte_path_answers_exactly_like_the_general_path(sidecar: Sidecar) -> None:
    # A map record sends the same values to the general path.
    rows = [[0.1, -0.2, 0.3], [5.0, 5.0, 5.0], [-1e30, 0.0, 1e-30], [0.0, 0.0, 0.0]]
    names = ["tick_ratio", "depth_ratio", "price_dist"]
    for i, row in enumerate(rows):
        x = list(map(f32, row))
        record = dict(zip(names, x, strict=True))
        sidecar.send_raw(go_request(100 + i, row))
        fast32 = sidecar.response(100 + i)
        sidecar.send_raw(msgpack.packb([0, 200 + i, "predict", [[x]]]))
        fast64 = sidecar.response(200 + i)
        sidecar.send_raw(msgpack.packb([0, 300 + i, "predict", [[record]]]))
        general = sidecar.response(300 + i)
        assert fast32[2] is None and len(fast32[3]["p"]) == 1
        assert fast32[2:] == fast64[2:] == general[2:]
        sidecar.send_raw(msgpack.packb([0, 400 + i, "predict", [[x], 0.3]]))
        fast_t = sidecar.response(400 + i)
        sidecar.send_raw(msgpack.packb([0, 500 + i, "predict", [[record], 0.3]]))
        assert fast_t[2:] == sidecar.response(500 + i)[2:]
        assert fast_t[3]["threshold"] == 0.3
    stats = sidecar.result("stats")
    assert stats["batches"] == 5 * len(rows) and stats["errors"] == {}


def test_byte_path_sends_values_beyond_float32_to_the_full_checks(sidecar: Sidecar) -> None:
    sidecar.send_raw(msgpack.packb([0, 9, "predict", [[[0.1, 1e300, 0.3]]]]))
    err = RPCError.from_wire(sidecar.response(9)[2])
    assert err.code == "bad_features" and err.field == "depth_ratio"


def test_byte_path_sends_non_finite_values_to_the_full_checks(sidecar: Sidecar) -> None:
    sidecar.send_raw(go_request(7, [0.1, float("nan"), 0.3]))
    err = RPCError.from_wire(sidecar.response(7)[2])
    assert err.code == "bad_features" and err.record == 0 and err.field == "depth_ratio"
    sidecar.send_raw(go_request(8, [0.1, 0.2, 0.3]))
    assert sidecar.response(8)[2] is None
    stats = sidecar.result("stats")
    assert stats["requests"] == 2 and stats["errors"] == {"bad_features": 1}
