"""The byte-level path for one `predict` request of array records (infer/single.py)."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infer.protocol import RPCError
from infer.single import MAX_BATCH, SinglePredict
from tests.infer.sidecar import Sidecar

FEATURES = ["tick_ratio", "depth_ratio", "price_dist"]  # model_a's, in its order


def go_request(msgid: int, values: list[float], **extra: object) -> bytes:
    """The request as the Go predictor encodes it: compact msgid, float 32 values."""
    return go_batch(msgid, [values], **extra)


def go_batch(msgid: int, records: list[list[float]], **extra: object) -> bytes:
    """The Go predictor's batch: one request of several float 32 array records."""
    return msgpack.packb([0, msgid, "predict", [records]], use_single_float=True, **extra)


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
        msgpack.packb([0, 1, "predict", [[]]], use_single_float=True),  # no record
        msgpack.packb([0, 1, "predict", [[[0.1, 0.2, 0.3], [0.1, 0.2]]]], use_single_float=True),
        msgpack.packb([0, 1, "predict", [[[0.1, 0.2, 0.3], [1, 0.2, 0.3]]]], use_single_float=True),
        # float 32 and float 64 records in one request
        go_batch(1, [[0.1, 0.2, 0.3]])[:-16]
        + msgpack.packb([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])[1:],
        go_batch(1, [[0.1, 0.2, 0.3]] * 3)[:-1],  # truncated in the last record
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


@pytest.mark.parametrize("n", [2, 15, 16, 300, MAX_BATCH])
def test_single_predict_reads_every_record_of_a_batch(n: int) -> None:
    records = [[i * 0.5, -i * 0.25, 1e30 - i] for i in range(n)]
    want = tuple(f32(v) for r in records for v in r)
    assert SinglePredict(3).match(go_batch(70_000, records)) == (70_000, want, True, None)
    as64 = msgpack.packb([0, 5, "predict", [records, 0.75]])
    assert SinglePredict(3).match(as64) == (5, tuple(v for r in records for v in r), False, 0.75)


def test_a_batch_over_the_limit_takes_the_general_path(sidecar: Sidecar) -> None:
    records = [[0.1, 0.2, 0.3]] * (MAX_BATCH + 1)
    assert SinglePredict(3).match(go_batch(1, records)) is None
    sidecar.send_raw(go_batch(21, records))
    assert len(sidecar.response(21)[3]["p"]) == MAX_BATCH + 1


def test_a_read_of_the_generic_shape_leaves_one_that_is_not() -> None:
    """The record count in the array header must match the records that follow."""
    data = bytearray(go_batch(1, [[0.1, 0.2, 0.3]] * 3))
    at = data.index(b"\x93")  # the records array's header: fixarray of 3
    data[at] = 0x92
    assert SinglePredict(3).match(bytes(data)) is None
    data[at] = 0x94
    assert SinglePredict(3).match(bytes(data)) is None


@pytest.mark.parametrize("msgid", [5, 200, 40_000, 2**31])
def test_a_read_that_ends_inside_a_request_is_no_request(msgid: int) -> None:
    """A read may end anywhere in a message, the msgid's bytes included."""
    for data in (
        go_request(msgid, [0.1, 0.2, 0.3]),
        go_batch(msgid, [[0.1, 0.2, 0.3]] * 4),
        msgpack.packb([0, msgid, "predict", [[[0.1, 0.2, 0.3]], 0.5]]),
    ):
        for end in range(len(data)):
            assert SinglePredict(3).match(data[:end]) is None, (msgid, end)


def test_a_request_written_in_pieces_is_answered_once_whole(sidecar: Sidecar) -> None:
    data = go_request(200, [0.1, 0.2, 0.3])  # msgid 200: 0xcc and one byte
    sidecar.send_raw(data[:3])
    time.sleep(0.2)  # the sidecar reads the three bytes alone
    sidecar.send_raw(data[3:])
    assert sidecar.response(200)[2] is None
    assert sidecar.proc.poll() is None


def test_byte_path_answers_exactly_like_the_general_path(sidecar: Sidecar) -> None:
    # A map record sends the same values to the general path.
    rows = [[0.1, -0.2, 0.3], [5.0, 5.0, 5.0], [-1e30, 0.0, 1e-30], [0.0, 0.0, 0.0]]
    for i, row in enumerate(rows):
        x = list(map(f32, row))
        record = dict(zip(FEATURES, x, strict=True))
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
    # 3.4028235e38 is beyond float32's largest value, yet packing it as a
    # float32 would round it down to that value.
    for msgid, x in ((9, 1e300), (10, 3.4028235e38), (11, -3.4028235e38)):
        sidecar.send_raw(msgpack.packb([0, msgid, "predict", [[[0.1, x, 0.3]]]]))
        err = RPCError.from_wire(sidecar.response(msgid)[2])
        assert err.code == "bad_features" and err.field == "depth_ratio", x


def test_float32s_largest_value_is_scored_and_one_just_beyond_it_is_refused(
    sidecar: Sidecar,
) -> None:
    largest = float(np.finfo(np.float32).max)
    beyond = 3.4028235e38  # rounds to `largest` as a float32
    # Two requests in one read: the general path scores them in one call.
    sidecar.send_raw(
        msgpack.packb([0, 31, "predict", [[[0.1, largest, -largest]]]])
        + msgpack.packb([0, 32, "predict", [[[0.1, 0.2, 0.3], [beyond, 0.2, 0.3]]]])
    )
    assert sidecar.response(31)[2] is None
    err = RPCError.from_wire(sidecar.response(32)[2])
    assert err.code == "bad_features" and err.record == 1 and err.field == "tick_ratio"
    for msgid, x in ((33, largest), (34, -largest)):  # alone: the byte path
        sidecar.send_raw(msgpack.packb([0, msgid, "predict", [[[0.1, x, 0.3]]]]))
        assert sidecar.response(msgid)[2] is None


def test_byte_path_sends_non_finite_values_to_the_full_checks(sidecar: Sidecar) -> None:
    sidecar.send_raw(go_request(7, [0.1, float("nan"), 0.3]))
    err = RPCError.from_wire(sidecar.response(7)[2])
    assert err.code == "bad_features" and err.record == 0 and err.field == "depth_ratio"
    sidecar.send_raw(go_request(8, [0.1, 0.2, 0.3]))
    assert sidecar.response(8)[2] is None
    stats = sidecar.result("stats")
    assert stats["requests"] == 2 and stats["errors"] == {"bad_features": 1}


@pytest.mark.parametrize("n", [2, 16, 40])
def test_byte_path_answers_a_batch_exactly_like_the_general_path(sidecar: Sidecar, n: int) -> None:
    # Every other row far outside the training ranges, so ood varies within the batch.
    scale = [0.1, 1e6]
    rows = [
        [f32((i % 7 - 3) * 0.1), f32((i % 5 - 2) * 0.1), f32((i - 5) * scale[i % 2])]
        for i in range(n)
    ]
    maps = [dict(zip(FEATURES, r, strict=True)) for r in rows]
    before = sidecar.result("stats")
    sidecar.send_raw(go_batch(1000 + n, rows))
    fast32 = sidecar.response(1000 + n)
    sidecar.send_raw(msgpack.packb([0, 2000 + n, "predict", [rows, 0.4]]))
    fast64 = sidecar.response(2000 + n)
    sidecar.send_raw(msgpack.packb([0, 3000 + n, "predict", [maps]]))
    general = sidecar.response(3000 + n)
    sidecar.send_raw(msgpack.packb([0, 4000 + n, "predict", [maps, 0.4]]))
    general_t = sidecar.response(4000 + n)
    assert fast32[2] is None and len(fast32[3]["p"]) == n
    assert fast32[2:] == general[2:]
    assert fast64[2:] == general_t[2:] and fast64[3]["threshold"] == 0.4
    assert len(set(general[3]["ood"])) == 2, "the rows should be both in and out of range"
    after = sidecar.result("stats")
    assert after["requests"] - before["requests"] == 4 + 1  # the stats call itself counts
    assert after["records"] - before["records"] == 4 * n
    assert after["batches"] - before["batches"] == 4


def test_byte_path_sends_a_batch_with_a_bad_value_to_the_full_checks(sidecar: Sidecar) -> None:
    rows = [[0.1, 0.2, 0.3]] * 5
    sidecar.send_raw(go_batch(11, [*rows[:3], [0.1, 0.2, float("inf")], *rows[3:]]))
    err = RPCError.from_wire(sidecar.response(11)[2])
    assert err.code == "bad_features" and err.record == 3 and err.field == "price_dist"
    sidecar.send_raw(msgpack.packb([0, 12, "predict", [[*rows, [0.1, -1e300, 0.3]]]]))
    err = RPCError.from_wire(sidecar.response(12)[2])
    assert err.code == "bad_features" and err.record == 5 and err.field == "depth_ratio"
    sidecar.send_raw(go_batch(13, rows))
    assert sidecar.response(13)[2] is None


@pytest.fixture(scope="module")
def shared_sidecar(model_a: Path) -> Iterator[Sidecar]:
    with Sidecar(model_a, "--log-level", "error") as sc:
        sc.ready()
        yield sc


# Values in and far out of the training ranges, ±0, ±Inf, NaN; float 64 ones
# also beyond float32.
F32S = st.floats(width=32) | st.sampled_from([0.0, -0.0, 1e-3, -2.5])
F64S = st.floats() | st.sampled_from([3.5e38, -1e300, 1e-320])


@st.composite
def requests(draw: st.DrawFn) -> tuple[list[list[float]], bool, float | None]:
    single = draw(st.booleans())
    value = F32S if single else F64S
    n = draw(st.integers(min_value=1, max_value=40))
    records = draw(st.lists(st.lists(value, min_size=3, max_size=3), min_size=n, max_size=n))
    threshold = draw(st.none() | st.floats(min_value=0.0, max_value=1.0))
    return records, single, threshold


@settings(max_examples=80, deadline=None)
@given(request=requests())
def test_byte_path_and_general_path_agree_on_any_array_records(
    shared_sidecar: Sidecar, request: tuple[list[list[float]], bool, float | None]
) -> None:
    """Whatever the values, the array request (byte path when it can) and the
    same values as map records (always the general path) get the same answer."""
    records, single, threshold = request
    params: list[object] = [records] if threshold is None else [records, threshold]
    shared_sidecar.send_raw(msgpack.packb([0, 1, "predict", params], use_single_float=single))
    fast = shared_sidecar.response(1)
    maps = [dict(zip(FEATURES, r, strict=True)) for r in records]
    params = [maps] if threshold is None else [maps, threshold]
    # The same encoding: float 32 values are exact in either, the threshold is not.
    shared_sidecar.send_raw(msgpack.packb([0, 2, "predict", params], use_single_float=single))
    general = shared_sidecar.response(2)
    assert fast[2:] == general[2:]
