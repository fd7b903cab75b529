"""What `train fit` promises per symbol: test-split figures and per-symbol thresholds.

Stored in the manifest (docs/TRAINING.md, "Per-symbol figures and thresholds"):

* `metrics.per_symbol`: per symbol, the test split at the default threshold
  (rows, base rate, approvals, approval rate, precision, expected precision,
  ECE, AUC; null where a symbol has one class or no approval);
* `symbol_thresholds`: only for a symbol the VALIDATION split shows to be
  worse than the rest (docs/TRAINING.md, "Per-symbol thresholds"). A symbol
  is tested when it has at least MIN_APPROVALS validation approvals at the
  default threshold: it is significantly below when the one-sided upper Wilson
  bound of its validation precision, at level ALPHA / m (Bonferroni over the m
  tested symbols) and counting approvals within one lookahead as one
  observation, is below the overall validation precision at the default
  threshold (the target). Only such a
  symbol gets an entry: the lowest threshold >= the default whose validation
  precision reaches the target on at least MIN_APPROVALS approvals, or
  BLOCKED (with a warning) when none does. Every other symbol keeps the
  default (no entry): a threshold fitted to the noise of a few hundred
  validation approvals raised false alarms and blocked healthy symbols.
  The promise the monitor checks is measured on the TEST split at the chosen
  thresholds, never on validation, so the slight luck of "the lowest
  threshold that reaches the target" does not leak into it;
* `metrics.served`: the test split at the served thresholds (default or the
  symbol's), overall and per symbol, with each precision's standard error and
  effective number of approvals — what `train monitor` compares the live
  outcomes with.

Everything is scored with the served variant's graph, as the sidecar scores.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from train.monitor.bootstrap import (
    DEFAULT_BLOCK_LOOKAHEADS,
    Blocks,
    jeffreys_sd,
    standard_error,
)
from train.monitor.evaluate import ALL, scope_seed
from train.monitor.figures import figures

log = logging.getLogger("train")
MIN_APPROVALS = 30  # validation approvals a symbol's test and threshold must rest on
ALPHA = 0.05  # one-sided level of "significantly below", shared by the tested symbols
BLOCKED = 0.999  # the format wants (0, 1); a calibrated p this high practically never occurs
FAR_BELOW = 0.10  # a symbol's precision this far below the overall one is warned about
MIN_WARN_APPROVALS = 10  # below this many test approvals a symbol's precision is noise


def choose_threshold(
    y: np.ndarray, p: np.ndarray, target: float, min_approvals: int
) -> float | None:
    """The lowest t with precision(p ≥ t) ≥ target on ≥ min_approvals rows; None if none."""
    order = np.argsort(-p.astype(np.float64), kind="stable")
    ps, ys = p[order], y[order]
    k = np.arange(1, len(ps) + 1)
    prec = np.cumsum(ys) / k
    # Only cut after the last of a run of equal scores: p ≥ t approves all of them.
    cut = np.r_[ps[1:] < ps[:-1], True]
    ok = np.flatnonzero(cut & (k >= min_approvals) & (prec >= target))
    if len(ok) == 0:
        return None
    return float(ps[ok[-1]])


def wilson_upper(successes: float, n: float, level: float) -> float:
    """The one-sided upper Wilson score bound at `level` for a proportion (n may be fractional)."""
    # Imported here, as scikit-learn in figures.py: `train --help` must not pay for SciPy.
    from scipy.stats import norm

    z = float(norm.ppf(level))
    ph = successes / n
    centre = ph + z * z / (2 * n)
    half = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n))
    return (centre + half) / (1 + z * z / n)


def significantly_below(
    ts_ns: np.ndarray, y: np.ndarray, approved: np.ndarray, target: float, level: float,
    lookahead_s: float,
) -> tuple[bool, float, int]:  # fmt: skip
    """(the upper bound of the precision < target, that bound, the effective approvals).

    Approvals within one lookahead share most of one price window and are close to one
    observation: the effective sample size is the number of one-lookahead cells holding
    approvals (the precision itself is the pooled one). A binomial bound on the raw
    approvals called healthy symbols worse; the monitor's 30-minute block bootstrap
    needs more than the two or three blocks a symbol's validation split can span.
    """
    ts = ts_ns[approved]
    n_eff = len(np.unique(ts // max(1, round(lookahead_s * 1e9))))
    upper = wilson_upper(float(y[approved].mean()) * n_eff, n_eff, level)
    return upper < target, upper, n_eff


def symbol_thresholds(
    symbols: np.ndarray,
    ts_ns: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    default: float,
    lookahead_s: float,
    min_approvals: int = MIN_APPROVALS,
    alpha: float = ALPHA,
) -> tuple[dict[str, float], list[str]]:
    """Per-symbol thresholds on the validation split, for the symbols that need one
    (the module docstring's rule), and a warning for each."""
    approved = p >= default
    if not approved.any():
        return {}, ["validation: no approval at the default threshold; no per-symbol thresholds"]
    target = float(y[approved].mean())
    masks = {sym: symbols == sym for sym in sorted(set(symbols.tolist()))}
    tested = {s: m for s, m in masks.items() if int((m & approved).sum()) >= min_approvals}
    level = 1.0 - alpha / max(1, len(tested))  # Bonferroni: each symbol at alpha / m
    out: dict[str, float] = {}
    warnings = []
    for sym, m in tested.items():
        below, upper, n_eff = significantly_below(
            ts_ns[m], y[m], approved[m], target, level, lookahead_s
        )
        if not below:
            continue  # no evidence against it: the default threshold stays
        prec = float(y[m & approved].mean())
        why = (
            f"{sym}: validation precision {prec:.3f} at the default threshold is significantly "
            f"below the overall {target:.3f} (upper Wilson bound {upper:.3f} on {n_eff} "
            f"one-lookahead cells, one-sided level {alpha:g}/{len(tested)})"
        )
        hi = m & approved  # only thresholds >= the default: a weaker symbol is never loosened
        t = choose_threshold(y[hi], p[hi], target, min_approvals)
        if t is None:
            out[sym] = BLOCKED
            warnings.append(
                f"{why}; no threshold reaches {target:.3f} on {min_approvals}+ approvals: "
                f"threshold set to {BLOCKED} (approves nothing)"
            )
        else:
            out[sym] = float(min(max(t, default), BLOCKED))
            warnings.append(f"{why}; its threshold is raised to {out[sym]:.4g}")
    return out, warnings


def _figs(y: np.ndarray, p: np.ndarray, approved: np.ndarray) -> dict[str, Any]:
    d = figures(y, p, approved).to_dict()
    d.pop("log_loss")
    return d


def per_symbol_figures(
    symbols: np.ndarray, y: np.ndarray, p: np.ndarray, threshold: float
) -> dict[str, dict[str, Any]]:
    """The test split per symbol at one threshold (the report's table)."""
    return {
        sym: _figs(y[m], p[m], p[m] >= threshold)
        for sym in sorted(set(symbols.tolist()))
        for m in [symbols == sym]
    }


def served_figures(
    symbols: np.ndarray,
    ts_ns: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    default: float,
    thresholds: dict[str, float],
    lookahead_s: float,
    seed: int,
) -> dict[str, Any]:
    """The test split at the served thresholds, with block-bootstrap standard errors."""
    thr = np.full(len(y), default)
    for sym, t in thresholds.items():
        thr[symbols == sym] = t
    approved = p >= thr
    blocks = Blocks(
        int(ts_ns.min()), int(ts_ns.max()), lookahead_s, DEFAULT_BLOCK_LOOKAHEADS * lookahead_s
    )

    def one(name: str, m: np.ndarray | None, t: float | None) -> dict[str, Any]:
        sel = slice(None) if m is None else m
        ys, ps, ap, ts = y[sel], p[sel], approved[sel], ts_ns[sel]
        d = _figs(ys, ps, ap)
        d["threshold"] = t
        se = standard_error(blocks.precision_samples(ts, ys, ap, scope_seed(seed, name)))
        d["precision_se"], d["precision_n_eff"] = None, None
        if ap.any():
            # A test split spans few bootstrap blocks (one symbol's, fewer still), and so few
            # blocks understate the spread; never claim less than the binomial error on the
            # effective sample, approvals within one lookahead counted as one observation.
            n_eff = float(len(np.unique(ts[ap] // max(1, round(lookahead_s * 1e9)))))
            prec = float(ys[ap].mean())
            if se is not None and 0 < prec < 1 and se > 0:
                n_eff = min(n_eff, prec * (1 - prec) / se**2)  # the bootstrap saw more spread
            d["precision_n_eff"] = n_eff
            d["precision_se"] = max(se or 0.0, jeffreys_sd(prec, n_eff))
        return d

    return {
        "thresholds": "symbol_thresholds where given, else default_threshold",
        "block_seconds": blocks.block_s,
        "overall": one(ALL, None, None if thresholds else default),
        "per_symbol": {
            sym: one(sym, symbols == sym, thresholds.get(sym, default))
            for sym in sorted(set(symbols.tolist()))
        },
    }


def warnings_for(per_symbol: dict[str, dict[str, Any]], overall_precision: float) -> list[str]:
    """Symbols whose test precision at the default threshold is below their base
    rate (the gate picks worse than chance there) or FAR_BELOW the overall."""
    out = []
    for sym, f in per_symbol.items():
        prec, base = f["precision"], f["base_rate"]
        if prec is None or f["approvals"] < MIN_WARN_APPROVALS:
            continue
        if base is not None and prec < base:
            out.append(f"{sym}: test precision {prec:.3f} is below its base rate {base:.3f}")
        elif prec < overall_precision - FAR_BELOW:
            out.append(
                f"{sym}: test precision {prec:.3f} is far below the overall {overall_precision:.3f}"
            )
    return out


def training_figures(
    ds: Any, p_val: np.ndarray, p_test: np.ndarray, default: float, lookahead_s: float, seed: int
) -> tuple[dict[str, Any], dict[str, float], list[str]]:
    """(additions to the manifest's `metrics`, `symbol_thresholds`, warnings).

    p_val, p_test: the served variant's probabilities on the validation and test
    splits. Nothing when the dataset kept no symbols.
    """
    va, te = ds.validation, ds.test
    if va.symbols is None or te.symbols is None:
        return {}, {}, []
    thresholds, warnings = symbol_thresholds(
        va.symbols, va.ts_ns, va.y, p_val, default, lookahead_s
    )
    per = per_symbol_figures(te.symbols, te.y, p_test, default)
    overall = _figs(te.y, p_test, p_test >= default)
    if overall["precision"] is not None:
        warnings += warnings_for(per, overall["precision"])
    served = served_figures(
        te.symbols, te.ts_ns, te.y, p_test, default, thresholds, lookahead_s, seed
    )
    for w in warnings:
        log.warning("per-symbol: %s", w)
    return {"per_symbol": per, "served": served, "warnings": warnings}, thresholds, warnings


def _f(v: Any, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def report_section(man: dict[str, Any]) -> list[str]:
    """report.md: the per-symbol table, the thresholds and the warnings."""
    m = man.get("metrics") or {}
    per = m.get("per_symbol")
    if not per:
        return []
    thr = man.get("symbol_thresholds") or {}
    served = (m.get("served") or {}).get("per_symbol") or {}
    lines = [
        "## Per symbol (test split)",
        "",
        f"At the default threshold {man['default_threshold']}; the last three columns at the "
        "symbol's own threshold (chosen on the validation split, `symbol_thresholds`).",
        "",
        "| symbol | rows | base rate | approvals | approval rate | precision | expected "
        "precision | ECE | AUC | threshold | approvals | precision ± se |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sym, f in per.items():
        s = served.get(sym, {})
        lines.append(
            f"| {sym} | {f['rows']} | {_f(f['base_rate'])} | {f['approvals']} | "
            f"{_f(f['approval_rate'])} | {_f(f['precision'])} | {_f(f['expected_precision'])} | "
            f"{_f(f['ece'], '.4f')} | {_f(f['auc'])} | {_f(thr.get(sym), '.4g')} | "
            f"{s.get('approvals', '-')} | {_f(s.get('precision'))} ± {_f(s.get('precision_se'))} |"
        )
    o = (m.get("served") or {}).get("overall") or {}
    lines += [
        "",
        f"Overall at the served thresholds: {o.get('approvals')} approvals, precision "
        f"{_f(o.get('precision'))} ± {_f(o.get('precision_se'))}, expected precision "
        f"{_f(o.get('expected_precision'))} (what `train monitor` compares live outcomes with).",
        "",
    ]
    if m.get("warnings"):
        lines += ["**Warnings:**", "", *[f"* WARNING: {w}" for w in m["warnings"]], ""]
    return lines
