"""report.md with matplotlib plots (Agg backend: no display needed).

Everything is computed on the untouched test split with the FP32 ONNX
probabilities, i.e. exactly what the sidecar would answer.
"""
# ruff: noqa: N803, N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_curve

from train.backtest import trading
from train.monitor.promise import report_section as per_symbol_section
from train.publish import calibration_report, trader

PERMUTATION_ROWS = 20000  # enough for stable importances, bounded cost on big test splits


def _roc(path: Path, results: dict[str, Any], y: np.ndarray) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    for fam, r in results.items():
        fpr, tpr, _ = roc_curve(y, r.p_onnx)
        ax.plot(fpr, tpr, label=f"{fam} (AUC {r.metrics['auc']:.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test split")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def threshold_curves(y: np.ndarray, p: np.ndarray, grid: np.ndarray) -> dict[str, np.ndarray]:
    prec, rec, appr = [], [], []
    pos = max(1, int(y.sum()))
    for t in grid:
        sel = p >= t
        tp = int((sel & (y == 1)).sum())
        prec.append(tp / sel.sum() if sel.any() else np.nan)
        rec.append(tp / pos)
        appr.append(sel.mean())
    return {"precision": np.array(prec), "recall": np.array(rec), "approval": np.array(appr)}


def _threshold(path: Path, y: np.ndarray, p: np.ndarray, thr: float) -> None:
    grid = np.linspace(0.0, 1.0, 101)
    c = threshold_curves(y, p, grid)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(grid, c["precision"], label="precision")
    ax.plot(grid, c["recall"], label="recall")
    ax.plot(grid, c["approval"], label="approval rate")
    ax.axvline(thr, color="k", ls="--", lw=0.8, label=f"threshold {thr}")
    ax.set(xlabel="threshold", ylim=(0, 1.02), title="Precision / recall / approval vs threshold")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _calibration(path: Path, y: np.ndarray, p: np.ndarray) -> None:
    frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(mean, frac, "o-", label="model")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
    ax.set(xlabel="predicted probability", ylabel="observed rate", title="Calibration, test")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def importances(best: Any, X: np.ndarray, y: np.ndarray, seed: int) -> dict[str, Any]:
    """Impurity importance (tree families) and permutation importance (AUC drop)."""
    clf = best.pipeline.named_steps["clf"]
    inner = (
        clf.calibrated_classifiers_[0].estimator if hasattr(clf, "calibrated_classifiers_") else clf
    )
    impurity = getattr(inner, "feature_importances_", None)
    if len(y) > PERMUTATION_ROWS:
        X, y = X[-PERMUTATION_ROWS:], y[-PERMUTATION_ROWS:]
    perm = permutation_importance(
        best.pipeline, X.astype(np.float32), y, scoring="roc_auc", n_repeats=5, random_state=seed
    )
    return {
        "impurity": None if impurity is None else [float(v) for v in impurity],
        "permutation_mean": [float(v) for v in perm.importances_mean],
        "permutation_std": [float(v) for v in perm.importances_std],
    }


def _importance(path: Path, names: list[str], imp: dict[str, Any]) -> None:
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(names) + 2))
    pos = np.arange(len(names))
    h = 0.4
    ax.barh(pos - h / 2, imp["permutation_mean"], h, xerr=imp["permutation_std"],
            label="permutation (AUC drop)")  # fmt: skip
    if imp["impurity"] is not None:
        ax.barh(pos + h / 2, imp["impurity"], h, label="impurity")
    ax.set_yticks(pos, names)
    ax.set(title="Feature importance (permutation: test; impurity: training)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_report(
    out: Path, man: dict[str, Any], ds: Any, best: Any, results: dict,
    trader_opts: trader.TraderOptions | None = None,
) -> None:  # fmt: skip
    y = ds.test.y
    p = best.p_onnx
    thr = man["default_threshold"]
    _roc(out / "roc.png", results, y)
    _threshold(out / "threshold.png", y, p, thr)
    _calibration(out / "calibration.png", y, p)
    imp = importances(best, ds.test.X, y, man["training"]["seed"])
    man["importance"] = {"features": ds.features, **imp}
    _importance(out / "importance.png", ds.features, imp)
    m = man["metrics"]["test"]
    rows = man["data"]["rows"]
    lines = [
        f"# Model {man['version']}",
        "",
        f"Family **{man['model_family']}**, features {', '.join(man['features'])}; "
        f"served variant **{man['serve_variant']}**. Data {man['data']['first']} → "
        f"{man['data']['last']} (`{man['data']['source']}`, "
        f"**{man['data'].get('provenance', 'provenance unknown')}**, "
        f"sha256 `{man['data']['sha256'][:16]}…`).",
        "",
        f"Search **{man['training']['search']}** ({man['training']['fits']} fits, "
        f"{man['training']['cv_folds']} purged folds on {man['training']['tuned_rows']} rows), "
        f"best parameters `{man['training']['best_params']}`, refitted on "
        f"{man['data']['rows']['train']} training rows.",
        "",
        *calibration_report.data_warnings(man),
        *calibration_report.target_lines(man),
        "## Test split (untouched until now)",
        "",
        "| metric | value |",
        "|---|---|",
        *[
            f"| {k} | {_fmt(m[k])} |"
            for k in (
                "rows",
                "auc",
                "precision",
                "recall",
                "f1",
                "approval_rate",
                "base_rate",
                "brier",
            )
        ],
        f"| validation AUC | {_fmt(man['metrics']['validation']['auc'])} |",
        f"| CV AUC ({man['training']['search']}) | {_fmt(man['training']['cv_auc'])} |",
        "",
        f"Precision, recall, F1 and approval rate at threshold {thr}. Base rate = share of "
        "label 1 in the test split; a useful gate has precision above it.",
        "",
        "![ROC](roc.png) ![threshold](threshold.png)",
        "",
        *per_symbol_section(man),
        *trading.report_section(out, y, p, ds.test.reversion, ds.test.horizon, man["label"], thr),
        *trader.report_section(out, man, ds.test, p, trader_opts),
        *calibration_report.section(man),
        "![calibration](calibration.png)",
        "",
        "## Feature importance",
        "",
        "| feature | permutation (AUC drop, test) | impurity (training) |",
        "|---|---|---|",
        *[
            f"| {f} | {imp['permutation_mean'][i]:.4f} ± {imp['permutation_std'][i]:.4f} | "
            f"{_fmt(None if imp['impurity'] is None else imp['impurity'][i])} |"
            for i, f in enumerate(ds.features)
        ],
        "",
        "![importance](importance.png)",
        "",
        "## ONNX variants (compared with FP32 on the test split)",
        "",
        "| variant | accepted | bytes | max abs dp | agreement | AUC delta | latency µs (1 row) "
        "| note |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {k} | {'yes' if v['accepted'] else 'NO: ' + str(v['reason'])} | {v['bytes']} | "
            f"{_fmt(v['max_abs_dp'])} | {_fmt(v['agreement'])} | {_fmt(v['auc_delta'])} | "
            f"{_fmt(v['latency_us'])} | {v.get('note') or ''} |"
            for k, v in man["variants"].items()
        ],
        "",
        f"ONNX FP32 vs scikit-learn, max |Δp| on the test split: "
        f"{man['parity']['onnx_vs_sklearn_max_abs_dp']:.3g}. Latency is the median of single-"
        "record calls on this machine, one thread; a variant that is not faster buys nothing.",
        "",
        "## Rows",
        "",
        "| " + " | ".join(rows) + " |",
        "|" + "---|" * len(rows),
        "| " + " | ".join(str(v) for v in rows.values()) + " |",
        "",
        f"Labels: {man['label']}; embargo {man['data']['embargo_s']} s between splits.",
        "",
    ]
    if man.get("comparison"):
        lines += [
            "## Model families (same split; chosen by validation log-loss)",
            "",
            "| family | val AUC | test AUC | precision | recall | approval | brier | fit s "
            "| fp32 bytes | fp16 | int8 |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for fam, c in man["comparison"].items():
            t, v = c["test"], c["variants"]
            lines.append(
                f"| {fam} | {c['val_auc']:.4f} | {t['auc']:.4f} | {t['precision']:.3f} | "
                f"{t['recall']:.3f} | {t['approval_rate']:.3f} | {t['brier']:.4f} | "
                f"{c['fit_seconds']} | {v['fp32']['bytes']} | "
                + " | ".join(
                    f"{v[k]['bytes']} B, {_fmt(v[k]['latency_us'])} µs, "
                    f"{'ok' if v[k]['accepted'] else 'rejected'}"
                    for k in ("fp16", "int8")
                )
                + " |"
            )
        lines.append("")
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
