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

A judged scope is also DEGRADED when its realised precision is significantly
below the model's own mean probability over the same approvals (the upper end
of the interval of realised - mean p below zero): the bot reads p as a chance,
so approvals at p 0.70 that realise 0.43 are a broken promise whatever the
test split said. This needs no test-split figure, so it also judges a scope
whose test split had too few approvals. With two criteria per scope, each is
tested at (1 - confidence)/(4m).

A scope is SUSPICIOUS (flagged, never an exit code) when the lower end of that
interval is above zero: a model that does significantly better on new data
than on its own untouched test split has usually seen the data (leakage) or
is judged on its training period.

A scope is also DEGRADED when its approval rate is significantly below
APPROVAL_FLOOR (half) of its test split's at the same thresholds: a gate that
stopped approving (0 of 19,938 candidates where its test split approved 20 %)
delivers nothing, and no precision can be judged on no approvals. Both rates
are uncertain and their samples are dependent (approvals cluster in time), so
each is drawn from the Jeffreys posterior Beta(k + ½, n - k + ½) on an
effective sample: the candidates divided by the clustering of the approvals
(approvals per one-lookahead cell holding any; the window's or the test
split's, whichever is larger: the test split's is approvals / its stored
precision_n_eff), and no larger than the window's block bootstrap of the rate
allows. The Jeffreys posterior keeps a spread at 0 approvals, where the
bootstrap has none. DEGRADED when the upper end of the interval of (realised
rate - APPROVAL_FLOOR x test rate) is below 0, one-sided at (1 - confidence)/2
shared by the scopes tested (Bonferroni): those whose test split has at least
`min_approvals` approvals. The floor, not the test rate itself: the rate
follows the market (a quieter week approves less), and the gate is in trouble
when it approves less than half as often as promised, not 20 % less. Judged
without --min-approvals approvals in the window (a gate with none is the case
this is for), it is the only criterion a scope with few approvals gets.

A scope whose outcomes rest on a thinned price path (more than
window.MAX_BAD_PRICE_SHARE of its records in the window dropped for a NaN or
±Inf price, vwap or std_dev: Window.thinned) is not judged, with that reason,
as a window too short for an interval is not: its realised precision is biased
low by the records the labels could not see.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from train.monitor.bootstrap import jeffreys, standard_error
from train.monitor.evaluate import ALL, Evaluation, Scope, scope_seed

DEFAULT_MIN_APPROVALS = 30
APPROVAL_FLOOR = 0.5  # degraded below this share of the test split's approval rate
APPROVAL_DRAWS = 20_000  # Jeffreys draws per side of the approval-rate difference


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
    # realised precision - the model's mean p over the same approvals (calibration).
    calibration_lower: float | None = None
    calibration_upper: float | None = None
    # realised approval rate - APPROVAL_FLOOR x the test split's (approval_judged: tested).
    approval_judged: bool = False
    approval_rate: float | None = None
    test_approval_rate: float | None = None
    approval_lower: float | None = None
    approval_upper: float | None = None

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


def rule_text(confidence: float, min_approvals: int, judged: int, rates: int = 0) -> str:
    level = f"{(1 - confidence) / 2:.3g}"
    return (
        f"degraded when the upper end of the {confidence:.0%} interval of (realised - test-split "
        f"precision), or of (realised precision - the model's mean p on the same approvals), is "
        f"below 0: one-sided, level {level} shared by the {judged} judged "
        f"scope(s) and the two criteria (Bonferroni); judged with at least {min_approvals} "
        f"approvals; or when the approval rate is significantly below {APPROVAL_FLOOR:g} x the "
        f"test split's: one-sided, level {level} shared by the {rates} scope(s) whose test split "
        f"has at least {min_approvals} approvals"
    )


def approval_testable(
    s: Scope, promised: dict[str, Any] | None, min_approvals: int, not_judged: str | None
) -> bool:
    """Whether a scope's approval rate can be held to its test split's."""
    t = promised or {}
    rate, n = t.get("approval_rate"), t.get("approvals")
    return (
        not not_judged
        and s.figures.rows > 0
        and s.approval_samples is not None
        and bool(t.get("rows"))
        and rate is not None
        and rate > 0
        and n is not None
        and n >= min_approvals
    )


def judge_approval_rate(
    j: Judgement,
    s: Scope,
    promised: dict[str, Any],
    confidence: float,
    seed: int,
    tested: int = 1,
) -> None:
    """Hold the scope's approval rate to APPROVAL_FLOOR x its test split's (module docstring);
    marks `j` degraded, with the reason, when it is significantly below."""
    f = s.figures
    k, n = f.approvals, f.rows
    rate = k / n
    t_rate, t_rows, t_appr = promised["approval_rate"], promised["rows"], promised["approvals"]
    # Approvals within one lookahead are nearly one observation: divide by the clustering.
    t_cells = promised.get("precision_n_eff")
    t_deff = max(1.0, t_appr / t_cells) if t_cells else 1.0
    deff = max(t_deff, k / s.approval_cells if k and s.approval_cells else 1.0)
    n_eff = n / deff
    se = standard_error(s.approval_samples) if s.approval_samples is not None else None
    if se and 0 < rate < 1:
        n_eff = min(n_eff, rate * (1 - rate) / se**2)  # the bootstrap saw more spread
    rng = np.random.default_rng(scope_seed(seed, "approvals:" + s.name))
    realised = rng.beta(*jeffreys(rate, n_eff), APPROVAL_DRAWS)
    bar = APPROVAL_FLOOR * rng.beta(*jeffreys(t_rate, t_rows / t_deff), APPROVAL_DRAWS)
    lo, hi = difference_interval(realised, bar, 1.0 - (1.0 - confidence) / max(1, tested))
    j.approval_judged = True
    j.approval_rate, j.test_approval_rate = rate, t_rate
    j.approval_lower, j.approval_upper = lo, hi
    what = "all candidates" if s.name == ALL else s.name
    if hi is not None and hi < 0:
        reason = (
            f"{what}: approval rate {rate:.4f} ({k} of {n} candidates) vs {t_rate:.4f} on the "
            f"test split is significantly below {APPROVAL_FLOOR:g} x it (difference "
            f"{lo:+.4f} to {hi:+.4f}): the gate approves far fewer trades than it promised"
        )
        j.reason = f"{j.reason}; {reason}" if j.degraded else reason
        j.degraded = j.judged = True
    elif not j.degraded:
        ok = (
            f"approval rate {rate:.4f} vs {t_rate:.4f} on the test split: not significantly "
            f"below {APPROVAL_FLOOR:g} x it"
        )
        j.reason = f"{j.reason}; {ok}" if j.reason else ok


def promised_precision_draws(
    precision: float, se: float | None, n_eff: float | None, size: int, seed: int
) -> np.ndarray:
    """Draws of the test split's precision as its own uncertainty allows: the Jeffreys
    posterior Beta(k + ½, n - k + ½) on its effective approvals n, which stays honest at 0 and
    1 (32 of 32 approvals right is no certainty of 1.000); a normal with the stored standard
    error for a manifest written before `precision_n_eff` existed."""
    rng = np.random.default_rng(seed)
    if n_eff:
        return rng.beta(*jeffreys(precision, n_eff), size)
    return precision + (se or 0.0) * rng.standard_normal(size)


def difference_interval(
    samples: np.ndarray, bar: np.ndarray | float, confidence: float
) -> tuple[float | None, float | None]:
    """The two-sided `confidence` interval of realised - bar (bar: draws, or one figure)."""
    ok = np.isfinite(samples)
    if not ok.any():
        return None, None
    diff = samples[ok] - (bar[ok] if isinstance(bar, np.ndarray) else bar)
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
    no_interval: str | None = None,
    not_judged: str | None = None,
) -> Judgement:
    """Judge one scope; `no_interval` says why its samples hold no resample (Blocks.too_short),
    `not_judged` why its outcomes cannot be trusted at all (Window.thinned)."""
    f = s.figures
    tp = (promised or {}).get("precision")
    se = (promised or {}).get("precision_se")
    n_eff = (promised or {}).get("precision_n_eff")
    j = Judgement(s.name, False, False, False, f.approvals, f.precision, tp, se, None, None, "")
    if not_judged:
        j.reason = f"not judged: {not_judged}"
        return j
    if f.approvals < min_approvals:
        j.reason = f"{f.approvals} approvals < --min-approvals {min_approvals}: not judged"
        return j
    if not np.isfinite(s.samples).any():
        why = no_interval or "no bootstrap resample drew an approval"
        j.reason = f"{f.approvals} approvals but not judged: {why}"
        return j
    level = 1.0 - (1.0 - confidence) / (2 * max(1, judged))
    what = "all candidates" if s.name == ALL else s.name
    j.judged = True
    reasons = []
    promised_n = (promised or {}).get("approvals")
    if tp is None:
        reasons.append("no test-split precision for it (no approvals there)")
    elif promised_n is not None and promised_n < min_approvals:
        # A promise measured on a handful of test approvals is no promise to hold a model to.
        reasons.append(
            f"the test split's precision rests on {promised_n} approvals "
            f"< --min-approvals {min_approvals}: only calibration judged"
        )
    else:
        tp_draws = promised_precision_draws(
            tp, se, n_eff, len(s.samples), scope_seed(seed, "diff:" + s.name)
        )
        lo, hi = difference_interval(s.samples, tp_draws, level)
        j.difference_lower, j.difference_upper = lo, hi
        j.suspicious = lo is not None and lo > 0
        if hi is not None and hi < 0:
            j.degraded = True
            reasons.append(
                f"{what}: realised precision {f.precision:.3f} "
                f"[{s.precision_lower:.3f}, {s.precision_upper:.3f}] on {f.approvals} approvals "
                f"is significantly below the test split's {tp:.3f} "
                f"(difference {lo:+.3f} to {hi:+.3f})"
            )
        elif j.suspicious:
            reasons.append(
                f"{what}: realised precision {f.precision:.3f} is significantly ABOVE the test "
                f"split's {tp:.3f}: check for leakage or a window inside the training period"
            )
        else:
            reasons.append(f"{what}: realised {f.precision:.3f} vs test {tp:.3f}: consistent")
    ep = f.expected_precision
    if ep is not None:
        # The bar is the model's mean p on these approvals, less the gap between precision and
        # mean p it already had on its test split when that is measured on enough approvals
        # (with that precision's own uncertainty): a symbol the model was always overconfident
        # on is no news, a new gap is.
        bar: np.ndarray | float = ep
        ep_shown = ep
        test_ep = (promised or {}).get("expected_precision")
        if j.difference_upper is not None and test_ep is not None:
            tp_draws = promised_precision_draws(
                tp, se, n_eff, len(s.samples), scope_seed(seed, "cal:" + s.name)
            )
            bar, ep_shown = ep + (tp_draws - test_ep), ep + (tp - test_ep)
        clo, chi = difference_interval(s.samples, bar, level)
        j.calibration_lower, j.calibration_upper = clo, chi
        if chi is not None and chi < 0:
            j.degraded = True
            reasons.append(
                f"{what}: realised precision {f.precision:.3f} on {f.approvals} approvals is "
                f"significantly below {ep_shown:.3f}: the model's own mean p {ep:.3f} on them, "
                "less the gap it already had on its test split "
                f"(difference {clo:+.3f} to {chi:+.3f}): its probabilities no longer hold"
            )
    if j.degraded:  # name only what failed
        reasons = [r for r in reasons if "significantly below" in r]
    j.reason = "; ".join(reasons)
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
    short = ev.blocks.too_short
    eligible = [s.figures.approvals >= min_approvals and s.name not in ev.thinned for s, _ in pairs]
    m = 0 if short else sum(eligible)
    js = [
        judge_scope(s, t, ev.confidence, min_approvals, seed, m, short, ev.thinned.get(s.name))
        for s, t in pairs
    ]
    testable = [
        approval_testable(s, t, min_approvals, short or ev.thinned.get(s.name)) for s, t in pairs
    ]
    for j, (s, t), ok in zip(js, pairs, testable, strict=True):
        if ok:
            judge_approval_rate(j, s, t, ev.confidence, seed, sum(testable))
    return Verdict(
        healthy=not any(j.degraded for j in js),
        rule=rule_text(ev.confidence, min_approvals, m, sum(testable)),
        judgements=js,
    )
