"""--tune-rows narrows the search only: the published model is refit on every
training row and scored on the whole test split (the manifest says so too)."""
# ruff: noqa: N803  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

import train.fit
from tests.train.conftest import manifest, run_cli
from train.data.dataset import build_dataset
from train.data.load import read_records
from train.labels.labeler import LabelParams
from train.onnx import export

FEATURES = ["tick_ratio", "depth_ratio", "price_dist"]


def test_tune_rows_tunes_on_a_slice_but_refits_on_all_training_rows(
    tmp_path, small_data, capsys, monkeypatch
):
    final_fit_rows: list[int] = []
    real = train.fit.fit_pipeline

    def spy(family, params, seed, X, y):
        final_fit_rows.append(len(y))
        return real(family, params, seed, X, y)

    # train.model.search binds its own fit_pipeline: only the refit after the search is seen here.
    monkeypatch.setattr(train.fit, "fit_pipeline", spy)
    code, out, err = run_cli(
        ["fit", "--data", str(small_data), "--out", str(tmp_path), "--search", "fast",
         "--tune-rows", "600", "--cv-folds", "2", "--min-auc", "0", "--no-report"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    model_dir = Path(out.strip().splitlines()[-1])
    m = manifest(model_dir)
    rows = m["data"]["rows"]
    assert m["training"]["tuned_rows"] == 600 < rows["train"]
    assert final_fit_rows == [rows["train"]]

    # The reported test AUC is the published graph's on the full test split.
    ds = build_dataset(read_records(small_data, FEATURES), FEATURES, LabelParams(), 0.0)
    assert len(ds.train.y) == rows["train"] and len(ds.test.y) == rows["test"]
    assert m["metrics"]["test"]["rows"] == rows["test"]
    sess = export.session(model_dir / "model.onnx")
    p = export.predict(sess, ds.test.X.astype(np.float32))
    assert roc_auc_score(ds.test.y, p) == m["metrics"]["test"]["auc"]
