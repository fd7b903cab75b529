"""report.md's "For the trader" section: which threshold to run, and what it earns.

The σ figures elsewhere in the report are in units of each record's own standard
deviation; a trader counts basis points after fees. Here each test-split candidate's
move at horizon (train/labels/realised.py: entry at the candidate's price, exit at the
last price of the lookahead, signed toward VWAP — the mean-reversion trade held to the
label's horizon) is turned into basis points of its price, σ/price·10⁴, and a
round-trip fee is taken off every approved trade.

The advice reads the test split only (never used to fit or to choose anything), on a
grid of thresholds, counting only thresholds that approve at least MIN_APPROVALS
trades: the precision of a dozen trades is noise.
"""

# ruff: noqa: RUF001, RUF002, RUF003  (σ is the unit the labels are in)

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from train.backtest.trading import THRESHOLDS

# A round trip (enter + exit) of two maker fills, or a discounted taker tier; retail
# taker fees are often 10 bp a side (20 bp round trip): pass yours with --fee-bps.
DEFAULT_FEE_BPS = 5.0
MIN_APPROVALS = 30
GRID = tuple(round(0.05 + 0.01 * i, 2) for i in range(91))  # 0.05 … 0.95


@dataclass
class TraderOptions:
    fee_bps: float = DEFAULT_FEE_BPS  # round trip, per approved trade
    advice_precision: float | None = None  # None: the test precision at the decision threshold


def pnl_bps(horizon_sigma: np.ndarray, sigma_bps: np.ndarray, fee_bps: float) -> np.ndarray:
    """Net P&L per trade in bp: the move toward VWAP at horizon, in bp of price, less the fee."""
    return horizon_sigma * sigma_bps - fee_bps


def _row(t: float, y: np.ndarray, p: np.ndarray, net: np.ndarray | None, fee: float) -> dict:
    sel = p >= t
    n = int(sel.sum())
    row: dict[str, Any] = {
        "threshold": t,
        "approved": n,
        "approval_rate": float(sel.mean()) if len(p) else None,
        "precision": float(y[sel].mean()) if n else None,
        "recall": float((sel & (y == 1)).sum() / max(1, int(y.sum()))),
        "net_bps_per_trade": None,
        "gross_bps_per_trade": None,
        "net_bps_total": None,
    }
    if net is not None and n:
        v = net[sel]
        v = v[np.isfinite(v)]
        if len(v):
            row |= {
                "net_bps_per_trade": float(v.mean()),
                "gross_bps_per_trade": float(v.mean()) + fee,
                "net_bps_total": float(v.sum()),
            }
    return row


def table(
    y: np.ndarray, p: np.ndarray, net: np.ndarray | None, fee: float, grid: tuple[float, ...]
) -> list[dict[str, Any]]:
    return [_row(t, y, p, net, fee) for t in grid]


def advise(
    y: np.ndarray,
    p: np.ndarray,
    horizon: np.ndarray,
    sigma_bps: np.ndarray | None,
    decision: float,
    opts: TraderOptions,
) -> dict[str, Any]:
    """The advice and the rows behind it (JSON-ready)."""
    net = None if sigma_bps is None else pnl_bps(horizon, sigma_bps, opts.fee_bps)
    fine = table(y, p, net, opts.fee_bps, GRID)
    at_decision = _row(decision, y, p, net, opts.fee_bps)
    target = opts.advice_precision
    if target is None:
        target = at_decision["precision"]
    usable = [r for r in fine if r["approved"] >= MIN_APPROVALS]
    reach = [r for r in usable if target is not None and r["precision"] >= target - 1e-12]
    # The most approvals at the stated precision: the lowest threshold that reaches it.
    for_precision = min(reach, key=lambda r: r["threshold"]) if reach else None
    with_pnl = [r for r in usable if r["net_bps_total"] is not None]
    best_total = max(with_pnl, key=lambda r: r["net_bps_total"]) if with_pnl else None
    all_net = None
    if net is not None:
        v = net[np.isfinite(net)]
        all_net = float(v.mean()) if len(v) else None
    return {
        "fee_bps": opts.fee_bps,
        "target_precision": target,
        "target_precision_from": "--advice-precision"
        if opts.advice_precision is not None
        else f"test precision at the decision threshold {decision}",
        "min_approvals": MIN_APPROVALS,
        "decision": at_decision,
        "for_precision": for_precision,
        "best_total_pnl": best_total,
        "all_candidates_net_bps_per_trade": all_net,
        "candidates": len(y),
        "table": table(y, p, net, opts.fee_bps, THRESHOLDS),
        "grid": fine,
    }


def _f(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _bp(v: float | None) -> str:
    return "-" if v is None else f"{v:+.2f} bp"


def _say(r: dict[str, Any]) -> str:
    pnl = "" if r["net_bps_per_trade"] is None else f", {_bp(r['net_bps_per_trade'])} a trade"
    return f"{r['approved']} approvals at precision {_f(r['precision'])}{pnl}"


def read_aloud(a: dict[str, Any]) -> str:
    """The trade-off table in one sentence: lowest table threshold vs the decision one."""
    rows = [r for r in a["table"] if r["approved"]]
    if not rows:
        return "The gate approves no test candidate at any threshold of the table."
    lo, dec = rows[0], a["decision"]
    if abs(lo["threshold"] - dec["threshold"]) < 1e-9:  # the decision is the lowest: vs the top
        lo, dec = dec, rows[-1]
    if abs(lo["threshold"] - dec["threshold"]) < 1e-9:
        return f"At threshold {lo['threshold']:.2f} the gate makes {_say(lo)}."
    better = (dec["precision"] or 0) > (lo["precision"] or 0)
    verdict = (
        "fewer trades, and better ones"
        if better
        else "fewer trades and no better ones: on this test split the higher threshold buys nothing"
    )
    return (
        f"Raising the threshold from {lo['threshold']:.2f} ({_say(lo)}) to "
        f"{dec['threshold']:.2f} ({_say(dec)}) gives {verdict}."
    )


def markdown(a: dict[str, Any], m: dict[str, Any], label: dict[str, Any]) -> list[str]:
    dec = a["decision"]
    target = a["target_precision"]
    fp = a["for_precision"]
    if target is None:
        advice = "No precision to aim at: the gate approves nothing at the decision threshold."
    elif fp is None:
        advice = (
            f"No threshold reaches precision {target:.3f} with at least {a['min_approvals']} "
            "approvals on the test split."
        )
    else:
        advice = (
            f"To reach precision **{target:.3f}** ({a['target_precision_from']}), the lowest "
            f"threshold is **{fp['threshold']:.2f}**: {_say(fp)}"
            + (
                f", vs {dec['approved']} at {dec['threshold']}."
                if fp["approved"] != dec["approved"]
                else "."
            )
        )
    best = a["best_total_pnl"]
    pnl_line = (
        "P&L is not available: this model was fitted without the price path per row "
        "(--engine dask)."
        if best is None and a["all_candidates_net_bps_per_trade"] is None
        else (
            f"The most total P&L after fees on the test split: threshold "
            f"**{best['threshold']:.2f}**, {_say(best)}, {_bp(best['net_bps_total'])} in all; "
            f"trading every candidate would make "
            f"{_bp(a['all_candidates_net_bps_per_trade'])} a trade."
            if best is not None
            else "No threshold approves enough trades to compare P&L."
        )
    )
    lines = [
        "## For the trader: which threshold, and what it earns",
        "",
        f"- {advice}",
        f"- {pnl_line}",
        f"- {read_aloud(a)}",
        "",
        f"P&L per approved trade = the move toward VWAP from entry to the last price of the "
        f"{label['lookahead_s']:g} s lookahead (holding to the label's horizon), in basis points "
        f"of price (σ/price·10⁴ per candidate), less a round-trip fee of **{a['fee_bps']:g} bp** "
        "(`train fit --fee-bps`). Test split; thresholds approving fewer than "
        f"{a['min_approvals']} trades are not advised. No slippage or position sizing.",
        "",
        "| threshold | approved | approval rate | precision | recall | P&L/trade before fee "
        "| P&L/trade after fee | total after fee |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in a["table"]:
        t = f"{r['threshold']:.2f}"
        if abs(r["threshold"] - dec["threshold"]) < 1e-9:
            t = f"**{t}**"
        lines.append(
            f"| {t} | {r['approved']} | {_f(r['approval_rate'])} | {_f(r['precision'])} | "
            f"{_f(r['recall'])} | {_bp(r['gross_bps_per_trade'])} | "
            f"{_bp(r['net_bps_per_trade'])} | {_bp(r['net_bps_total'])} |"
        )
    lines += [
        "",
        f"- **Recall {_f(m.get('recall'), '.2f')}** is the share of the candidates that did "
        "revert which the gate approves. A gate is meant to be picky: a missed reversion costs "
        "an opportunity, not money, so a low recall at a high threshold is expected.",
        f"- **F1 {_f(m.get('f1'), '.2f')}** is the harmonic mean of precision and recall; a low "
        "recall drags it down, so it is not the figure to judge a gate by — precision, the "
        "number of approvals and the P&L per approved trade are.",
        "",
        "How to choose: start from the precision you need (above the base rate, and high "
        "enough that P&L after your fees is positive), take the lowest threshold that "
        "reaches it with enough approvals, and have the bot decide with it "
        "(go/predictor `DecideThreshold`), or retrain with `train fit --threshold` to make it "
        "the model's default (what `Decide` uses). `threshold_advice.json` holds these figures "
        "on a finer grid.",
        "",
    ]
    return lines


def report_section(
    out: Path, man: dict[str, Any], test: Any, p: np.ndarray, opts: TraderOptions | None
) -> list[str]:
    """report.md lines, and threshold_advice.json beside it."""
    opts = opts or TraderOptions()
    a = advise(test.y, p, test.horizon, test.sigma_bps, man["default_threshold"], opts)
    (out / "threshold_advice.json").write_text(json.dumps(a, indent=2) + "\n", encoding="utf-8")
    return markdown(a, man["metrics"]["test"], man["label"])
