"""Bad input gets a precise error, never kills the sidecar, never corrupts stdout."""

from __future__ import annotations

import time
from typing import Any

import msgpack
import pytest

from tests.infer.sidecar import Sidecar

GOOD = [0.1, 0.2, 0.3]


def assert_still_serving(sc: Sidecar) -> None:
    res = sc.result("predict", [[GOOD]])
    assert len(res["p"]) == 1


@pytest.mark.parametrize(
    ("records", "record", "field", "fragment"),
    [
        ([GOOD, [0.1, float("nan"), 0.3]], 1, "depth_ratio", "nan"),
        ([[float("inf"), 0.2, 0.3]], 0, "tick_ratio", "inf"),
        ([GOOD, GOOD, [0.1, 0.2, float("-inf")]], 2, "price_dist", "-inf"),
        ([[0.1, 0.2, 1e300]], 0, "price_dist", "float32"),
        ([[0.1, 0.2]], 0, None, "expected 3 numbers"),
        ([GOOD, [0.1, 0.2, 0.3, 0.4]], 1, None, "got 4"),
        ([[0.1, "0.2", 0.3]], 0, "depth_ratio", "must be a number"),
        ([[0.1, True, 0.3]], 0, "depth_ratio", "must be a number"),
        ([[0.1, None, 0.3]], 0, "depth_ratio", "must be a number"),
        ([[0.1, [0.2], 0.3]], 0, "depth_ratio", "must be a number"),
        ([{"tick_ratio": 0.1, "depth_ratio": 0.2}], 0, "price_dist", "missing feature"),
        (
            [{"tick_ratio": 0.1, "depth_ratio": 0.2, "price_dist": 0.3, "spread": 1.0}],
            0,
            "spread",
            "unknown feature",
        ),
        (
            [GOOD, {"tick_ratio": 0.1, "depth_ratio": 0.2, "price_dst": 0.3}],
            1,
            "price_dst",
            "unknown",
        ),
        (
            [GOOD, {"tick_ratio": 0.1, "depth_ratio": "x", "price_dist": 0.3}],
            1,
            "depth_ratio",
            "number",
        ),
        ([GOOD, 7], 1, None, "array or a map"),
        ([GOOD, "abc"], 1, None, "array or a map"),
    ],
)
def test_bad_record_is_named_by_index_and_field(
    sidecar: Sidecar, records: list[Any], record: int, field: str | None, fragment: str
) -> None:
    err = sidecar.error("predict", [records])
    assert err.code == "bad_features"
    assert err.record == record
    assert err.field == field
    assert fragment in err.message and f"record {record}" in err.message
    assert_still_serving(sidecar)


def test_an_unknown_feature_named_by_a_huge_key_gets_an_answer_within_the_limit(
    sidecar: Sidecar,
) -> None:
    key = "k" * 1_000_000  # a request just under the 1 MiB message limit
    sidecar.send_raw(msgpack.packb([0, 13, "predict", [[{key: 1.0}]]]))
    response = sidecar.response(13)
    assert len(msgpack.packb(response)) < 1000
    err = response[2]
    assert err[0] == "bad_features" and err[2] == {"record": 0, "field": "k" * 57 + "..."}
    assert_still_serving(sidecar)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ([], "got 0 params"),
        ([[GOOD], 0.5, 1], "got 3 params"),
        ([GOOD[0]], "records must be an array"),
        ([{"a": 1}], "records must be an array"),
        ([[]], "empty"),
        ([[GOOD], 1.5], "threshold"),
        ([[GOOD], -0.1], "threshold"),
        ([[GOOD], float("nan")], "threshold"),
        ([[GOOD], "0.5"], "threshold"),
        ([[GOOD], True], "threshold"),
    ],
)
def test_bad_predict_params_are_bad_request(
    sidecar: Sidecar, params: list[Any], fragment: str
) -> None:
    err = sidecar.error("predict", params)
    assert err.code == "bad_request"
    assert fragment in err.message
    assert_still_serving(sidecar)


def test_too_many_records_is_bad_request(sidecar: Sidecar) -> None:
    # small integers keep 65,537 records under the 1 MiB message limit
    err = sidecar.error("predict", [[[0, 1, 0]] * 65_537])
    assert err.code == "bad_request" and "65537" in err.message
    assert len(sidecar.result("predict", [[[0, 1, 0]] * 65_536])["p"]) == 65_536


def test_unknown_method_and_params_on_parameterless_methods(sidecar: Sidecar) -> None:
    assert sidecar.error("predikt").code == "unknown_method"
    assert sidecar.error("info", [1]).code == "bad_request"
    assert_still_serving(sidecar)


@pytest.mark.parametrize(
    "message",
    [
        [0, 77, 5, []],  # method not a string
        [0, 77, "predict", {"records": []}],  # params not an array
    ],
)
def test_malformed_request_with_msgid_is_answered(sidecar: Sidecar, message: list[Any]) -> None:
    sidecar.send_raw(msgpack.packb(message))
    _, _, err, _ = sidecar.response(77)
    assert err[0] == "bad_request"
    assert_still_serving(sidecar)


@pytest.mark.parametrize(
    "message",
    [
        5,
        "hello",
        {"method": "predict"},
        [],
        [0, 1, "predict"],
        [0, -1, "info", []],
        [0, 2**32, "info", []],
        [0, "id", "info", []],
        [False, 1, "info", []],
        [2, "note", []],
        [1, 3, None, 1],
        [9, 1, 2, 3],
    ],
)
def test_non_request_messages_get_error_notifications(sidecar: Sidecar, message: Any) -> None:
    sidecar.send_raw(msgpack.packb(message))
    note = sidecar.notification("error")
    assert note[2][0]["code"] == "bad_message"
    assert_still_serving(sidecar)
    assert sidecar.responses == {}


def test_undecodable_bytes_then_valid_request_in_same_write(sidecar: Sidecar) -> None:
    # 0xc1 is never valid MessagePack: the decoder must resync right after it.
    sidecar.send_raw(msgpack.packb([0, 1, "info", []]) + b"\xc1")
    sidecar.response(1)
    assert sidecar.notification("error")[2][0]["code"] == "bad_message"
    sidecar.send_raw(b"\xc1\xc1\xc1")
    assert sidecar.notification("error")[2][0]["code"] == "bad_message"
    assert_still_serving(sidecar)


def test_array_header_over_limit_is_too_large_at_once_and_skipped(model_a: Any) -> None:
    # an array header announcing 2^32-1 elements: reported at once, then its
    # elements are skipped; they never come, so the idle rule ends the skip
    with Sidecar(model_a, "--resync-ms", "50") as sc:
        sc.ready()
        sc.send_raw(b"\xdd\xff\xff\xff\xff")
        note = sc.notification("error", timeout=10)
        assert note[2][0]["code"] == "too_large" and "declared length" in note[2][0]["message"]
        time.sleep(0.3)
        assert_still_serving(sc)
        assert sc.notifications == []  # the idle end of a skip is not reported twice


def test_huge_string_header_is_dropped_after_idle_pause(model_a: Any) -> None:
    # a str header announcing 4 GiB whose bytes never come
    with Sidecar(model_a, "--resync-ms", "50") as sc:
        sc.ready()
        sc.send_raw(b"\xdb\xff\xff\xff\xff")
        assert sc.notification("error", timeout=5)[2][0]["code"] == "bad_message"
        assert_still_serving(sc)


def test_message_over_one_mib_is_too_large(sidecar: Sidecar) -> None:
    big = msgpack.packb([0, 5, "predict", [[GOOD], "x" * (1 << 20)]])
    sidecar.send_raw(big)
    assert sidecar.notification("error")[2][0]["code"] == "too_large"
    assert 5 not in sidecar.responses
    assert_still_serving(sidecar)


def test_incomplete_message_is_dropped_after_idle_pause(model_a: Any) -> None:
    with Sidecar(model_a, "--resync-ms", "50") as sc:
        sc.ready()
        sc.send_raw(b"\x94\x00\x01")  # the start of a request that never ends
        note = sc.notification("error", timeout=5)
        assert note[2][0]["code"] == "bad_message" and "incomplete" in note[2][0]["message"]
        assert_still_serving(sc)


def test_random_bytes_flood_is_summarised_not_echoed_per_byte(sidecar: Sidecar) -> None:
    # 4096 positive fixints: each a valid MessagePack object, none a request
    sidecar.send_raw(bytes(range(64)) * 64)
    assert_still_serving(sidecar)
    sidecar.drain()
    assert 1 <= len(sidecar.notifications) <= 17 * 4  # at most 17 per read, however split
    total = sidecar.result("stats")["errors"]["bad_message"]
    assert total == 4096


@pytest.mark.parametrize(
    ("value", "message"),
    [("abc", "want a number in [0, 1], got 'abc'"), ("1.5", "threshold must be in [0, 1]")],
)
def test_a_bad_threshold_argument_is_named(value: str, message: str, capsys) -> None:
    from infer.__main__ import parse_args

    with pytest.raises(SystemExit) as e:
        parse_args(["--model", "m", "--threshold", value])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"argument --threshold: {message}" in err, err
