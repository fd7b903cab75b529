"""Calibration judged where the bot acts, a threshold from a target precision, the
publish refusals and the data-hygiene warnings of `train fit`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.train.conftest import manifest, run_cli
from train.data.dataset import label_all
from train.data.load import read_records
from train.labels.labeler import LabelParams
from train.model.metrics import approved_calibration, ece, wilson
from train.model.threshold import target_threshold
from train.onnx import export

FEATS = ["tick_ratio", "depth_ratio", "price_dist"]
FAST = ["--model", "hgb", "--cv-folds", "2", "--tune-rows", "6000"]


def _dir(out: str) -> Path:
    return Path(out.strip().splitlines()[-1])


def test_wilson_interval_and_equal_mass_ece() -> None:
    lo, hi = wilson(65, 100)
    assert (lo, hi) == pytest.approx((0.55255, 0.73637), abs=2e-5)  # Wilson (1927), z 1.96
    assert wilson(0, 0) is None and wilson(0, 10)[0] == 0.0
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 200_000)
    y = (rng.uniform(0, 1, len(p)) < p).astype(int)
    assert ece(y, p) < 0.01  # calibrated by construction
    assert abs(ece(y, np.clip(p + 0.1, 0, 1)) - 0.1) < 0.02  # 0.1 too confident, ~0.1 off
    a = approved_calibration(y, np.clip(p + 0.1, 0, 1), (0.65,))[0]
    assert a["overconfidence"] > 0.05 and a["ci_low"] < a["observed"] < a["ci_high"]


def test_target_threshold_is_the_lowest_that_reaches_the_precision() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    y = np.array([1, 1, 0, 1, 0, 0])
    t = target_threshold(y, p, 0.75, min_approvals=2)
    assert (t["threshold"], t["approved"], t["precision"]) == (0.6, 4, 0.75)
    assert target_threshold(y, p, 0.75, min_approvals=5)["threshold"] is None
    assert target_threshold(y, p, 1.0, min_approvals=1)["threshold"] == 0.8


def test_report_and_manifest_judge_calibration_where_the_bot_acts(planted_model) -> None:
    m = manifest(planted_model)
    choice = m["training"]["calibration_choice"]
    assert set(choice["candidates"]) == {"none", "sigmoid", "isotonic"}
    ranked = min(choice["candidates"], key=lambda k: choice["candidates"][k]["log_loss"])
    assert m["training"]["calibration"] == ranked  # auto: the lowest validation log-loss
    assert choice["fitted_on"].startswith("out-of-fold") and choice["fitted_rows"] > 1000
    t = m["metrics"]["test"]
    assert 0 <= t["ece"] < 0.1 and t["interval"] == "Wilson 95 %"
    assert [a["threshold"] for a in t["approved_calibration"]] == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75]
    report = (planted_model / "report.md").read_text()
    assert "## Calibration" in report and "| 95 % interval |" in report
    assert f"ECE {t['ece']:.4f}" in report and "Wilson 95 %" in report
    # The report says what the manifest records about the fit and the scoring.
    assert f"fitted on {choice['fitted_on']} ({choice['fitted_rows']} rows)" in report
    assert f"scored out of fold ({choice['scored']})" in report


def test_threshold_0_or_1_is_refused(tmp_path, small_data, capsys) -> None:
    for t in ("0", "1"):
        with pytest.raises(SystemExit) as e:
            run_cli(["fit", "--data", str(small_data), "--out", str(tmp_path), "--threshold", t],
                    capsys)  # fmt: skip
        assert e.value.code == 2
        assert "strictly between 0 and 1" in capsys.readouterr().err


def test_rare_positives_are_refused_unless_a_target_precision_makes_them_usable(
    tmp_path, planted_data, capsys
) -> None:
    # 10 s lookahead, 2 sigma: about 1 % positives; AUC passes, yet p never reaches 0.65.
    rare = ["fit", "--data", str(planted_data), "--lookahead", "10", "--sigma", "2", *FAST]
    code, out, err = run_cli([*rare, "--out", str(tmp_path / "a"), "--no-report"], capsys)
    assert code == 1 and out == ""
    assert "approves nothing on the test split at threshold 0.65" in err
    assert "highest p 0." in err and "--target-precision" in err
    assert list((tmp_path / "a").iterdir()) == []
    code, out, err = run_cli(
        [*rare, "--out", str(tmp_path / "b"), "--target-precision", "0.2",
         "--min-approvals", "10"], capsys)  # fmt: skip
    assert code == 0, err
    d = _dir(out)
    m = manifest(d)
    tp = m["training"]["target_precision"]
    assert m["default_threshold"] == tp["threshold"] < 0.65
    assert tp["precision"] >= 0.2 and tp["approved"] >= 10
    assert m["metrics"]["test"]["approved"] > 0
    assert "## Threshold from the target precision" in (d / "report.md").read_text()


def test_duplicates_and_coarse_timestamps_are_warned_in_report_and_manifest(
    tmp_path, small_data, capsys
) -> None:
    lines = small_data.read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    for r in recs:  # whole-second timestamps, as a careless exporter would write
        r["timestamp"] = r["timestamp"].split(".")[0].rstrip("Z") + "Z"
    dups = recs[::10]  # 10 % of the records, twice
    bad = tmp_path / "dirty.jsonl"
    bad.write_text("\n".join(json.dumps(r) for r in recs + dups) + "\n")
    code, out, err = run_cli(
        ["fit", "--data", str(bad), "--out", str(tmp_path / "m"), *FAST, "--min-auc", "0"],
        capsys)  # fmt: skip
    assert code == 0, err
    d = _dir(out)
    warns = {w["kind"]: w for w in manifest(d)["data"]["warnings"]}
    assert warns["duplicates"]["count"] == len(dups)
    assert warns["coarse_timestamps"]["count"] > 0.1 * len(recs)
    assert all(w["examples"] for w in warns.values())
    report = (d / "report.md").read_text()
    head = report.split("## Test split")[0]
    assert "## Data warnings" in head and "exact duplicate records" in head
    assert "timestamps in whole seconds" in head
    assert manifest(d)["data"]["rows"]["duplicates"] == len(dups)


def test_clean_sample_has_no_data_warning_but_nan_rows_are_named(tmp_path, small_data, capsys):
    recs = [json.loads(x) for x in small_data.read_text().splitlines()]
    recs[100]["depth_ratio"] = float("nan")
    p = tmp_path / "nan.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")  # json writes NaN
    code, out, err = run_cli(
        ["fit", "--data", str(p), "--out", str(tmp_path / "m"), *FAST, "--min-auc", "0",
         "--no-report"], capsys)  # fmt: skip
    assert code == 0, err
    warns = {w["kind"]: w for w in manifest(_dir(out))["data"]["warnings"]}
    assert (
        warns["non_finite"]["count"] == 1
        and "depth_ratio=nan" in warns["non_finite"]["examples"][0]
    )
    assert not {"duplicates", "coarse_timestamps", "out_of_order"} & set(warns)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """200,000 fresh sample records (another seed): a market the model never saw, large
    enough that the observed rate of the approved trades is known to about ±0.01."""
    from train.cli import main

    p = tmp_path_factory.mktemp("held") / "held.jsonl"
    assert main(["sample", "--out", str(p), "--rows", "200000", "--seed", "99"]) == 0
    o = label_all(read_records(p, FEATS), FEATS, LabelParams(), None)
    ok = (o.label >= 0) & np.all(np.isfinite(o.X), axis=1)
    return o.X[ok].astype(np.float32), o.label[ok]


def test_default_model_is_not_overconfident_where_the_bot_acts(planted_model, held_out):
    x, y = held_out
    m = manifest(planted_model)
    p = export.predict(export.session(planted_model / "model.onnx"), x)
    t = m["default_threshold"]
    (a,) = approved_calibration(y, p, (t,))
    assert a["approved"] > 1000
    assert a["overconfidence"] <= 0.02, a
    assert ece(y, p) <= 0.02
