"""The trading-terms table: realised σ-reversion and what each threshold approves."""
# ruff: noqa: RUF002, RUF003  (σ is the unit the labels are in)

from __future__ import annotations

import json

import numpy as np
import pytest

from train.backtest.trading import THRESHOLDS, markdown_table, report_section
from train.backtest.trading import trading_table as table
from train.labels.labeler import LabelParams, label_records
from train.labels.realised import realised_reversion

NS = 1_000_000_000


def test_reversion_is_the_move_toward_vwap_in_sigma_within_the_lookahead():
    # One symbol, σ = 2 everywhere, lookahead 10 s. Records at t = 0, 5, 10, 15, 30, 100.
    ts = np.array([0, 5, 10, 15, 30, 100]) * NS
    price = np.array([110.0, 104.0, 107.0, 90.0, 95.0, 96.0])
    vwap = np.array([100.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    std = np.full(6, 2.0)
    rev, hor = realised_reversion(np.zeros(6, int), ts, price, vwap, std, LabelParams(10.0))
    # t=0, above VWAP: window (0, 10] holds 104 and 107; best (110-104)/2, at horizon (110-107)/2.
    # t=5, above: window (5, 15] holds 107, 90: best (104-90)/2 = 7, horizon the same.
    # t=10, above: window (10, 20] holds 90: 8.5 both.
    # t=15, below VWAP: window (15, 25] is empty (a pause in the feed): no move, 0.
    # t=30, below: (30, 40] is empty too. t=100: its window passes the last record (censored).
    np.testing.assert_allclose(rev[:5], [3.0, 7.0, 8.5, 0.0, 0.0])
    np.testing.assert_allclose(hor[:5], [1.5, 7.0, 8.5, 0.0, 0.0])
    assert np.isnan(rev[5]) and np.isnan(hor[5])


def test_reversion_below_vwap_counts_a_rise_and_a_move_away_is_negative():
    ts = np.array([0, 1, 2, 100]) * NS
    price = np.array([90.0, 93.0, 89.0, 90.0])  # below VWAP 100: a rise is the reversion
    rev, hor = realised_reversion(np.zeros(4, int), ts, price, np.full(4, 100.0),
                                  np.full(4, 0.5), LabelParams(5.0))  # fmt: skip
    # σ = max(0.5, min_std 0.1) = 0.5. t=0: best 93 → +6σ, ends at 89 → -2σ (moved away).
    # t=1: best is 89 < 93, the best move is away: (89-93)/0.5 = -8σ.
    np.testing.assert_allclose(rev[:2], [6.0, -8.0])
    np.testing.assert_allclose(hor[:2], [-2.0, -8.0])


@pytest.mark.parametrize("seed", range(4))
def test_a_candidate_is_labelled_1_exactly_when_its_reversion_reaches_the_threshold(seed):
    rng = np.random.default_rng(seed)
    n = 400
    codes = rng.integers(0, 3, n)
    ts = np.cumsum(rng.choice([0, 1, 2, 5, 90], n)).astype(np.int64) * NS
    rng.shuffle(ts)
    price = 100 + np.cumsum(rng.normal(0, 0.3, n))
    vwap = price + rng.normal(0, 0.5, n)
    std = rng.uniform(0.02, 0.6, n)
    params = LabelParams(30.0)
    label = label_records(codes, ts, price, vwap, std, params)
    rev, _ = realised_reversion(codes, ts, price, vwap, std, params)
    dist = (price - vwap) / np.maximum(std, params.min_std)
    seen = label >= 0
    want = (np.abs(dist) > params.min_dist_sigma) & (rev >= params.threshold_sigma)
    assert (label[seen] == want[seen]).all()
    assert np.isnan(rev[~seen]).all()


def test_approved_rows_are_those_with_p_at_or_above_the_threshold_and_means_are_theirs():
    y = np.array([1, 0, 1, 1, 0, 0])
    p = np.array([0.95, 0.70, 0.65, 0.64, 0.30, 0.55])
    rev = np.array([3.0, 1.0, 2.0, 2.5, -1.0, np.nan])  # NaN: no direction, left out of means
    hor = np.array([2.0, -1.0, 1.0, 0.5, -2.0, 0.0])
    rows = {r["threshold"]: r for r in table(y, p, rev, hor)}
    assert list(rows) == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]
    r = rows[0.65]  # 0.65 itself is approved: p ≥ t
    assert r["approved"] == 3 and r["approval_rate"] == pytest.approx(0.5)
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["reversion_approved"] == pytest.approx((3.0 + 1.0 + 2.0) / 3)
    assert r["horizon_approved"] == pytest.approx((2.0 - 1.0 + 1.0) / 3)
    assert r["reversion_all"] == pytest.approx((3.0 + 1.0 + 2.0 + 2.5 - 1.0) / 5)
    assert r["horizon_all"] == pytest.approx(0.5 / 6)
    r = rows[0.55]  # 0.55 approves the NaN row: counted, but not in the mean
    assert r["approved"] == 5 and r["precision"] == pytest.approx(3 / 5)
    assert r["reversion_approved"] == pytest.approx(8.5 / 4)
    r = rows[0.9]
    assert (r["approved"], r["precision"], r["reversion_approved"]) == (1, 1.0, 3.0)


def test_a_threshold_that_approves_nothing_has_no_precision_rather_than_zero():
    rows = table(np.array([1, 0]), np.array([0.2, 0.3]), np.ones(2), np.ones(2), (0.5,))
    assert rows[0]["approved"] == 0 and rows[0]["precision"] is None
    assert rows[0]["reversion_approved"] is None and rows[0]["reversion_all"] == 1.0
    assert "| 0.50 | 0 | 0.000 | - | - | 1.000 |" in markdown_table(rows)[2]


def test_report_section_writes_the_table_plot_and_json_with_the_decision_threshold_bold(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.3 * y + rng.uniform(0.3, 0.7, 300), 0, 1)
    rev, hor = rng.normal(1, 1, 300), rng.normal(0.5, 1, 300)
    lines = report_section(tmp_path, y, p, rev, hor, LabelParams().to_dict(), 0.65)
    text = "\n".join(lines)
    assert "## In trading terms (test split)" in text and "| **0.65** |" in text
    assert sum(line.startswith("| 0.") or line.startswith("| **0.") for line in lines) == 9
    assert (tmp_path / "trading.png").stat().st_size > 0
    doc = json.loads((tmp_path / "trading.json").read_text())
    assert [r["threshold"] for r in doc["rows"]] == list(THRESHOLDS)
    assert doc["rows"] == table(y, p, rev, hor)
