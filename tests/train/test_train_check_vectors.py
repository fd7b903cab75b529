"""check_vectors.json: what the Go replica is verified against at every load."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx

from tests.train.conftest import manifest
from train.onnx import check_vectors, export
from train.onnx.check_vectors import FILE, _split_points, build_rows


def test_published_model_lists_check_vectors_with_true_hash_rows_and_onnxruntime_answers(
    planted_model,
):
    man = manifest(planted_model)
    ref = man["check_vectors"]
    path = planted_model / ref["file"]
    assert ref["file"] == FILE
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ref["sha256"]
    doc = json.loads(path.read_text())
    rows = np.asarray(doc["rows"], dtype=np.float32)
    assert doc["features"] == man["features"]
    assert len(rows) == ref["rows"] == len(doc["p"]) == len(doc["kind"])
    assert {"test", "edge"} <= set(doc["kind"])
    # float32 values survive JSON exactly, and p is the served graph's own answer.
    assert np.array_equal(np.asarray(doc["rows"], dtype=np.float64), rows.astype(np.float64))
    served = planted_model / man["variants"][man["serve_variant"]]["file"]
    p = export.predict(export.session(served), rows)
    assert np.array_equal(p, np.asarray(doc["p"]))


def test_edge_rows_sit_at_and_one_ulp_around_split_thresholds_and_at_the_ranges(
    planted_model, monkeypatch
):
    monkeypatch.setattr(check_vectors, "MAX_THRESHOLDS", 10**6)  # every split, not a sample
    man = manifest(planted_model)
    graph = onnx.load(str(planted_model / man["variants"][man["serve_variant"]]["file"]))
    feats = man["features"]
    rows, kind = build_rows(
        graph, np.zeros((0, len(feats)), np.float32), man["feature_stats"], feats
    )
    assert set(kind) == {"edge"}
    points = set(_split_points(graph, len(feats)))
    assert points, "a tree graph has split thresholds"
    cols = [set(rows[:, j].tolist()) for j in range(len(feats))]
    for j, t in points:
        for x in (np.nextafter(t, np.float32(-np.inf)), t, np.nextafter(t, np.float32(np.inf))):
            assert float(x) in cols[j], f"feature {feats[j]}: split {t}, no row at {x}"
    for j, f in enumerate(feats):
        for key in ("min", "max"):
            assert float(np.float32(man["feature_stats"][f][key])) in cols[j]
