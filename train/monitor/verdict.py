"""Realised vs promised precision: the monitor's verdict.

The rule (docs/ML_PIPELINE.md, "Outcome monitor"): a scope (all candidates,
or one symbol) is judged when the window holds at least `min_approvals`
approvals in it and the test split has a precision for it. It is DEGRADED
when the upper end of the two-sided `confidence` interval of

    realised precision - test-split precision

is below zero, i.e. a one-sided test at level (1 - confidence)/2 (2.5 % at
the default 0.95) that the gate now delivers less than it promised. The
level is shared among the m judged scopes (Bonferroni: each is tested at
(1 - confidence)/(2m)), so a healthy window raises a false alarm anywhere with
probability at most (1 - confidence)/2, however many symbols are watched. Both
terms are uncertain: the realised precision's samples come from the window's
block bootstrap; the test-split precision's from a normal with the standard
error its own block bootstrap gave at training time. Ignoring the second
would turn a model whose test precision was luckily high into a steady false
alarm.

A scope is SUSPICIOUS (flagged, never an exit code) when the lower end of that
interval is above zero: a model that does significantly better on new data
than on its own untouched test split has usually seen the data (leakage) or
is judged on its training period.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from train.monitor.evaluate import ALL, Evaluation, Scope, scope_seed

DEFAULT_MIN_APPROVALS = 30


@dataclass
class Judgement:
    scope: str
    judged: bool
    degraded: bool
    suspicious: bool
    approvals: int
    precision: float | None
    test_precision: float | None
    test_precision_se: float | None
    difference_lower: float | None
    difference_upper: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    healthy: bool
    rule: str
    judgements: list[Judgement]

    @property
    def degraded(self) -> list[Judgement]:
        return [j for j in self.judgements if j.degraded]

    def of(self, scope: str) -> Judgement:
        return next(j for j in self.judgements if j.scope == scope)


def rule_text(confidence: float, min_approvals: int, judged: int) -> str:
    return (
        f"degraded when the upper end of the {confidence:.0%} interval of (realised - test-split "
        f"precision) is below 0: one-sided, level {(1 - confidence) / 2:.3g} shared by the "
        f"{judged} judged scope(s) (Bonferroni); judged with at least {min_approvals} approvals"
    )


def difference_interval(
    samples: np.ndarray, test_precision: float, test_se: float | None, confidence: float, seed: int
) -> tuple[float | None, float | None]:
    ok = samples[np.isfinite(samples)]
    if len(ok) == 0:
        return None, None
    z = np.random.default_rng(seed).standard_normal(len(ok))
    diff = ok - (test_precision + (test_se or 0.0) * z)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(diff, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def judge_scope(
    s: Scope,
    promised: dict[str, Any] | None,
    confidence: float,
    min_approvals: int,
    seed: int,
    judged: int = 1,
) -> Judgement:
    f = s.figures
    tp = (promised or {}).get("precision")
    se = (promised or {}).get("precision_se")
    j = Judgement(s.name, False, False, False, f.approvals, f.precision, tp, se, None, None, "")
    if tp is None:
        j.reason = "no test-split precision for it (no approvals there)"
        return j
    if f.approvals < min_approvals:
        j.reason = f"{f.approvals} approvals < --min-approvals {min_approvals}: not judged"
        return j
    promised_n = (promised or {}).get("approvals")
    if promised_n is not None and promised_n < min_approvals:
        # A promise measured on a handful of test approvals is no promise to hold a model to.
        j.reason = (
            f"the test split's precision rests on {promised_n} approvals "
            f"< --min-approvals {min_approvals}: not judged"
        )
        return j
    level = 1.0 - (1.0 - confidence) / max(1, judged)
    lo, hi = difference_interval(s.samples, tp, se, level, scope_seed(seed, "diff:" + s.name))
    j.judged = True
    j.difference_lower, j.difference_upper = lo, hi
    j.degraded = hi is not None and hi < 0
    j.suspicious = lo is not None and lo > 0
    what = "all candidates" if s.name == ALL else s.name
    if j.degraded:
        j.reason = (
            f"{what}: realised precision {f.precision:.3f} "
            f"[{s.precision_lower:.3f}, {s.precision_upper:.3f}] on {f.approvals} approvals is "
            f"significantly below the test split's {tp:.3f} (difference {lo:+.3f} to {hi:+.3f})"
        )
    elif j.suspicious:
        j.reason = (
            f"{what}: realised precision {f.precision:.3f} is significantly ABOVE the test "
            f"split's {tp:.3f}: check for leakage or a window inside the training period"
        )
    else:
        j.reason = f"{what}: realised {f.precision:.3f} vs test {tp:.3f}: consistent"
    return j


def judge(
    ev: Evaluation,
    promise: dict[str, Any],
    min_approvals: int = DEFAULT_MIN_APPROVALS,
    seed: int = 0,
) -> Verdict:
    per = promise.get("per_symbol") or {}
    pairs = [(ev.overall, promise["overall"])] + [
        (s, per.get(name)) for name, s in ev.per_symbol.items()
    ]
    m = sum(
        1
        for s, t in pairs
        if (t or {}).get("precision") is not None
        and s.figures.approvals >= min_approvals
        and (t or {}).get("approvals", min_approvals) >= min_approvals
    )
    js = [judge_scope(s, t, ev.confidence, min_approvals, seed, m) for s, t in pairs]
    return Verdict(
        healthy=not any(j.degraded for j in js),
        rule=rule_text(ev.confidence, min_approvals, m),
        judgements=js,
    )
