"""Cleaning and row accounting before any model is fitted."""

from __future__ import annotations

import re

import numpy as np
import pytest

from train.data.dataset import build_dataset
from train.data.load import read_records
from train.data.records import Records
from train.data.sample import generate, write
from train.errors import InputError
from train.labels.labeler import LabelParams

FEATS = ["tick_ratio", "depth_ratio", "price_dist"]


def _records(n=6000, seed=2) -> Records:
    c = generate(n, ["BTCUSDT", "ETHUSDT"], seed, "planted")
    cols = {
        "tick_ratio": c["tick"].copy(),
        "depth_ratio": c["depth"].copy(),
        "price_dist": c["dist"].copy(),
        "price": c["price"],
        "vwap": c["vwap"],
        "std_dev": c["std"],
    }
    return Records(symbols=c["symbol"], ts_ns=c["ts"], columns=cols, read=n)


def test_nan_rows_and_outliers_are_dropped_and_counted_with_train_statistics():
    recs = _records()
    n = len(recs)
    recs.columns["tick_ratio"][10] = np.nan  # early: would be train
    recs.columns["depth_ratio"][n - 500] = 1e6  # late: a test-split outlier, not censored
    ds = build_dataset(recs, FEATS, LabelParams(), embargo_s=0)
    r = ds.rows
    assert r["dropped_nan"] == 1
    assert r["dropped_outlier"] >= 1
    assert np.all(np.isfinite(ds.test.X)) and ds.test.X[:, 1].max() < 1e6
    total = r["train"] + r["validation"] + r["test"]
    assert total + r["embargoed"] + r["censored"] + r["dropped_nan"] + r["dropped_outlier"] == n
    # feature_stats describe the cleaned training split only
    assert ds.stats["depth_ratio"]["max"] == ds.train.X[:, 1].max()


def test_rows_with_a_zero_or_negative_price_vwap_or_std_dev_are_dropped_and_named():
    """RECORD_LAYOUT: price, vwap and std_dev are positive. A price of 0 or a negative std_dev
    would label its neighbours from nonsense (the labeler floors std_dev at --min-std)."""
    recs = _records()
    for col, i, v in (("price", 100, 0.0), ("std_dev", 200, -1.5), ("vwap", 300, -2.0)):
        recs.columns[col][i] = v
    ds = build_dataset(recs, FEATS, LabelParams(), embargo_s=0)
    assert ds.rows["dropped_nan"] == 3
    (w,) = [w for w in ds.warnings if w["kind"] == "non_finite_price"]
    assert w["count"] == 3 and "zero or negative price, vwap or std_dev" in w["message"]
    shown = " ".join(w["examples"])
    assert "price=0.0" in shown and "std_dev=-1.5" in shown and "vwap=-2.0" in shown


def test_embargo_is_never_shorter_than_the_lookahead():
    ds = build_dataset(_records(), FEATS, LabelParams(lookahead_s=90), embargo_s=10)
    assert ds.embargo_s == 90
    assert ds.train.ts_ns.max() + 90e9 < ds.validation.ts_ns.min()
    assert ds.validation.ts_ns.max() + 90e9 < ds.test.ts_ns.min()


def test_too_little_data_is_refused_naming_the_file(tmp_path):
    """An error about the data as a whole names the file it came from."""
    path = tmp_path / "short.jsonl"
    write(generate(100, ["BTCUSDT"], 0, "planted"), path)
    recs = read_records(path, FEATS)
    assert recs.source == str(path)
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: only \d+ labelled rows"):
        build_dataset(recs, FEATS, LabelParams(), embargo_s=0)
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: --symbol XRPUSDT: no records"):
        build_dataset(recs, FEATS, LabelParams(), embargo_s=0, symbol="XRPUSDT")
