"""The serving loop's reads: spin, then block; stop spinning on a busy host."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator

import pytest

from infer import transport
from infer.spin import SpinChoice
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


def _yields(pattern: list[bool]) -> tuple[list[bool], object]:
    """A sched_yield stand-in: the i-th call is late (another process ran for
    a while) when pattern[i % len(pattern)] is True."""
    calls: list[bool] = []

    def fake() -> None:
        late = pattern[len(calls) % len(pattern)]
        calls.append(late)
        if late:
            time.sleep(transport.YIELD_STOLEN_S * 3)

    return calls, fake


def test_late_yields_in_a_row_pause_the_spin(
    pipe_io: tuple[Stdio, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    io, w = pipe_io
    io.spin_s = 1.0  # the spin must end because of the late yields, not its time
    calls, fake = _yields([True])
    monkeypatch.setattr(transport.os, "sched_yield", fake)
    # Pauses long enough that none ends while this test runs.
    monkeypatch.setattr(transport, "PAUSE_MIN_S", 30.0)
    monkeypatch.setattr(transport, "PAUSE_MAX_S", 600.0)
    before = time.perf_counter()
    assert io.read(0.05, _never) is None
    assert len(calls) == transport.STOLEN_TO_PAUSE, "the spin went on after enough late yields"
    assert io.spin_pauses == 1
    assert io.spin_paused_until >= before + 30.0
    # While paused, a read blocks at once (no spin, no yield) and still gets its bytes.
    os.write(w, b"x")
    assert bytes(io.read(None, _never) or b"") == b"x"
    assert io.read(0.005, _never) is None
    assert len(calls) == transport.STOLEN_TO_PAUSE
    # After the pause, spinning is tried again; failing again so soon doubles the pause.
    first = io.spin_paused_until - before
    io.spin_paused_until = time.perf_counter() - 0.001
    again = time.perf_counter()
    assert io.read(0.05, _never) is None
    assert len(calls) == 2 * transport.STOLEN_TO_PAUSE
    assert io.spin_pauses == 2
    assert first < 60.0 <= io.spin_paused_until - again


def test_an_occasional_late_yield_keeps_the_spin_on(
    pipe_io: tuple[Stdio, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    io, _ = pipe_io
    io.spin_s = 0.2
    calls, fake = _yields([True, False, False])  # one in three is late
    monkeypatch.setattr(transport.os, "sched_yield", fake)
    assert io.read(0.2, _never) is None
    assert len(calls) > 3 * transport.STOLEN_TO_PAUSE
    assert io.spin_pauses == 0


class _Recorder(SpinChoice):
    def __init__(self, prefer_spin: bool) -> None:
        super().__init__(prefer_spin)
        self.seen: list[tuple[bool, float]] = []
        self.restarts = 0

    def observe(self, spun: bool, turnaround_s: float) -> None:
        self.seen.append((spun, turnaround_s))

    def restart(self) -> None:
        self.restarts += 1


@pytest.mark.parametrize("prefer_spin", [True, False])
def test_a_read_after_a_ping_answer_reports_its_mode_and_the_turnaround(
    pipe_io: tuple[Stdio, int], prefer_spin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    io, w = pipe_io
    io.choice = rec = _Recorder(prefer_spin)
    spins: list[bool] = []
    real_spin = io._spin
    monkeypatch.setattr(io, "_spin", lambda *a: spins.append(True) or real_spin(*a))
    io.write(b"answer", ping=True)
    os.write(w, b"request")
    assert bytes(io.read(None, _never) or b"") == b"request"
    ((spun, turnaround),) = rec.seen
    assert spun is prefer_spin and 0 < turnaround < 1.0
    assert spins == ([True] if prefer_spin else [])
    os.write(w, b"another")  # no answer was written before this one: nothing learned
    assert bytes(io.read(None, _never) or b"") == b"another"
    assert len(rec.seen) == 1 and rec.restarts == 0


def test_after_a_batch_answer_the_read_spins_whatever_the_choice(
    pipe_io: tuple[Stdio, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    io, w = pipe_io
    io.choice = rec = _Recorder(prefer_spin=False)
    spins: list[bool] = []
    real_spin = io._spin
    monkeypatch.setattr(io, "_spin", lambda *a: spins.append(True) or real_spin(*a))
    io.write(b"answers")  # not a ping: several requests were answered
    os.write(w, b"requests")
    assert bytes(io.read(None, _never) or b"") == b"requests"
    assert spins == [True] and rec.seen == [] and rec.restarts == 1


def test_a_shutdown_read_stops_once_past_its_limit(pipe_io: tuple[Stdio, int]) -> None:
    io, w = pipe_io
    # A pipe holding several read chunks (1 MiB: Linux's default most for anyone).
    size = fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)
    assert size > transport.READ_CHUNK
    view = memoryview(bytes(size))
    while view:
        view = view[os.write(w, view) :]
    first = io.read_available(limit=1)
    assert len(first) == transport.READ_CHUNK  # one read, then the limit is past
    assert len(first) + len(io.read_available(limit=size)) == size
