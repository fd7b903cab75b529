"""check_vectors.json: the records an in-process replica must score like the sidecar.

The Go predictor compiles the served ONNX graph's trees into its own
evaluator (go/replica) and trusts it only after it agrees with the sidecar on
every row of this file (docs/MODEL_FORMAT.md, `check_vectors`). The rows are
a sample of the test split plus edge rows built from the served graph itself:
each feature at its training min and max, and at split thresholds exactly and
one float32 ulp either side, where a `<` read as `<=` would show.

`p` is what onnxruntime answered at training time: the deploy's smoke test
(scripts/smoke_test.py) scores the rows again and refuses a model file that
answers otherwise.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper

from train.onnx import export

FILE = "check_vectors.json"
TEST_ROWS = 256
MAX_THRESHOLDS = 64  # per model, spread over the features: three rows each


def _split_points(model: onnx.ModelProto, n_features: int) -> list[tuple[int, np.float32]]:
    """(feature, value in input space) of the tree splits of the graph.

    Thresholds of a tree ensemble fed by a Scaler are mapped back through it
    (approximately: the ulp neighbours still straddle the split).
    """
    scaler: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    points: list[tuple[int, np.float32]] = []
    for node in model.graph.node:
        a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
        if node.op_type == "Scaler":
            off = np.broadcast_to(np.asarray(a.get("offset", [0.0]), np.float64), (n_features,))
            sc = np.broadcast_to(np.asarray(a.get("scale", [1.0]), np.float64), (n_features,))
            scaler[node.output[0]] = (off, sc)
        if not node.op_type.startswith("TreeEnsemble") or "nodes_values" not in a:
            continue
        inv = scaler.get(node.input[0])
        for f, v, m in zip(a["nodes_featureids"], a["nodes_values"], a["nodes_modes"], strict=True):
            if m == b"LEAF" or not 0 <= f < n_features:
                continue
            x = float(v) if inv is None else float(v) / inv[1][f] + inv[0][f]
            points.append((int(f), np.float32(x)))
    return points


def build_rows(
    model: onnx.ModelProto,
    x_test: np.ndarray,
    stats: dict[str, dict[str, float]],
    features: list[str],
    seed: int = 0,
) -> tuple[np.ndarray, list[str]]:
    """Check-vector rows (float32) and the kind of each ("test" or "edge")."""
    x_test = np.asarray(x_test, dtype=np.float32)
    rng = np.random.default_rng(seed)
    n = min(TEST_ROWS, len(x_test))
    test = x_test[np.sort(rng.choice(len(x_test), size=n, replace=False))] if n else x_test[:0]
    base = np.median(x_test, axis=0).astype(np.float32) if len(x_test) else None
    if base is None:
        base = np.array([np.float32(stats[f]["mean"]) for f in features], dtype=np.float32)
    edges = []
    for j, f in enumerate(features):
        for key in ("min", "max"):
            row = base.copy()
            row[j] = np.float32(stats[f][key])
            edges.append(row)
    points = sorted(set(_split_points(model, len(features))))
    if len(points) > MAX_THRESHOLDS:
        points = [points[i] for i in rng.choice(len(points), MAX_THRESHOLDS, replace=False)]
    for j, t in points:
        for x in (np.nextafter(t, np.float32(-np.inf)), t, np.nextafter(t, np.float32(np.inf))):
            row = base.copy()
            row[j] = x
            edges.append(row)
    rows = np.vstack([test, np.asarray(edges, dtype=np.float32).reshape(-1, len(features))])
    rows = rows[np.isfinite(rows).all(axis=1)]
    return rows, ["test"] * len(test) + ["edge"] * (len(rows) - len(test))


def write_check_vectors(
    model_dir: Path, manifest: dict[str, Any], x_test: np.ndarray
) -> dict[str, Any]:
    """Write model_dir/check_vectors.json for the served graph; return the manifest entry."""
    served = manifest["variants"][manifest["serve_variant"]]["file"]
    graph = onnx.load(str(model_dir / served))
    features = list(manifest["features"])
    rows, kind = build_rows(graph, x_test, manifest["feature_stats"], features)
    p = export.predict(export.session(model_dir / served), rows)
    doc = {
        "features": features,
        "rows": [[float(x) for x in r] for r in rows],
        "p": [float(x) for x in p],
        "kind": kind,
    }
    path = model_dir / FILE
    path.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"file": FILE, "sha256": sha, "rows": len(rows)}
