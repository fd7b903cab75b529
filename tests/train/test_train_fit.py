"""`train fit` end to end on synthetic data with a known answer."""
# ruff: noqa: N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tests.infer.sidecar import python
from tests.train.conftest import manifest, run_cli
from train.cli import main
from train.data.load import read_records
from train.model.families import NAMES

ROOT = Path(__file__).resolve().parents[2]
PY = python()


def test_planted_signal_is_found_on_the_untouched_test_split(planted_model):
    m = manifest(planted_model)
    assert m["metrics"]["test"]["auc"] >= 0.70


def test_no_signal_data_gives_chance_auc_the_leakage_check(tmp_path, capsys):
    # 60k rows: ~12k test rows, enough that a leak of even a few AUC points would show.
    data = tmp_path / "none.jsonl"
    assert run_cli(["sample", "--out", str(data), "--rows", "60000", "--seed", "3",
                    "--signal", "none"], capsys)[0] == 0  # fmt: skip
    code, _, err = run_cli(
        ["fit", "--data", str(data), "--out", str(tmp_path / "m"), "--model", "hgb",
         "--min-auc", "0", "--no-report"], capsys)  # fmt: skip
    # Honest probabilities on a signal-free market stay near the base rate: nothing
    # reaches 0.65, so the model is refused, and the refusal still reports its AUC.
    assert code == 1 and "approves nothing" in err, err
    auc = float(re.search(r"test AUC ([0-9.]+)", err).group(1))
    assert abs(auc - 0.5) <= 0.03, auc


def test_manifest_has_the_contract_keys_and_true_hashes(planted_model, planted_data):
    m = manifest(planted_model)
    for key in ("schema", "version", "features", "input_name", "output_name",
                "default_threshold", "serve_variant", "variants", "feature_stats"):  # fmt: skip
        assert key in m, key
    assert m["schema"] == 1 and m["version"] == planted_model.name
    assert m["features"] == ["tick_ratio", "depth_ratio", "price_dist"]
    assert (m["input_name"], m["output_name"]) == ("features", "probability")
    assert m["variants"][m["serve_variant"]]["accepted"] is True
    for v in m["variants"].values():
        data = (planted_model / v["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == v["sha256"]
        assert len(data) == v["bytes"]
    for st in m["feature_stats"].values():
        assert st["min"] <= st["q001"] <= st["mean"] <= st["q999"] <= st["max"]
    assert m["data"]["sha256"] == hashlib.sha256(planted_data.read_bytes()).hexdigest()
    r = m["data"]["rows"]
    assert r["train"] + r["validation"] + r["test"] + r["embargoed"] + r["censored"] + \
        r["dropped_nan"] + r["dropped_outlier"] == r["read"] - r["bad"]  # fmt: skip
    assert m["parity"]["onnx_vs_sklearn_max_abs_dp"] < 1e-4
    assert {"scikit-learn", "onnxruntime", "onnx", "skl2onnx", "numpy"} <= set(m["libraries"])
    assert not list(planted_model.glob("*.pkl")) and not list(planted_model.glob("*.pickle"))
    for f in ("report.md", "roc.png", "threshold.png", "calibration.png", "importance.png"):
        assert (planted_model / f).stat().st_size > 0


def test_every_variant_loads_and_scores_like_its_manifest_says(planted_model, planted_data):
    m = manifest(planted_model)
    recs = read_records(planted_data, m["features"])
    X = np.column_stack([recs.columns[f] for f in m["features"]]).astype(np.float32)[:2000]
    ref = None
    for name, v in m["variants"].items():
        if not v["accepted"]:
            assert v["reason"], f"{name} rejected without a reason"
            continue
        sess = ort.InferenceSession(str(planted_model / v["file"]))
        (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
        assert (inp.name, out.name) == ("features", "probability")
        p = sess.run(None, {"features": X})[0]
        assert p.dtype == np.float32 and p.shape in ((len(X),), (len(X), 1))  # MODEL_FORMAT.md
        p = p.reshape(-1)
        assert np.all((p >= 0) & (p <= 1))
        ref = p if name == "fp32" else ref
        agree = np.mean((p >= m["default_threshold"]) == (ref >= m["default_threshold"]))
        assert agree >= m["gates"]["min_agreement"]


def test_gate_failure_exits_1_and_publishes_nothing(tmp_path, small_data, capsys):
    out = tmp_path / "models"
    code, stdout, err = run_cli(
        ["fit", "--data", str(small_data), "--out", str(out), "--model", "hgb", "--cv-folds", "2",
         "--min-auc", "0.99", "--no-report"], capsys)  # fmt: skip
    assert code == 1
    assert "quality gate failed" in err and "--min-auc 0.99" in err
    assert list(out.iterdir()) == []  # not even the temporary directory is left
    assert stdout == ""


def test_cli_exit_codes_and_last_stdout_line(tmp_path, planted_data):
    def run(*argv):
        return subprocess.run([PY, "-m", "train", *argv], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    r = run("fit", "--data", str(planted_data))  # --out missing
    assert r.returncode == 2 and "--out" in r.stderr
    r = run("fit", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path))
    assert r.returncode == 2 and "missing.jsonl: no such file" in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(planted_data.read_text().split("\n", 1)[0] + "\n{oops\n")
    r = run("fit", "--data", str(bad), "--out", str(tmp_path / "m"))
    assert r.returncode == 2 and "bad.jsonl:2:" in r.stderr
    r = run("fit", "--data", str(planted_data), "--out", str(tmp_path), "--features", "nope")
    assert r.returncode == 2 and "--features" in r.stderr
    r = run("sample", "--out", str(tmp_path / "s.csv"), "--rows", "300")
    assert r.returncode == 2 and "s.csv" in r.stderr and ".jsonl" in r.stderr
    assert not (tmp_path / "s.csv").exists()
    r = run("sample", "--out", str(tmp_path / "s.jsonl"), "--rows", "3000", "--seed", "1")
    assert r.returncode == 0
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 3000
    r = run("fit", "--data", str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "m2"),
            "--model", "hgb", "--min-auc", "0", "--no-report", "--cv-folds", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip().splitlines()[-1])
    assert path.is_absolute() and path.parent == (tmp_path / "m2").resolve()
    assert json.loads((path / "manifest.json").read_text())["version"] == path.name
    assert [p.name for p in (tmp_path / "m2").iterdir()] == [path.name]


def test_extra_feature_flows_into_the_graph_width(tmp_path, small_data, capsys):
    code, out, err = run_cli(
        ["fit", "--data", str(small_data), "--out", str(tmp_path), "--model", "hgb",
         "--cv-folds", "2", "--no-report",
         "--features", "tick_ratio,depth_ratio,price_dist,bid_ask_spread"],
        capsys)  # fmt: skip
    assert code == 0, err
    d = Path(out.strip().splitlines()[-1])
    m = manifest(d)
    assert m["features"][-1] == "bid_ask_spread"
    sess = ort.InferenceSession(str(d / "model.onnx"))
    assert sess.get_inputs()[0].shape[1] == 4
    assert sys.version_info >= (3, 11)


def test_model_all_compares_every_family_and_serves_the_lowest_validation_log_loss(
    tmp_path, small_data, capsys
):
    code, out, err = run_cli(
        ["fit", "--data", str(small_data), "--out", str(tmp_path), "--model", "all",
         "--cv-folds", "2", "--tune-rows", "1500", "--min-auc", "0", "--no-report"],
        capsys)  # fmt: skip
    assert code == 0, err
    m = manifest(Path(out.strip().splitlines()[-1]))
    comp = m["comparison"]
    assert set(comp) == set(NAMES) >= {"gbm", "hgb", "rf", "xgb", "lgbm", "mlp"}
    assert m["model_family"] == min(comp, key=lambda f: comp[f]["validation"]["log_loss"])
    for fam, c in comp.items():
        assert c["parity"] < 1e-4, fam
        for name, v in c["variants"].items():
            assert v["accepted"] or v["reason"], (fam, name)


def test_isotonic_calibration_is_interpolated_and_passes_the_parity_gate(
    tmp_path, small_data, capsys
):
    code, out, err = run_cli(
        ["fit", "--data", str(small_data), "--out", str(tmp_path / "ok"), "--model", "hgb",
         "--cv-folds", "2", "--calibrate", "isotonic", "--min-auc", "0", "--no-report",
         "--threshold", "0.5"], capsys)  # fmt: skip
    assert code == 0, err
    m = manifest(Path(out.strip().splitlines()[-1]))
    assert m["parity"]["onnx_vs_sklearn_max_abs_dp"] < 1e-4
    assert "interpolation" in m["variants"]["fp32"]["note"]
    # A parity gate tighter than float32 scores allow still fails, with the hint.
    code, _, err = run_cli(
        ["fit", "--data", str(small_data), "--out", str(tmp_path / "tight"), "--model", "hgb",
         "--cv-folds", "2", "--calibrate", "isotonic", "--min-auc", "0", "--no-report",
         "--max-parity", "1e-12"], capsys)  # fmt: skip
    assert code == 1
    assert "ONNX vs scikit-learn max |dp|" in err and "--calibrate sigmoid" in err
    assert list((tmp_path / "tight").iterdir()) == []


def test_a_crash_while_writing_leaves_no_directory(tmp_path, small_data, monkeypatch):
    import train.publish.report

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(train.publish.report, "write_report", boom)
    with pytest.raises(OSError, match="disk full"):
        main(["fit", "--data", str(small_data), "--out", str(tmp_path), "--model", "hgb",
              "--cv-folds", "2", "--min-auc", "0"])  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_published_default_graph_is_the_folded_ensemble_and_infer_loads_it(planted_model):
    import onnx

    from infer.model import load

    m = manifest(planted_model)
    graph = onnx.load(str(planted_model / m["variants"]["fp32"]["file"])).graph
    # Scaler folded into the thresholds, no Reshape: the output is the Sigmoid's [N, 1].
    assert [n.op_type for n in graph.node] == ["TreeEnsembleRegressor", "Sigmoid"]
    assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == [0, 1]
    note = m["variants"]["fp32"]["note"]
    assert "sigmoid folded" in note and "StandardScaler folded" in note, note
    model = load(str(planted_model))
    X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    p = model.predict(X)
    assert p.shape == (64,) and np.all((p >= 0) & (p <= 1))
    ref = ort.InferenceSession(str(planted_model / "model.onnx")).run(None, {"features": X})[0]
    # Same graph; onnxruntime's vectorised Sigmoid may differ in the last ulp between sessions.
    np.testing.assert_allclose(p, ref.reshape(-1), rtol=0, atol=1e-6)
    # The single-record path binds the [1, 1] output buffer.
    for row in X[:8]:
        p1, _ = model.scorer.one(row.tolist())
        assert p1 == model.predict(row[None, :])[0]
