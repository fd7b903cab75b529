"""Champion vs challenger on one window of outcomes (the deploy's freshness check).

Both models score the same labelled candidates (labelled with their shared
label parameters: models that predict different outcomes cannot be compared),
each at its own served thresholds. The differences challenger - champion in
log-loss and in precision get a paired block-bootstrap interval: one set of
block starts serves both models (evaluate()'s seeded Blocks over the same
window), so the resample-to-resample swings of the window itself cancel and
only the models' difference remains.

The verdict, at the two-sided `confidence` level:

* WORSE when the challenger's log-loss is higher by more than LOG_LOSS_TOLERANCE
  (the lower end of the log-loss difference's interval is above it), or its
  precision lower by more than PRECISION_TOLERANCE (the upper end of the
  precision difference's interval is below minus it). The tolerances keep a
  large window from refusing a model for a difference nobody would trade on.
* otherwise not significantly worse (ok).

SUSPICIOUS (a flag, not WORSE): the challenger does much better on the fresh
window than on its own test split — its window AUC above its test AUC by more
than AUC_MARGIN, or its realised precision significantly above its test-split
precision (verdict.judge_scope's rule). A model that has seen the window
(leaked features, or a window inside its training period) looks exactly like
this.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from train.data.records import format_timestamp
from train.errors import InputError
from train.monitor.bootstrap import interval
from train.monitor.evaluate import Evaluation, evaluate, scope_seed
from train.monitor.figures import clean, row_log_loss
from train.monitor.served import ServedModel
from train.monitor.verdict import DEFAULT_MIN_APPROVALS, judge_scope
from train.monitor.window import Window

LOG_LOSS_TOLERANCE = 0.005  # nats per candidate
PRECISION_TOLERANCE = 0.02
AUC_MARGIN = 0.05


@dataclass
class Difference:
    value: float | None  # challenger - champion on the window
    lower: float | None
    upper: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "lower": self.lower, "upper": self.upper}


@dataclass
class Comparison:
    champion: Evaluation
    challenger: Evaluation
    champion_test: dict[str, Any]
    challenger_test: dict[str, Any]
    log_loss: Difference
    precision: Difference
    confidence: float
    worse: bool
    worse_reasons: list[str] = field(default_factory=list)
    suspicious: bool = False
    suspicious_reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def side(ev: Evaluation, test: dict[str, Any]) -> dict[str, Any]:
            return {
                "version": ev.version,
                "variant": ev.variant,
                "window": ev.overall.to_dict(),
                "test": test,
            }

        return clean(
            {
                "verdict": "worse" if self.worse else "ok",
                "worse_reasons": self.worse_reasons,
                "suspicious": self.suspicious,
                "suspicious_reasons": self.suspicious_reasons,
                "confidence": self.confidence,
                "tolerance": {"log_loss": LOG_LOSS_TOLERANCE, "precision": PRECISION_TOLERANCE},
                "champion": side(self.champion, self.champion_test),
                "challenger": side(self.challenger, self.challenger_test),
                "difference": {
                    "log_loss": self.log_loss.to_dict(),
                    "precision": self.precision.to_dict(),
                },
            }
        )


def comparable(champion: ServedModel, challenger: ServedModel) -> None:
    """Raise InputError unless both models predict the same outcome."""
    if champion.label != challenger.label:
        raise InputError(
            f"{challenger.path}: label parameters {challenger.label} differ from the champion's "
            f"{champion.label} ({champion.path}): the models predict different outcomes"
        )


def columns(window: Window, all_features: list[str], features: list[str]) -> np.ndarray:
    """A model's own feature columns, in its order, from a window holding all_features."""
    return window.X[:, [all_features.index(f) for f in features]]


def _loss_samples(ev: Evaluation, y: np.ndarray, ts_ns: np.ndarray, seed: int) -> np.ndarray:
    loss = row_log_loss(y, ev.p)
    return ev.blocks.ratio_samples(ts_ns, loss, np.ones(len(y)), scope_seed(seed, "log_loss"))


def _diff(a: float | None, b: float | None, samples: np.ndarray, conf: float) -> Difference:
    lo, hi = interval(samples, conf)
    return Difference(None if a is None or b is None else a - b, lo, hi)


def _test_figures(m: ServedModel) -> dict[str, Any]:
    metrics = m.manifest.get("metrics") or {}
    served = (metrics.get("served") or {}).get("overall") or {}
    return {
        "auc": (metrics.get("test") or {}).get("auc"),
        "precision": served.get("precision"),
        "precision_se": served.get("precision_se"),
        "approvals": served.get("approvals"),
    }


def compare(
    champion: ServedModel,
    challenger: ServedModel,
    window: Window,
    all_features: list[str],
    confidence: float = 0.95,
    block_s: float | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Score both models on `window` (loaded with `all_features`, the union of theirs)."""
    comparable(champion, challenger)
    evs = []
    for m in (champion, challenger):
        w = replace(window, X=columns(window, all_features, m.features))
        evs.append(evaluate(m, w, confidence, block_s, resamples, seed))
    ch, cl = evs
    y = window.y.astype(np.int64)
    # Same seed, same window, same blocks: the resamples are paired.
    d_ll = _loss_samples(cl, y, window.ts_ns, seed) - _loss_samples(ch, y, window.ts_ns, seed)
    d_p = cl.overall.samples - ch.overall.samples
    log_loss = _diff(cl.overall.figures.log_loss, ch.overall.figures.log_loss, d_ll, confidence)
    precision = _diff(cl.overall.figures.precision, ch.overall.figures.precision, d_p, confidence)
    c = Comparison(
        ch, cl, _test_figures(champion), _test_figures(challenger), log_loss, precision,
        confidence, worse=False,
    )  # fmt: skip
    if log_loss.lower is not None and log_loss.lower > LOG_LOSS_TOLERANCE:
        c.worse_reasons.append(
            f"log-loss {cl.overall.figures.log_loss:.4f} vs the champion's "
            f"{ch.overall.figures.log_loss:.4f}: higher by {log_loss.value:+.4f} "
            f"[{log_loss.lower:+.4f}, {log_loss.upper:+.4f}], more than the tolerance "
            f"{LOG_LOSS_TOLERANCE}"
        )
    if precision.upper is not None and precision.upper < -PRECISION_TOLERANCE:
        c.worse_reasons.append(
            f"precision {cl.overall.figures.precision:.3f} vs the champion's "
            f"{ch.overall.figures.precision:.3f}: lower by {precision.value:+.3f} "
            f"[{precision.lower:+.3f}, {precision.upper:+.3f}], more than the tolerance "
            f"{PRECISION_TOLERANCE}"
        )
    c.worse = bool(c.worse_reasons)
    _suspicion(c, challenger, confidence, seed)
    return c


def _suspicion(c: Comparison, challenger: ServedModel, confidence: float, seed: int) -> None:
    test = c.challenger_test
    auc = c.challenger.overall.figures.auc
    if auc is not None and test["auc"] is not None and auc > test["auc"] + AUC_MARGIN:
        c.suspicious_reasons.append(
            f"challenger AUC {auc:.3f} on the window is far above its test split's "
            f"{test['auc']:.3f} (margin {AUC_MARGIN})"
        )
    if test["precision"] is not None:
        j = judge_scope(c.challenger.overall, test, confidence, DEFAULT_MIN_APPROVALS, seed)
        if j.suspicious:
            c.suspicious_reasons.append(
                f"challenger precision {j.precision:.3f} on the window is significantly above its "
                f"test split's {j.test_precision:.3f} (difference {j.difference_lower:+.3f} to "
                f"{j.difference_upper:+.3f})"
            )
    c.suspicious = bool(c.suspicious_reasons)
    if c.suspicious:
        c.suspicious_reasons.append(
            "a model that has seen this window (leaked features, or a window inside its "
            "training period) looks like this"
        )


def _f(v: Any, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def table(c: Comparison, window: Window) -> str:
    from train.monitor.render import records_line

    lines = [
        f"window: {len(window)} labelled candidates {format_timestamp(window.first_ns)} → "
        f"{format_timestamp(window.last_ns)}; {c.confidence:.0%} paired block-bootstrap intervals, "
        f"{c.champion.blocks.block_s:g} s blocks",
        records_line(window.counts),
        "",
        f"{'model':<11} {'version':<28} {'log-loss':>8} {'AUC':>6} {'appr':>6} "
        f"{'precision [interval]':>24} {'test AUC':>8} {'test prec':>9}",
    ]
    for role, ev, test in (
        ("champion", c.champion, c.champion_test),
        ("challenger", c.challenger, c.challenger_test),
    ):
        s = ev.overall
        f = s.figures
        iv = f"{_f(f.precision)} [{_f(s.precision_lower)}, {_f(s.precision_upper)}]"
        lines.append(
            f"{role:<11} {ev.version:<28} {_f(f.log_loss, '.4f'):>8} {_f(f.auc):>6} "
            f"{f.approvals:>6} {iv:>24} {_f(test['auc']):>8} {_f(test['precision']):>9}"
        )
    ll, pr = c.log_loss, c.precision
    lines += [
        "",
        "difference (challenger - champion):",
        f"  log-loss  {_f(ll.value, '+.4f')} [{_f(ll.lower, '+.4f')}, {_f(ll.upper, '+.4f')}]"
        f"  (worse when the lower end > +{LOG_LOSS_TOLERANCE})",
        f"  precision {_f(pr.value, '+.3f')} [{_f(pr.lower, '+.3f')}, {_f(pr.upper, '+.3f')}]"
        f"  (worse when the upper end < -{PRECISION_TOLERANCE})",
        "",
    ]
    if c.worse:
        lines.append("verdict: CHALLENGER WORSE — " + "; ".join(c.worse_reasons))
    elif (short := c.champion.blocks.too_short) is not None:
        lines.append(f"verdict: not judged — {short}")
    else:
        lines.append("verdict: ok — the challenger is not significantly worse")
    if c.suspicious:
        lines.append("SUSPICIOUS: " + "; ".join(c.suspicious_reasons))
    return "\n".join(lines) + "\n"
