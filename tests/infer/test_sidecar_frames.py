"""Hostile frames against the real sidecar: deep nesting and a 100 MB message.

Each is answered with one error, the sidecar survives, and the next good
request is answered within a second (docs/PROTOCOL.md, Limits).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from tests.infer.sidecar import Sidecar

GOOD = [0.1, 0.2, 0.3]
# Dense around msgpack's 1024-level stack limit, where repr() used to recurse
# out of Python's stack, sparse elsewhere, up to 2000.
DEPTHS = [*range(1, 40), *range(880, 1120), 1500, 1999, 2000]


def _deep(depth: int) -> bytes:
    return b"\x91" * depth + b"\x00"


@pytest.fixture(scope="module")
def sc(model_a: Path) -> Iterator[Sidecar]:
    with Sidecar(model_a, "--log-level", "error") as s:
        s.ready()
        yield s
        assert s.wait_exit() == 0


def _answered_within_1s(sc: Sidecar) -> float:
    t0 = time.monotonic()
    res = sc.result("predict", [[GOOD]])
    elapsed = time.monotonic() - t0
    assert len(res["p"]) == 1 and elapsed < 1.0, elapsed
    return elapsed


@pytest.mark.parametrize("where", ["top", "msgid", "method"])
def test_deep_nesting_is_one_error_and_the_next_request_is_answered(
    sc: Sidecar, where: str
) -> None:
    for depth in DEPTHS:
        deep = _deep(depth)
        if where == "top":
            frame = deep
        elif where == "msgid":
            frame = b"\x94\x00" + deep + msgpack.packb("info") + b"\x90"
        else:
            frame = b"\x94\x00\x07" + deep + b"\x90"
        sc.send_raw(frame)
        _answered_within_1s(sc)
        sc.drain(0.0)
        if where == "method" and depth < 1024:  # the request array is one level more
            # decodable, with a msgid: answered as a bad request
            _, _, err, _ = sc.response(7)
            assert err[0] == "bad_request" and "method must be a string" in err[1], depth
            assert sc.notifications == [], depth
        else:
            assert [n[2][0]["code"] for n in sc.notifications] == ["bad_message"], depth
            assert 7 not in sc.responses
        sc.notifications.clear()
    assert sc.proc.poll() is None


@pytest.mark.parametrize("header", [b"\xc6", b"\xdb"], ids=["bin32", "str32"])
def test_100_mb_frame_is_skipped_by_its_length_with_one_error(sc: Sidecar, header: bytes) -> None:
    size = 100 * 1000 * 1000
    chunk = os.urandom(1 << 20)
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu_s() -> float:
        fields = Path(f"/proc/{sc.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    cpu0 = cpu_s()
    sc.send_raw(header + size.to_bytes(4, "big"))
    for _ in range(size // len(chunk)):
        sc.send_raw(chunk)
        sc.read_some(0)  # keep the sidecar's stdout pipe from filling
    sc.send_raw(chunk[: size % len(chunk)])
    elapsed = _answered_within_1s(sc)
    sc.drain(0.2)
    cpu = cpu_s() - cpu0
    codes = [n[2][0]["code"] for n in sc.notifications]
    assert codes == ["too_large"]
    rss_kib = int(
        next(
            line.split()[1]
            for line in Path(f"/proc/{sc.proc.pid}/status").read_text().splitlines()
            if line.startswith("VmHWM:")
        )
    )
    print(
        f"100 MB {header.hex()}: next answer {elapsed * 1000:.1f} ms, cpu {cpu:.2f} s, "
        f"{len(codes)} error, peak RSS {rss_kib / 1024:.0f} MiB"
    )
    assert cpu < 5.0
    assert rss_kib < 400 * 1024
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0
    sc.notifications.clear()
