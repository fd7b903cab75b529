"""Walk-forward: `train backtest` and `train fit --walk-forward` on a small sample."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tests.train.conftest import run_cli
from train.arguments import parse_duration
from train.backtest import walkforward_report
from train.backtest.walkforward import (
    MIN_PERIOD_ROWS,
    WalkForwardConfig,
    add_to_report,
    excluded_reason,
    walk_forward,
)
from train.cli import main
from train.data.load import read_records
from train.fit import FitOptions
from train.labels.labeler import LabelParams
from train.publish.run import FitArgs

NS = 1_000_000_000
FEATURES = ["tick_ratio", "depth_ratio", "price_dist"]
PERIOD = "15m"


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """3,000 records: about 67 minutes: a 30-minute first window, then three 15-minute periods."""
    p = tmp_path_factory.mktemp("data") / "tiny.jsonl"
    assert main(["sample", "--out", str(p), "--rows", "3000", "--seed", "5"]) == 0
    return p


@pytest.fixture(scope="module")
def backtest(tiny_data, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bt")
    argv = ["backtest", "--data", str(tiny_data), "--retrain-every", PERIOD, "--out", str(out)]
    assert main(argv) == 0
    for f in ("backtest.md", "backtest.png"):
        assert (out / f).stat().st_size > 0
    return json.loads((out / "backtest.json").read_text())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1d", 86400), ("6h", 21600), ("30m", 1800), ("90s", 90), ("1.5h", 5400), ("1w", 604800)],
)
def test_durations_are_read_with_their_unit(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "0h", "-1d", "1y", "1 d x", "1e3s"])
def test_a_duration_without_a_positive_number_and_unit_is_refused(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_periods_follow_the_retrain_clock_and_each_model_saw_only_its_past(backtest, tiny_data):
    ts = read_records(tiny_data, FEATURES).ts_ns
    p = 15 * 60 * NS
    first = p * max(1, round((ts.max() - ts.min()) / p / 3))  # a third, in whole periods
    assert first == 2 * p
    starts = list(range(int(ts.min()) + first, int(ts.max()), p))
    periods = backtest["periods"]
    assert len(periods) == len(starts) >= 3
    for per in periods:
        # Expanding window (no --window): from the first record up to the period's start.
        assert per["retrain"]["trained_on"] == [backtest["first"], per["start"]]
        assert per["retrain"]["deployed"] and per["model_since"] == per["start"]
    train_rows = [per["retrain"]["train_rows"] for per in periods]
    assert train_rows == sorted(train_rows) and train_rows[0] < train_rows[-1]
    usable = [per for per in periods if not per["excluded"]]
    assert sum(per["rows"] for per in usable) == backtest["pooled"]["rows"]
    assert backtest["once"]["trained_on"] == [backtest["first"], periods[0]["start"]]


def test_the_first_period_is_decided_by_the_same_model_both_ways(backtest):
    first = backtest["periods"][0]
    assert first["retrained"] == first["once"]


def test_retraining_changes_the_decisions_of_later_periods(backtest):
    later = backtest["periods"][1:]
    assert any(p["retrained"]["auc"] != p["once"]["auc"] for p in later)


def test_the_pooled_table_has_every_threshold_and_agrees_with_the_decision_figures(backtest):
    for who in ("retrained", "once"):
        pooled = backtest["pooled"][who]
        table = {r["threshold"]: r for r in pooled["table"]}
        assert list(table) == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]
        at = pooled["at_threshold"]
        assert {k: at[k] for k in table[0.65] if k != "threshold"} == {
            k: v for k, v in table[0.65].items() if k != "threshold"
        }


def test_the_backtest_is_deterministic_with_a_seed(backtest, tiny_data):
    cfg = WalkForwardConfig(FEATURES, LabelParams(), every_s=15 * 60)
    again = walk_forward(read_records(tiny_data, FEATURES), cfg)
    mine = {k: v for k, v in backtest.items() if k != "data"}
    assert json.loads(json.dumps(again)) == mine


def test_a_first_model_failing_the_gate_exits_1(tiny_data, tmp_path, capsys):
    code, _, err = run_cli(["backtest", "--data", str(tiny_data), "--retrain-every", PERIOD,
                            "--min-auc", "0.99", "--out", str(tmp_path)], capsys)  # fmt: skip
    assert code == 1 and "first window" in err and "--min-auc 0.99" in err
    assert not (tmp_path / "backtest.md").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--retrain-every", "2h"], "leaves no period"),
        (["--retrain-every", PERIOD, "--first-window", "2h"], "first window of 2 h"),
        (["--retrain-every", PERIOD, "--features", "tick_ratio,bogus"], "--features"),
        (["--retrain-every", PERIOD, "--cv-folds", "1"], "--cv-folds"),
        (["--retrain-every", PERIOD, "--symbol", "DOGEUSDT"], "DOGEUSDT"),
    ],
)
def test_bad_arguments_or_too_little_data_exit_2_naming_the_problem(
    tiny_data, tmp_path, capsys, extra, message
):
    code, _, err = run_cli(["backtest", "--data", str(tiny_data), "--out", str(tmp_path),
                            *extra], capsys)  # fmt: skip
    assert code == 2 and message in err


@pytest.mark.parametrize(
    "argv",
    [
        ["backtest", "--data", "x.jsonl"],  # --retrain-every is required
        ["backtest", "--data", "x.jsonl", "--retrain-every", "1x"],
        ["backtest", "--data", "x.jsonl", "--retrain-every", "1d", "--window", "0h"],
        ["backtest", "--data", "x.jsonl", "--retrain-every", "1d", "--model", "all"],
        ["fit", "--data", "x.jsonl", "--out", "m", "--walk-forward", "daily"],
    ],
)
def test_malformed_backtest_arguments_are_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["fit", "--out", "m", "--lookahead", "abc"],
            "argument --lookahead: want a number, got 'abc'",
        ),
        (["fit", "--out", "m", "--tune-rows", "-3"], "argument --tune-rows: must be 0 or more"),
        (["fit", "--out", "m", "--max-bad", "-1"], "argument --max-bad: must be 0 or more"),
        (["fit", "--out", "m", "--cv-folds", "two"], "argument --cv-folds: want a whole number"),
        (["fit", "--out", "{file}"], "exists and is not a directory"),
        (["backtest", "--retrain-every", "1d", "--out", "{file}"], "exists and is not a directory"),
        (["--log-level", "bogus", "fit", "--out", "m"], "argument --log-level: invalid choice"),
        (["monitor", "--model", "m", "--confidence", "x"], "--confidence: want a number, got 'x'"),
    ],
)
def test_argument_errors_name_the_argument_and_the_value(argv, message, tmp_path, capsys):
    """The parser's message, not a traceback or a private helper's name (`invalid _positive
    value`), and exit 2 before any data is read."""
    f = tmp_path / "a-file.jsonl"
    f.write_text("")
    argv = [a.replace("{file}", str(f)) for a in argv] + ["--data", str(tmp_path / "none.jsonl")]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err, err
    assert "_positive" not in err and "Traceback" not in err


def test_fit_with_walk_forward_publishes_a_report_with_both_sections(tiny_data, tmp_path, capsys):
    # 3,000 rows calibrate to p < 0.65 everywhere, which train refuses to publish at 0.65.
    code, out, err = run_cli(["fit", "--data", str(tiny_data), "--out", str(tmp_path),
                              "--threshold", "0.5", "--walk-forward", PERIOD], capsys)  # fmt: skip
    assert code == 0, err
    model = Path(out.strip().splitlines()[-1])
    report = (model / "report.md").read_text()
    assert "## In trading terms (test split)" in report
    assert f"## Walk-forward: retrained every {PERIOD} vs trained once" in report
    assert re.search(r"\| \*\*all (periods|\d+ usable periods)\*\* \|", report)
    for f in ("trading.png", "trading.json", "walkforward.png", "walkforward.json"):
        assert (model / f).stat().st_size > 0
    wf = json.loads((model / "walkforward.json").read_text())
    assert wf["family"] == json.loads((model / "manifest.json").read_text())["model_family"]
    assert not list(tmp_path.glob(".tmp-*"))


def test_a_walk_forward_without_enough_data_is_skipped_not_fatal(tiny_data, tmp_path):
    (tmp_path / "report.md").write_text("# Model\n")
    args = FitArgs(data=tiny_data, out=tmp_path, features=FEATURES, label=LabelParams(),
                   families=["gbm"], opts=FitOptions(), walk_forward_s=86400.0)  # fmt: skip
    add_to_report(tmp_path, read_records(tiny_data, FEATURES), args, "gbm")
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# Model\n") and "## Walk-forward" in text and "Skipped" in text
    assert not (tmp_path / "walkforward.json").exists()


def test_too_small_or_one_class_periods_are_flagged_and_left_out_of_the_pooled_figures(
    tiny_data, tmp_path
):
    """36-minute periods after a 30-minute first window: the second period is the data's
    last minute or so, fewer than MIN_PERIOD_ROWS labelled rows."""
    cfg = WalkForwardConfig(FEATURES, LabelParams(), every_s=36 * 60, first_s=30 * 60)
    res = walk_forward(read_records(tiny_data, FEATURES), cfg)
    big, small = res["periods"]
    assert big["excluded"] is None and big["rows"] >= MIN_PERIOD_ROWS
    assert small["excluded"] == f"{small['rows']} rows < {MIN_PERIOD_ROWS}"
    assert res["pooled"]["rows"] == big["rows"]
    assert (res["pooled"]["periods"], res["pooled"]["excluded"]) == (1, 1)
    md = "\n".join(walkforward_report.write(tmp_path, res, "wf"))
    assert f"⚠ excluded: {small['rows']} rows < {MIN_PERIOD_ROWS}" in md
    assert "**all 1 usable periods**" in md and "1 period(s) excluded" in md
    assert excluded_reason(np.ones(500, dtype=np.int64)) == "one class only (base rate 1.000)"
    assert excluded_reason(np.array([0, 1] * 150)) is None


def test_each_retrain_is_calibrated_as_train_fit_calibrates_not_on_validation_alone(tiny_data):
    """The calibrator sees the out-of-fold training scores plus validation (train/fit.py),
    so the backtest judges the probabilities `train fit` would publish."""
    from train.backtest.walkforward import _train
    from train.data.dataset import build_dataset
    from train.model.calibrate import calibrate, training_pool
    from train.model.models import fit_pipeline

    recs = read_records(tiny_data, FEATURES)
    cfg = WalkForwardConfig(
        features=FEATURES, label=LabelParams(), every_s=900.0, calibration="sigmoid"
    )
    got = _train(recs, cfg, None)
    assert got["calibration"] == "sigmoid"
    ds = build_dataset(recs, FEATURES, cfg.label, cfg.embargo_s)
    xs = [p.X.astype(np.float32) for p in (ds.train, ds.validation, ds.test)]
    raw = fit_pipeline(cfg.family, got["params"], cfg.seed, xs[0], ds.train.y)
    pool = training_pool(
        "sigmoid", cfg.family, got["params"], cfg.seed, ds, cfg.n_splits, cfg.tune_rows
    )
    assert pool is not None and len(pool) > 0
    as_fit = calibrate(raw, xs[1], ds.validation.y, "sigmoid", pool).predict_proba(xs[2])[:, 1]
    val_only = calibrate(raw, xs[1], ds.validation.y, "sigmoid").predict_proba(xs[2])[:, 1]
    p = got["model"].predict_proba(xs[2])[:, 1]
    np.testing.assert_allclose(p, as_fit, rtol=0, atol=1e-12)
    assert np.max(np.abs(p - val_only)) > 1e-3
