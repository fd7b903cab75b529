"""The serving loop's reads: spin, then block; stop spinning on a busy host."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from infer import transport
from infer.transport import Stdio


@pytest.fixture
def pipe_io() -> Iterator[tuple[Stdio, int]]:
    r, w = os.pipe()
    out_r, out_w = os.pipe()
    io = Stdio(r, out_w, spin_s=0.002)
    try:
        yield io, w
    finally:
        io.close()
        for fd in (r, w, out_r, out_w):
            os.close(fd)


def _never() -> bool:
    return False


def test_a_spin_read_returns_what_was_written(pipe_io: tuple[Stdio, int]) -> None:
    io, w = pipe_io
    os.write(w, b"abc")
    assert bytes(io.read(None, _never) or b"") == b"abc"


def test_yields_that_come_back_at_once_keep_the_spin_on(
    pipe_io: tuple[Stdio, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    io, _ = pipe_io
    yields = []
    monkeypatch.setattr(transport.os, "sched_yield", lambda: yields.append(1))
    assert io.read(0.01, _never) is None  # nothing written: times out
    assert yields, "the spin never yielded the CPU"
    assert io.spin_pauses == 0
    assert io.spin_paused_until == 0.0


def test_a_yield_another_process_takes_pauses_the_spin(
    pipe_io: tuple[Stdio, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    io, w = pipe_io
    yields = []

    def stolen() -> None:  # as if a CPU-bound neighbour ran for its time slice
        yields.append(1)
        time.sleep(transport.YIELD_STOLEN_S * 4)

    monkeypatch.setattr(transport.os, "sched_yield", stolen)
    before = time.perf_counter()
    assert io.read(0.01, _never) is None
    assert yields == [1], "the spin went on after a late yield"
    assert io.spin_pauses == 1
    assert io.spin_paused_until >= before + transport.PAUSE_S
    # While paused, a read blocks at once (no spin, no yield) and still gets its bytes.
    os.write(w, b"x")
    assert bytes(io.read(None, _never) or b"") == b"x"
    assert io.read(0.005, _never) is None
    assert yields == [1]
    # After the pause, spinning is tried again.
    io.spin_paused_until = time.perf_counter() - 1
    monkeypatch.setattr(transport.os, "sched_yield", lambda: yields.append(2))
    assert io.read(0.005, _never) is None
    assert 2 in yields
