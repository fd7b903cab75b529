"""The manifest's reference block: decile bins per feature and the test approval rate."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from tests.train.conftest import manifest
from train.publish.reference import bin_index, build_reference, feature_bins


def test_continuous_feature_gets_ten_decile_bins_of_a_tenth_each() -> None:
    x = np.random.default_rng(1).normal(size=10_000)
    b = feature_bins(x)
    assert len(b["edges"]) == 11 and len(b["fractions"]) == 10
    assert all(a < c for a, c in pairwise(b["edges"]))
    assert b["edges"][0] == pytest.approx(x.min()) and b["edges"][-1] == pytest.approx(x.max())
    assert b["fractions"] == pytest.approx([0.1] * 10, abs=0.002)
    assert sum(b["fractions"]) == pytest.approx(1.0)


def test_discrete_feature_merges_duplicate_edges_and_keeps_true_shares() -> None:
    # 70% zeros: the first seven deciles coincide; the bins must stay strictly ascending.
    rng = np.random.default_rng(2)
    x = np.where(rng.random(10_000) < 0.7, 0.0, rng.choice([0.25, 0.5, 1.0], 10_000))
    b = feature_bins(x)
    edges = b["edges"]
    assert all(a < c for a, c in pairwise(edges))
    assert len(b["fractions"]) == len(edges) - 1 < 10
    counts = np.bincount(bin_index(np.array(edges), x), minlength=len(edges) - 1)
    assert b["fractions"] == pytest.approx(list(counts / x.size))
    assert b["fractions"][0] == pytest.approx(np.mean(x == 0.0), abs=1e-9)


def test_constant_feature_is_one_bin() -> None:
    assert feature_bins(np.full(100, 3.5)) == {"edges": [3.5, 3.5], "fractions": [1.0]}


def test_max_value_falls_in_the_last_bin() -> None:
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    assert bin_index(edges, np.array([-1.0, 0.0, 0.99, 1.0, 3.0, 9.0])).tolist() == [
        0,
        0,
        0,
        1,
        2,
        2,
    ]


def test_reference_approval_rate_is_the_test_share_at_the_threshold() -> None:
    x = np.random.default_rng(3).normal(size=(500, 2))
    p = np.array([0.1, 0.7, 0.65, 0.2])
    ref = build_reference(["a", "b"], x, p, {"default_threshold": 0.65})
    assert ref["approval_rate"] == 0.5
    assert ref["approval_threshold"] == 0.65 and ref["rows"] == 500
    assert set(ref["features"]) == {"a", "b"}


def test_fitted_manifest_carries_reference_bins_for_every_feature(planted_model) -> None:
    m = manifest(planted_model)
    ref = m["reference"]
    assert list(ref["features"]) == m["features"]
    assert ref["approval_threshold"] == m["default_threshold"]
    assert 0.0 < ref["approval_rate"] < 1.0
    assert ref["rows"] == m["data"]["rows"]["train"]
    for name, b in ref["features"].items():
        assert len(b["edges"]) == len(b["fractions"]) + 1, name
        assert sum(b["fractions"]) == pytest.approx(1.0), name
