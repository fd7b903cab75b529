"""The decision threshold a trader states as a precision: `train fit --target-precision P`.

The lowest threshold whose approvals on the validation split are at least a
fraction P of reversions, with at least `min_approvals` of them (a precision
measured on three approvals is noise). Lowest, because among the thresholds
that reach P it approves the most trades. Validation, never test: the test
split then shows what the threshold really buys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Imported by train/cli.py for its --help: numpy is imported only when a threshold is computed.
DEFAULT_MIN_APPROVALS = 30


def target_threshold(
    y: np.ndarray, p: np.ndarray, precision: float, min_approvals: int = DEFAULT_MIN_APPROVALS
) -> dict[str, Any]:
    """{"threshold": t or None, "approved", "precision", "target", "min_approvals", "max_p"}.

    Candidate thresholds are the distinct p values: approving p >= v for each.
    """
    import numpy as np

    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ps) + 1)
    # Only the last row of a run of equal p is a threshold: p >= v takes the whole run.
    last = np.r_[ps[1:] != ps[:-1], True]
    prec = tp / k
    ok = last & (prec >= precision) & (k >= min_approvals) & (ps > 0) & (ps < 1)
    out: dict[str, Any] = {
        "target": precision, "min_approvals": min_approvals, "split": "validation",
        "max_p": float(ps[0]) if len(ps) else None,
        "threshold": None, "approved": 0, "precision": None,
    }  # fmt: skip
    if ok.any():
        i = int(np.flatnonzero(ok)[-1])  # the largest k: the lowest threshold
        out.update(threshold=float(ps[i]), approved=int(k[i]), precision=float(prec[i]))
    return out
