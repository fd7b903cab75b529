"""The project's defaults, defined once.

Python imports these names; a script gets them from `python -m modelformat
defaults --get NAME` (or `--shell`); the copies that must live elsewhere are
tested equal: Go's in go/defaults, deploy_args.sh's (a rollback needs no
Python) and the quotes in the docs, rules and dashboard
(tests/test_default_copies.py). See docs/MODEL_FORMAT.md, "Defaults". A model's
own values (its threshold, label parameters, features) live in its manifest;
these are what `train`, the deploy and the predictor use when nothing else is
given. Standard library only: the serving install carries it.
"""

from __future__ import annotations

from typing import Any

# Decision threshold `train fit` writes into a manifest: approve when p >= it.
DEFAULT_THRESHOLD = 0.65
# Quality gate: the test-split AUC a model must reach to be published.
DEFAULT_MIN_AUC = 0.55

# Sigma-reversion labels (train/labels/labeler.py): a record is labelled 1 when the
# price reverts by LABEL_THRESHOLD_SIGMA sigmas within LABEL_LOOKAHEAD_S
# seconds; |dist| <= LABEL_MIN_DIST_SIGMA is no candidate; sigma is floored at
# LABEL_MIN_STD.
LABEL_LOOKAHEAD_S = 60.0
LABEL_THRESHOLD_SIGMA = 1.5
LABEL_MIN_DIST_SIGMA = 0.5
LABEL_MIN_STD = 0.1

# The features `train fit` uses when --features is not given, in the order the
# bot lays them out (go/predictor's default order when no model is served).
DEFAULT_FEATURES = ("tick_ratio", "depth_ratio", "price_dist")

# Every feature the bot records, the names `train fit --features` accepts.
KNOWN_FEATURES = (
    "tick_ratio", "depth_ratio", "price_dist", "price", "vwap", "std_dev", "bid_vol", "ask_vol",
    "rolling_volatility", "bid_ask_spread", "volume_spike",
)  # fmt: skip

# Promotion of a shadow model (deploy_model.sh --promote, scripts/shadow_checks.py):
# decisions it must have answered, share agreeing with the live model, and the
# band of its live approval rate as a multiple of its test-split rate.
PROMOTE_MIN_DECISIONS = 1000
PROMOTE_MIN_AGREEMENT = 0.8
PROMOTE_APPROVAL_LOW = 0.5
PROMOTE_APPROVAL_HIGH = 2.0

# Live drift monitoring (go/predictor DriftConfig): window of decisions, the
# per-feature PSI alarm, the out-of-range share alarm, the live approval band
# (multiple of the manifest's reference.approval_rate), evaluation period and
# warning rate limit.
DRIFT_WINDOW = 5000
DRIFT_PSI = 0.2
DRIFT_OOD = 0.05
DRIFT_APPROVAL_LOW = 0.5
DRIFT_APPROVAL_HIGH = 2.0
DRIFT_EVERY_S = 1.0
DRIFT_WARN_EVERY_S = 60.0

# The largest |p| difference allowed between two scorers of one graph on a
# model's check vectors: go/replica against the sidecar at every load, and
# the deploy's smoke test against the p recorded at training.
CHECK_VECTOR_TOLERANCE = 1e-6

NAMES = (
    "DEFAULT_THRESHOLD", "DEFAULT_MIN_AUC",
    "LABEL_LOOKAHEAD_S", "LABEL_THRESHOLD_SIGMA", "LABEL_MIN_DIST_SIGMA", "LABEL_MIN_STD",
    "DEFAULT_FEATURES", "KNOWN_FEATURES",
    "PROMOTE_MIN_DECISIONS", "PROMOTE_MIN_AGREEMENT", "PROMOTE_APPROVAL_LOW",
    "PROMOTE_APPROVAL_HIGH",
    "DRIFT_WINDOW", "DRIFT_PSI", "DRIFT_OOD", "DRIFT_APPROVAL_LOW", "DRIFT_APPROVAL_HIGH",
    "DRIFT_EVERY_S", "DRIFT_WARN_EVERY_S", "CHECK_VECTOR_TOLERANCE",
)  # fmt: skip


def as_dict() -> dict[str, Any]:
    """Every default by name, JSON-ready (the feature tuples as lists)."""
    g = globals()
    return {n: list(g[n]) if isinstance(g[n], tuple) else g[n] for n in NAMES}
