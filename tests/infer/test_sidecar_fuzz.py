"""Property: no input kills the sidecar or corrupts stdout, and it always resyncs.

The resync point (docs/PROTOCOL.md, Limits and resynchronisation): after a
pause longer than --resync-ms, the next bytes start a fresh message, whatever
came before. Each example sends arbitrary input, pauses past that point, then
sends a valid request, which must be answered correctly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.infer.sidecar import Sidecar

RESYNC_MS = 30
SENTINEL_BASE = 4_000_000_000  # msgids the generated input is unlikely to reuse

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
objects = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(
            st.text(max_size=12) | st.integers(-(2**63), 2**64 - 1), inner, max_size=5
        )
    ),
    max_leaves=30,
)
methods = st.sampled_from(["predict", "info", "stats", "nope", ""]) | st.text(max_size=8)
requestish = st.tuples(
    st.integers(min_value=-2, max_value=3),
    st.integers(min_value=-1, max_value=2**33) | objects,
    methods | objects,
    st.lists(objects, max_size=3) | objects,
).map(list)


@pytest.fixture(scope="module")
def fuzz_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    from tests.fixtures.tiny_model import build_model_dir

    d = build_model_dir(tmp_path_factory.mktemp("fuzz"), "tiny-f", seed=7, fp16=False)
    with Sidecar(d, "--resync-ms", str(RESYNC_MS), "--log-level", "error") as sc:
        sc.unique_ids = False
        sc.ready()
        yield sc
        sc.close_stdin()
        assert sc.wait_exit() == 0


class Probe:
    next_id = SENTINEL_BASE


def survives(sc: Sidecar, payload: bytes) -> None:
    assert sc.proc.poll() is None
    sc.send_raw(payload)
    # The pause is measured by the sidecar from when it read the payload; on a
    # loaded machine that can be late, and a probe sent too early is swallowed
    # by an incomplete message. Then the next pause resyncs it and a later
    # probe must be answered.
    for attempt in range(1, 4):
        time.sleep(2 * attempt * RESYNC_MS / 1000)
        Probe.next_id += 1
        msgid = Probe.next_id
        sc.request("predict", [[[0.1, 0.2, 0.3]], 0.5], msgid=msgid)
        try:
            _, _, err, res = sc.response(msgid, timeout=1.5)
        except TimeoutError:
            assert sc.proc.poll() is None, "the sidecar died"
            continue
        assert err is None and len(res["p"]) == 1 and res["threshold"] == 0.5
        break
    else:
        raise AssertionError(f"no probe answered after {payload[:64]!r}...")
    sc.responses.clear()
    sc.notifications.clear()


SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(payload=st.binary(min_size=1, max_size=2048))
def test_arbitrary_bytes_never_break_the_stream(fuzz_sidecar: Sidecar, payload: bytes) -> None:
    survives(fuzz_sidecar, payload)


@SETTINGS
@given(objs=st.lists(objects | requestish, min_size=1, max_size=5))
def test_arbitrary_msgpack_objects_never_break_the_stream(
    fuzz_sidecar: Sidecar, objs: list[Any]
) -> None:
    survives(fuzz_sidecar, b"".join(msgpack.packb(o) for o in objs))


@SETTINGS
@given(
    records=st.lists(st.lists(objects, max_size=4) | objects, min_size=0, max_size=4),
    threshold=objects,
)
def test_arbitrary_predict_params_get_an_answer(
    fuzz_sidecar: Sidecar, records: list[Any], threshold: Any
) -> None:
    Probe.next_id += 1
    msgid = Probe.next_id
    fuzz_sidecar.request("predict", [records, threshold], msgid=msgid)
    _, _, err, res = fuzz_sidecar.response(msgid, timeout=10)
    if err is not None:
        assert err[0] in {"bad_request", "bad_features"}
    else:
        assert len(res["p"]) == len(records)
    fuzz_sidecar.responses.clear()


def test_fuzz_module_uses_a_real_model(fuzz_sidecar: Sidecar) -> None:
    assert Path(fuzz_sidecar.result("info")["model"]["path"]).name == "tiny-f"
