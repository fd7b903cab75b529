"""The real sidecar answers every vector in vectors.json byte for byte (Go reads it too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vectors.runner import Session, load_cases

HERE = Path(__file__).resolve().parent
DOC, CASES = load_cases(HERE / "vectors.json")


@pytest.mark.parametrize("session", sorted(DOC["sessions"]))
def test_sidecar_answers_vectors_byte_for_byte(session: str) -> None:
    cases = [c for c in CASES if c.session == session]
    assert cases
    with Session(HERE, DOC["sessions"][session]) as sess:
        for case in cases:
            sess.check(case)


def test_vectors_cover_every_error_code() -> None:
    import msgpack

    codes = {c.expect_code for c in CASES if c.expect_code}
    for c in CASES:
        if c.expect:
            msg = msgpack.Unpacker(raw=False)
            msg.feed(c.expect)
            obj = next(iter(msg))
            if obj[0] == 1 and obj[2]:
                codes.add(obj[2][0])
            elif obj[0] == 2 and obj[1] == "error":
                codes.add(obj[2][0]["code"])
    want = {"bad_request", "bad_features", "unknown_method", "no_model", "reload_failed"}
    assert want | {"bad_message", "too_large"} <= codes


def test_prefix_cases_end_their_session() -> None:
    for i, c in enumerate(CASES):
        if c.mode == "prefix":
            assert all(later.session != c.session for later in CASES[i + 1 :]), c.name
