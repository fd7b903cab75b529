"""The gate in trading terms: what approving at threshold t buys, in σ of reversion.

The labels (train/labels.py) ask "did the price revert by `threshold_sigma` σ
toward VWAP within the lookahead?". Here the same window gives the size of the
move, per record, in σ = max(std_dev, min_std) units, signed so that a move
toward VWAP is positive:

* reversion: the best move toward VWAP inside (t, t+L] — for dist > 0,
  (price(t) - min future price)/σ; for dist < 0, (max future price - price(t))/σ.
  A candidate is labelled 1 exactly when |dist| > min_dist and reversion ≥
  threshold_sigma, so this is the quantity the labels threshold.
* move at horizon: the move toward VWAP from price(t) to the last price in the
  window, i.e. what holding the trade to the end of the lookahead realised.

A window with no records (a pause in the feed) realised no move: both are 0,
as its label is 0. Censored records (window past the data's end) have none:
NaN, and they are never in a split. dist == 0 has no direction: NaN.
"""

# ruff: noqa: RUF001, RUF002, RUF003  (σ is the unit the labels are in)

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from train.labels import NS, LabelParams, range_extrema, sort_order, window_bounds

# The thresholds a trader would consider: below 0.5 the gate approves the unlikely.
THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(9))


def realised_reversion(
    symbol_codes: np.ndarray,
    ts_ns: np.ndarray,
    price: np.ndarray,
    vwap: np.ndarray,
    std_dev: np.ndarray,
    params: LabelParams,
) -> tuple[np.ndarray, np.ndarray]:
    """(reversion, move at horizon) in σ per record, in the input's own order."""
    order = sort_order(symbol_codes, ts_ns)
    codes, ts, pr = symbol_codes[order], ts_ns[order], price[order]
    lo, hi, censored = window_bounds(codes, ts, round(params.lookahead_s * NS))
    fmin, fmax = range_extrema(pr, lo, hi)
    sigma = np.maximum(std_dev[order], params.min_std)
    direction = np.sign(pr - vwap[order])  # +1: price above VWAP, the reversion is down
    empty = hi <= lo
    last = pr[np.where(empty, lo, hi - 1).clip(max=len(pr) - 1)] if len(pr) else pr
    with np.errstate(invalid="ignore"):
        best = np.where(direction > 0, pr - fmin, fmax - pr) / sigma
        end = direction * (pr - last) / sigma
    best[empty] = 0.0
    end[empty] = 0.0
    for a in (best, end):
        a[censored | (direction == 0)] = np.nan
    out_best, out_end = np.empty_like(best), np.empty_like(end)
    out_best[order], out_end[order] = best, end
    return out_best, out_end


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
