"""The gate in trading terms: what approving at threshold t buys, in σ of reversion.

Per approve threshold, the approved records' realised reversion and move at
horizon (train/labels/realised.py) against all candidates': the table and plot
of report.md's trading section and of the walk-forward backtest.
"""

# ruff: noqa: RUF001, RUF002, RUF003  (σ is the unit the labels are in)

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

# The thresholds a trader would consider: below 0.5 the gate approves the unlikely.
THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(9))


def _mean(a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return float(a.mean()) if len(a) else None


def trading_table(
    y: np.ndarray,
    p: np.ndarray,
    reversion: np.ndarray,
    horizon: np.ndarray,
    thresholds: tuple[float, ...] = THRESHOLDS,
) -> list[dict[str, Any]]:
    """Per threshold t: the records approved (p ≥ t) and what they realised vs all of them.

    precision is the share of label 1 among the approved (None when none is).
    """
    rows = []
    for t in thresholds:
        sel = p >= t
        n = int(sel.sum())
        rows.append(
            {
                "threshold": t,
                "approved": n,
                "approval_rate": float(sel.mean()) if len(p) else None,
                "precision": float(y[sel].mean()) if n else None,
                "reversion_approved": _mean(reversion[sel]),
                "reversion_all": _mean(reversion),
                "horizon_approved": _mean(horizon[sel]),
                "horizon_all": _mean(horizon),
            }
        )
    return rows


def _f(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def markdown_table(rows: list[dict[str, Any]], decision: float | None = None) -> list[str]:
    """The table rows; the bot's decision threshold is marked in bold."""
    out = [
        "| threshold | approved | approval rate | precision | reversion σ, approved | "
        "reversion σ, all | move at horizon σ, approved | move at horizon σ, all |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = f"{r['threshold']:.2f}"
        if decision is not None and abs(r["threshold"] - decision) < 1e-9:
            t = f"**{t}**"
        out.append(
            f"| {t} | {r['approved']} | {_f(r['approval_rate'])} | {_f(r['precision'])} | "
            f"{_f(r['reversion_approved'])} | {_f(r['reversion_all'])} | "
            f"{_f(r['horizon_approved'])} | {_f(r['horizon_all'])} |"
        )
    return out


def plot(path: Path, rows: list[dict[str, Any]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nan = float("nan")
    t = [r["threshold"] for r in rows]

    def col(k: str) -> list[float]:
        return [nan if r[k] is None else r[k] for r in rows]

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(t, col("approval_rate"), "o-", label="approval rate")
    a1.plot(t, col("precision"), "o-", label="precision")
    a1.set(xlabel="threshold", ylim=(0, 1.02), title="What the gate lets through")
    a1.legend()
    a2.plot(t, col("reversion_approved"), "o-", label="reversion, approved")
    a2.plot(t, col("reversion_all"), "k--", label="reversion, all candidates")
    a2.plot(t, col("horizon_approved"), "s-", label="move at horizon, approved")
    a2.plot(t, col("horizon_all"), "k:", label="move at horizon, all")
    a2.set(xlabel="threshold", ylabel="σ toward VWAP", title="What it buys (mean per trade)")
    a2.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def report_section(
    out: Path, y: np.ndarray, p: np.ndarray, reversion: np.ndarray, horizon: np.ndarray,
    params: dict[str, Any], decision: float,
) -> list[str]:  # fmt: skip
    """report.md lines for the test split, and trading.png beside it."""
    rows = trading_table(y, p, reversion, horizon)
    plot(out / "trading.png", rows, "Test split, by approve threshold")
    doc = {"split": "test", "decision_threshold": decision, "label": params, "rows": rows}
    (out / "trading.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return [
        "## In trading terms (test split)",
        "",
        f"Per approve threshold: how many candidates the gate approves, the share of them "
        f"that reverted by {params['threshold_sigma']} σ within {params['lookahead_s']:g} s "
        "(precision, the label), and the mean realised reversion toward VWAP in σ — the best "
        "move inside the lookahead (what the label thresholds) and the move from entry to the "
        "last price of the lookahead (holding to the horizon) — for the approved candidates "
        "against all of them (what trading without the gate gets). The decision threshold "
        "is in bold.",
        "",
        *markdown_table(rows, decision),
        "",
        "![trading](trading.png)",
        "",
    ]
