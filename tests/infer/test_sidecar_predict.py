"""The real sidecar answers ready/info/stats/predict as docs/PROTOCOL.md says."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tests.infer.sidecar import Sidecar

ROWS = [[0.1, 0.2, 0.3], [0.5, -0.5, -2.0], [-1.0, -1.0, 3.0], [0.9, 0.9, -3.5]]
FEATURES = ["tick_ratio", "depth_ratio", "price_dist"]


def direct_p(model_dir: Path, rows: list[list[float]]) -> list[float]:
    """The probabilities onnxruntime gives for the model file, without the sidecar."""
    sess = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    out = sess.run(["probability"], {"features": np.array(rows, dtype=np.float32)})[0]
    return out.astype(np.float64).tolist()


def test_ready_announces_model_info(model_a: Path) -> None:
    manifest = json.loads((model_a / "manifest.json").read_text())
    with Sidecar(model_a) as sc:
        info = sc.ready()
        assert info["protocol"] == 2
        assert info["pid"] == sc.proc.pid
        assert info["error"] is None
        m = info["model"]
        assert m["version"] == "tiny-a"
        assert m["sha256"] == manifest["variants"]["fp32"]["sha256"]
        assert m["features"] == manifest["features"]
        assert m["threshold"] == manifest["default_threshold"]
        assert m["variant"] == "fp32"
        assert m["path"] == str(model_a)
        assert sc.result("info") == info


def test_ready_without_model_reports_error_and_predict_says_no_model(tmp_path: Path) -> None:
    with Sidecar(tmp_path / "missing") as sc:
        info = sc.ready()
        assert info["model"] is None
        assert "missing" in info["error"]
        err = sc.error("predict", [[ROWS[0]]])
        assert err.code == "no_model"


def test_predict_single_array_record_matches_onnxruntime(sidecar: Sidecar, model_a: Path) -> None:
    res = sidecar.result("predict", [[ROWS[0]]])
    assert res["p"] == direct_p(model_a, [ROWS[0]])
    assert res["version"] == "tiny-a"
    assert res["threshold"] == 0.65
    assert res["approve"] == [res["p"][0] >= 0.65]
    assert res["ood"] == [False]


def test_predict_batch_of_array_and_map_records(sidecar: Sidecar, model_a: Path) -> None:
    maps = [dict(zip(FEATURES, r, strict=True)) for r in ROWS]
    mixed = [ROWS[0], maps[1], ROWS[2], maps[3]]
    want = direct_p(model_a, ROWS)
    for records in (ROWS, maps, mixed):
        res = sidecar.result("predict", [records])
        assert res["p"] == want
        assert res["approve"] == [p >= 0.65 for p in want]


def test_explicit_threshold_overrides_default(sidecar: Sidecar, model_a: Path) -> None:
    want = direct_p(model_a, ROWS)
    for t in (0.0, 0.3, 0.5, 1.0):
        res = sidecar.result("predict", [ROWS, t])
        assert res["threshold"] == t
        assert res["approve"] == [p >= t for p in want]
    # the default still applies to the next request without one
    assert sidecar.result("predict", [ROWS])["threshold"] == 0.65


def test_threshold_flag_changes_default(model_a: Path) -> None:
    with Sidecar(model_a, "--threshold", "0.2") as sc:
        assert sc.ready()["model"]["threshold"] == 0.2
        assert sc.result("predict", [[ROWS[0]]])["threshold"] == 0.2


def test_integer_and_float32_inputs_are_numbers(sidecar: Sidecar, model_a: Path) -> None:
    import msgpack

    mid = 4242
    body = msgpack.packb([0, mid, "predict", [[[1, -1, 0.25]]]], use_single_float=True)
    sidecar.send_raw(body)
    _, _, err, res = sidecar.response(mid)
    assert err is None
    assert res["p"] == direct_p(model_a, [[1.0, -1.0, 0.25]])


def test_out_of_training_range_is_flagged_but_scored(sidecar: Sidecar, model_a: Path) -> None:
    stats = json.loads((model_a / "manifest.json").read_text())["feature_stats"]
    inside = [stats[f]["mean"] for f in FEATURES]
    above = [*inside[:2], stats["price_dist"]["max"] + 1.0]
    below = [stats["tick_ratio"]["min"] - 0.5, *inside[1:]]
    res = sidecar.result("predict", [[inside, above, below]])
    assert res["ood"] == [False, True, True]
    assert len(res["p"]) == 3 and all(0.0 <= p <= 1.0 for p in res["p"])


def test_pipelined_requests_in_one_write_are_all_answered(sidecar: Sidecar, model_a: Path) -> None:
    import msgpack

    n = 500
    want = direct_p(model_a, ROWS)
    blob = b"".join(msgpack.packb([0, 10_000 + i, "predict", [[ROWS[i % 4]]]]) for i in range(n))
    sidecar.send_raw(blob)
    for i in range(n):
        _, _, err, res = sidecar.response(10_000 + i)
        assert err is None and res["p"] == [want[i % 4]]


def test_stats_count_requests_records_and_errors(sidecar: Sidecar) -> None:
    sidecar.result("predict", [ROWS])
    sidecar.result("predict", [[ROWS[0]]])
    sidecar.error("predict", [[[1.0, 2.0]]])
    sidecar.error("nope")
    s = sidecar.result("stats")
    assert s["requests"] == 4  # stats itself is counted after the snapshot
    assert s["records"] == 5
    assert s["batches"] >= 1
    assert s["errors"] == {"bad_features": 1, "unknown_method": 1}
    assert s["reloads"] == 0 and s["failed_reloads"] == 0
    assert set(s["latency_us"]) == {"p50", "p90", "p99", "p999"}
    assert 0 < s["latency_us"]["p50"] <= s["latency_us"]["p999"]
    assert s["uptime_s"] > 0 and s["model_age_s"] is not None
    assert isinstance(s["spin_pauses"], int) and s["spin_pauses"] >= 0
    # Four requests are far from the first spin trial: the default (spin) holds.
    assert s["spin_preferred"] is True and s["spin_switches"] == 0 and s["spin_trial_us"] is None


def test_fp16_variant_is_served_when_asked(model_a: Path) -> None:
    with Sidecar(model_a, "--variant", "fp16") as sc:
        info = sc.ready()
        assert info["model"]["variant"] == "fp16"
        p = sc.result("predict", [ROWS])["p"]
        assert p == pytest.approx(direct_p(model_a, ROWS), abs=1e-2)


def test_pidfile_written_and_removed(model_a: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "infer.pid"
    with Sidecar(model_a, "--pidfile", str(pidfile)) as sc:
        sc.ready()
        assert pidfile.read_text().strip() == str(sc.proc.pid)
        sc.close_stdin()
        assert sc.wait_exit() == 0
    assert not os.path.exists(pidfile)
