"""`--model lgbm`: a family added through train/model/families.py alone goes the whole way.

Real pipeline on small data: fit, ONNX export with onnxmltools' LightGBM
converter, the parity and variant gates, the report, and the real `infer`
sidecar serving the published directory.
"""
# ruff: noqa: N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from tests.infer.sidecar import Sidecar
from tests.train.conftest import manifest, run_cli
from train.data.load import read_records


def test_lgbm_fit_publishes_a_model_infer_serves_like_onnxruntime(tmp_path, small_data, capsys):
    code, out, err = run_cli(
        ["fit", "--data", str(small_data), "--out", str(tmp_path), "--model", "lgbm",
         "--cv-folds", "2", "--tune-rows", "1500", "--min-auc", "0"], capsys)  # fmt: skip
    assert code == 0, err
    d = Path(out.strip().splitlines()[-1])
    m = manifest(d)
    assert m["model_family"] == "lgbm"
    assert "lightgbm" in m["libraries"] and "onnxmltools" in m["libraries"]
    # The parity gate passed, and every variant went through its gate.
    assert m["parity"]["onnx_vs_sklearn_max_abs_dp"] <= m["gates"]["max_parity"]
    for name, v in m["variants"].items():
        assert v["accepted"] or v["reason"], name
        assert v["agreement"] is not None, name
    # LightGBM feeds its calibrator the raw score, so the sigmoid folds into the leaves.
    assert "sigmoid folded" in m["variants"]["fp32"]["note"]
    assert "lgbm" in (d / "report.md").read_text()

    recs = read_records(small_data, m["features"])
    X = np.column_stack([recs.columns[f] for f in m["features"]]).astype(np.float32)[:64]
    served = m["variants"][m["serve_variant"]]["file"]
    sess = ort.InferenceSession(str(d / served), providers=["CPUExecutionProvider"])
    want = sess.run(["probability"], {"features": X})[0].reshape(-1)
    with Sidecar(d) as sc:
        info = sc.ready()
        assert info["error"] is None and info["model"]["version"] == m["version"]
        got = sc.result("predict", [X.tolist()])
    np.testing.assert_allclose(got["p"], want, rtol=0, atol=1e-6)
