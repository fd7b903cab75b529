"""Markdown, JSON and PNG for a walk-forward result (train/backtest/walkforward.py)."""

# ruff: noqa: RUF001, RUF003  (σ is the unit the labels are in)

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from train.backtest.trading import markdown_table


def _f(v: Any, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def _duration(s: float) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n and s % n == 0:
            return f"{s / n:g}{unit}"
    return f"{s:g}s"


def _pair(p: dict[str, Any], key: str, spec: str = ".3f") -> str:
    if "retrained" not in p:
        return "-"
    return f"{_f(p['retrained'][key], spec)} / {_f(p['once'][key], spec)}"


def _retrain(r: dict[str, Any]) -> str:
    if r["deployed"]:
        return f"deployed (test AUC {r['test_auc']:.3f})"
    return f"kept previous: {r.get('reason', '?')}"


def markdown(res: dict[str, Any], png: str, heading: str = "##") -> list[str]:
    every = _duration(res["every_s"])
    span = res["window_s"]
    window = f"the last {_duration(span)}" if span else "all history before it"
    tuned = (
        "tuned once on the first window"
        if res["search"] == "once"
        else f"{res['search']} search at every retrain"
    )
    thr = res["threshold"]
    lines = [
        f"{heading} Walk-forward: retrained every {every} vs trained once",
        "",
        f"At the start of each {every} period a {res['family']} model is retrained on "
        f"{window} exactly as `train fit` does (labels censored at the retrain time, cleaning, "
        f"60/20/20 split with embargo, {res['calibration']} calibration on the out-of-fold "
        f"training scores plus validation, gate: test AUC ≥ {res['min_auc']}; "
        f"parameters {tuned}) "
        f"and decides that period; it is compared with the model trained once on the first "
        f"window ({res['once']['trained_on'][0]} → {res['once']['trained_on'][1]}, test AUC "
        f"{res['once']['test_auc']:.3f}) and never replaced. Figures at threshold {thr}, "
        "retrained / once; reversion = mean best move toward VWAP within the lookahead, in σ.",
        "",
        "| period start (UTC) | rows | base rate | retrain | AUC | approval rate | precision "
        "| reversion σ, approved | reversion σ, all |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in res["periods"]:
        rev_all = p["retrained"]["reversion_all"] if "retrained" in p else None
        start = p["start"]
        if p.get("excluded"):
            start = f"{start} ⚠ excluded: {p['excluded']}"
        lines.append(
            f"| {start} | {p['rows']} | {_f(p['base_rate'])} | {_retrain(p['retrain'])} | "
            f"{_pair(p, 'auc')} | {_pair(p, 'approval_rate')} | {_pair(p, 'precision')} | "
            f"{_pair(p, 'reversion_approved')} | {_f(rev_all)} |"
        )
    pool = res["pooled"]
    pa = {k: pool[k]["at_threshold"] for k in ("retrained", "once")}
    n_ex = pool.get("excluded", 0)
    label = "**all periods**" if not n_ex else f"**all {pool['periods']} usable periods**"
    lines += [
        f"| {label} | {pool['rows']} | {_f(pool['base_rate'])} | "
        f"{sum(p['retrain']['deployed'] for p in res['periods'])} of {len(res['periods'])} "
        f"deployed | {_pair(pa, 'auc')} | {_pair(pa, 'approval_rate')} | "
        f"{_pair(pa, 'precision')} | {_pair(pa, 'reversion_approved')} | "
        f"{_f(pa['retrained']['reversion_all'])} |",
        "",
        *(
            [
                f"⚠ {n_ex} period(s) excluded from the pooled figures and the plot: fewer "
                f"than {pool['min_period_rows']} labelled rows, or one class only — too little to "
                "judge a gate by (a precision of a handful of approvals, no AUC).",
                "",
            ]
            if n_ex
            else []
        ),
        f"All usable periods pooled, per threshold — retrained every {every}:",
        "",
        *markdown_table(pool["retrained"]["table"], thr),
        "",
        "Trained once:",
        "",
        *markdown_table(pool["once"]["table"], thr),
        "",
        f"![walk-forward]({png})",
        "",
    ]
    return lines


def plot(path: Path, res: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nan = float("nan")
    ps = [p for p in res["periods"] if "retrained" in p and not p.get("excluded")]
    x = list(range(1, len(ps) + 1))

    def col(who: str, key: str) -> list[float]:
        return [nan if p[who][key] is None else p[who][key] for p in ps]

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for who, style in (("retrained", "o-"), ("once", "s--")):
        a1.plot(x, col(who, "precision"), style, label=f"precision, {who}")
        a1.plot(x, col(who, "approval_rate"), style, alpha=0.5, label=f"approval, {who}")
        a2.plot(x, col(who, "reversion_approved"), style, label=f"approved, {who}")
    a2.plot(x, col("retrained", "reversion_all"), "k:", label="all candidates")
    a1.set(xlabel="period", ylim=(0, 1.02), title=f"At threshold {res['threshold']}")
    a2.set(xlabel="period", ylabel="σ toward VWAP", title="Mean reversion per candidate")
    for ax in (a1, a2):
        ax.set_xticks(x)
    a1.legend(fontsize=8)
    a2.legend(fontsize=8)
    fig.suptitle(f"Walk-forward: retrained every {_duration(res['every_s'])} vs once")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(out: Path, res: dict[str, Any], stem: str) -> list[str]:
    """stem.json and stem.png in `out`; returns the markdown section."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    plot(out / f"{stem}.png", res)
    return markdown(res, f"{stem}.png")
