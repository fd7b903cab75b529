"""Unit tests of the stream decoder and record validation (no process, no model)."""

from __future__ import annotations

import msgpack
import pytest

from infer.protocol import MAX_MESSAGE_BYTES, Decoder, RPCError, classify
from infer.records import flatten, parse_threshold

FEATURES = ["tick_ratio", "depth_ratio", "price_dist"]


def test_decoder_reassembles_messages_split_at_every_byte() -> None:
    msgs = [[0, i, "predict", [[[0.1, 0.2, 0.3]]]] for i in range(3)]
    blob = b"".join(msgpack.packb(m) for m in msgs)
    d = Decoder()
    got = []
    for i in range(len(blob)):
        objs, errs = d.feed(blob[i : i + 1])
        assert errs == []
        got.extend(objs)
    assert got == msgs and d.pending == 0


def test_decoder_discards_buffer_after_undecodable_byte_and_resyncs() -> None:
    d = Decoder()
    good = msgpack.packb([0, 1, "info", []])
    objs, errs = d.feed(good + b"\xc1" + good)
    assert objs == [[0, 1, "info", []]]
    assert [e.code for e in errs] == ["bad_message"]
    objs, errs = d.feed(good)
    assert objs == [[0, 1, "info", []]] and errs == []


def test_decoder_rejects_message_over_limit_and_recovers() -> None:
    d = Decoder()
    big = msgpack.packb("x" * MAX_MESSAGE_BYTES)
    errors: list[RPCError] = []
    for i in range(0, len(big), 1 << 16):
        errors += d.feed(big[i : i + (1 << 16)])[1]
    assert [e.code for e in errors] == ["too_large"]
    assert d.feed(msgpack.packb([0, 2, "info", []]))[0] == [[0, 2, "info", []]]


def test_decoder_accepts_message_exactly_at_limit() -> None:
    payload = "x" * (MAX_MESSAGE_BYTES - 5)  # str32 header is 5 bytes
    blob = msgpack.packb(payload)
    assert len(blob) == MAX_MESSAGE_BYTES
    objs, errs = Decoder().feed(blob)
    assert errs == [] and objs == [payload]


def test_discard_incomplete_reports_only_when_something_is_pending() -> None:
    d = Decoder()
    assert d.discard_incomplete() is None
    d.feed(b"\x94\x00")
    err = d.discard_incomplete()
    assert err is not None and err.code == "bad_message" and d.pending == 0


def test_flatten_fast_path_keeps_feature_order_for_maps() -> None:
    recs = [{"price_dist": 3.0, "tick_ratio": 1.0, "depth_ratio": 2}]
    assert flatten(recs, FEATURES) == [1.0, 2, 3.0]


def test_flatten_names_first_bad_record_and_field() -> None:
    with pytest.raises(RPCError) as exc:
        flatten([[1.0, 2.0, 3.0], [1.0, float("nan"), 3.0]], FEATURES)
    assert (exc.value.code, exc.value.record, exc.value.field) == ("bad_features", 1, "depth_ratio")


@pytest.mark.parametrize(
    ("params", "want"),
    [([[1]], None), ([[1], None], None), ([[1], 0], 0.0), ([[1], 1], 1.0), ([[1], 0.25], 0.25)],
)
def test_parse_threshold_accepts(params: list, want: float | None) -> None:
    assert parse_threshold(params) == want


@pytest.mark.parametrize("msgid", [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2**32 - 1])
@pytest.mark.parametrize("ood", [None, False, True])
def test_one_record_encoding_is_byte_identical_to_packing_the_answer_shape(
    msgid: int, ood: bool | None
) -> None:
    from infer.answer import KEYS, OneRecordResult, result

    version = "20261124T020000Z-3f2a1c9b"
    enc = OneRecordResult(version)
    for p, t in [(0.5, 0.65), (0.65, 0.65), (0.0, 0.0), (1.0, 1.0), (0.123456789, 0.3)]:
        shape = result([p], t, version, None if ood is None else [ood])
        assert tuple(shape) == KEYS
        assert shape["approve"] == [p >= t]
        assert enc.encode(msgid, p, t, ood) == msgpack.packb([1, msgid, None, shape])


def test_protocol_doc_lists_exactly_the_error_codes() -> None:
    import re
    from pathlib import Path

    from infer.protocol import ERROR_CODES

    doc = (Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text()
    errors = doc.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    table = re.findall(r"^\| `([a-z_]+)`\s*\|", errors, flags=re.M)
    assert sorted(table) == sorted(ERROR_CODES)


def test_error_wire_shape_round_trips() -> None:
    plain = RPCError("no_model", "none")
    assert plain.to_wire() == ["no_model", "none"]
    full = RPCError("bad_features", "nan", 2, "price_dist")
    assert full.to_wire() == ["bad_features", "nan", {"record": 2, "field": "price_dist"}]
    back = RPCError.from_wire(msgpack.unpackb(msgpack.packb(full.to_wire())))
    assert (back.code, back.message, back.record, back.field) == (
        "bad_features",
        "nan",
        2,
        "price_dist",
    )
    old = RPCError.from_wire({"code": "bad_request", "message": "m", "record": 0})
    assert (old.code, old.message, old.record) == ("bad_request", "m", 0)


def test_decoder_skips_deep_and_oversized_messages_and_decodes_what_follows() -> None:
    good = msgpack.packb([0, 1, "info", []])
    d = Decoder()
    objs, errs = d.feed(b"\x91" * 2000 + b"\x00" + good)
    assert objs == [[0, 1, "info", []]] and [e.code for e in errs] == ["bad_message"]
    head = b"\xc6" + (3 * MAX_MESSAGE_BYTES).to_bytes(4, "big")
    payload = bytes(3 * MAX_MESSAGE_BYTES)
    got, errors = [], []
    stream = head + payload + good
    for i in range(0, len(stream), 1 << 18):
        o, e = d.feed(stream[i : i + (1 << 18)])
        got += o
        errors += e
    assert got == [[0, 1, "info", []]] and [e.code for e in errors] == ["too_large"]
    assert d.pending == 0


def test_decoder_takes_a_read_far_larger_than_its_buffer_whole() -> None:
    """A shutdown drains the pipe in one read, of megabytes of requests."""
    requests = [msgpack.packb([0, i, "predict", [[[1.5, 2.5, 3.5]]]]) for i in range(100_000)]
    read = b"".join(requests)
    assert len(read) > 4 * MAX_MESSAGE_BYTES  # the unpacker's max_buffer_size
    objs, errs = Decoder().feed(read)
    assert errs == [] and [o[1] for o in objs] == list(range(100_000))


def test_decoder_skips_a_read_full_of_over_nested_messages() -> None:
    """Each skipped message is one loop turn, not one more level of recursion."""
    deep = b"\x91" * 1100 + b"\x00"
    good = msgpack.packb([0, 1, "info", []])
    objs, errs = Decoder().feed(deep * 900 + good)
    assert objs == [[0, 1, "info", []]] and len(errs) == 900
    assert {e.code for e in errs} == {"bad_message"}


@pytest.mark.parametrize(
    ("message", "said"),
    [([1, 42, None, [0.5]], "responses from the client are not accepted: 42"),
     ([2, "stats", []], "notifications from the client are not accepted: 'stats'")],
)  # fmt: skip
def test_a_response_or_notification_from_the_client_is_refused_naming_it(
    message: list, said: str
) -> None:
    with pytest.raises(RPCError) as e:
        classify(message)
    assert e.value.code == "bad_message" and said in str(e.value)
