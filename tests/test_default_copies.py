"""Every place that quotes a project default says what modelformat/defaults.py says.

Docs, alert rules, the dashboard and doc comments quote defaults so a reader
need not look them up. Each quote is listed here as a template filled from
`modelformat.defaults`: change a default, and this test names every quote to
update; mistype a quote, and it names that one. Code never quotes: Python
imports the names, Go's copies are tested in go/defaults, deploy_args.sh's
in tests/scripts/test_deploy_defaults.py.
"""

# ruff: noqa: RUF001  (the docs quote with their own dashes, signs and sigma)
from __future__ import annotations

from pathlib import Path

import pytest

from modelformat import defaults

ROOT = Path(__file__).resolve().parents[1]

# (file, text it must contain, formatted with the defaults by name)
QUOTES = [
    # train fit's and train backtest's flag tables
    ("docs/TRAINING.md", "| `--lookahead S` | {LABEL_LOOKAHEAD_S:g} |"),
    ("docs/TRAINING.md", "| `--sigma X` | {LABEL_THRESHOLD_SIGMA:g} |"),
    ("docs/TRAINING.md", "| `--min-dist X` | {LABEL_MIN_DIST_SIGMA:g} |"),
    ("docs/TRAINING.md", "| `--min-std X` | {LABEL_MIN_STD:g} |"),
    ("docs/TRAINING.md", "| `--threshold T` | {DEFAULT_THRESHOLD:g} | the bot's approve threshold"),
    ("docs/TRAINING.md", "| `--threshold T` | {DEFAULT_THRESHOLD:g} | the decision threshold of"),
    ("docs/TRAINING.md", "| `--min-auc X` | {DEFAULT_MIN_AUC:g} | gate: test AUC |"),
    ("docs/TRAINING.md", "| `--min-auc X` | {DEFAULT_MIN_AUC:g} | the retrain gate"),
    ("docs/TRAINING.md", "* test AUC < `--min-auc` ({DEFAULT_MIN_AUC:g});"),
    ("docs/TRAINING.md", "lookahead ({LABEL_LOOKAHEAD_S:g} s)"),
    # deploy_model.sh's flag table, the threshold and drift sections, the outcome monitor
    ("docs/ML_PIPELINE.md", "`default_threshold`, {DEFAULT_THRESHOLD:g} unless `train fit"),
    ("docs/ML_PIPELINE.md", "`Config.DefaultThreshold` ({DEFAULT_THRESHOLD:g})"),
    ("docs/ML_PIPELINE.md", "train's defaults ({LABEL_LOOKAHEAD_S:g}, {LABEL_THRESHOLD_SIGMA:g})"),
    ("docs/ML_PIPELINE.md", "| `--min-auc X` | {DEFAULT_MIN_AUC:g} |"),
    ("docs/ML_PIPELINE.md", "`--min-decisions N` | {PROMOTE_MIN_DECISIONS} |"),
    ("docs/ML_PIPELINE.md", "`--min-decisions N` | {PROMOTE_MIN_DECISIONS} | `--promote`"),
    ("docs/ML_PIPELINE.md", "`--min-agreement X` | {PROMOTE_MIN_AGREEMENT:g} |"),
    ("docs/ML_PIPELINE.md", "`--min-agreement X` | {PROMOTE_MIN_AGREEMENT:g} | `--promote`"),
    (
        "docs/ML_PIPELINE.md",
        "`--approval-band L,H` | {PROMOTE_APPROVAL_LOW:g},{PROMOTE_APPROVAL_HIGH:g} |",
    ),
    ("docs/ML_PIPELINE.md", "`Config.Drift.Window` ({DRIFT_WINDOW:,})"),
    ("docs/ML_PIPELINE.md", "`PSI` > {DRIFT_PSI:g} |"),
    ("docs/ML_PIPELINE.md", "`OOD` > {DRIFT_OOD:g} |"),
    ("docs/ML_PIPELINE.md", "({DRIFT_APPROVAL_LOW:g}–{DRIFT_APPROVAL_HIGH:g}) × training"),
    ("docs/ML_PIPELINE.md", "one label lookahead ({LABEL_LOOKAHEAD_S:g} s)"),
    ("docs/ML_PIPELINE.md", "share most of one {LABEL_LOOKAHEAD_S:g} s price"),
    ("docs/RECORD_LAYOUT.md", "(a {LABEL_LOOKAHEAD_S:g} s"),
    (
        "docs/RECORD_LAYOUT.md",
        "reverts toward VWAP by {LABEL_THRESHOLD_SIGMA:g} σ within {LABEL_LOOKAHEAD_S:g} s",
    ),
    # the alert rules and the dashboard
    ("monitoring/sigmagate.rules.yml", "the whole {DRIFT_WINDOW:,}-decision window"),
    ("monitoring/sigmagate.rules.yml", "PSI above\n            {DRIFT_PSI:g}"),
    ("monitoring/sigmagate.rules.yml", "more than {DRIFT_OOD:.0%} of a feature outside"),
    ("monitoring/sigmagate.rules.yml", "outside {DRIFT_APPROVAL_LOW:g}-{DRIFT_APPROVAL_HIGH:g}x"),
    ("monitoring/sigmagate.rules.yml", ") < {PROMOTE_MIN_AGREEMENT:g}\n"),
    ("monitoring/sigmagate.rules.yml", "[30m])) >= {PROMOTE_MIN_DECISIONS}\n"),
    ("monitoring/sigmagate.rules.yml", "Below the {PROMOTE_MIN_AGREEMENT:.0%} agreement"),
    ("monitoring/grafana/sigmagate-dashboard.json", "above {DRIFT_PSI:g} drifted"),
    ("monitoring/grafana/sigmagate-dashboard.json", "asks for {PROMOTE_MIN_AGREEMENT:.0%} by"),
    # doc comments
    ("go/internal/drift/drift.go", "Default {DRIFT_WINDOW}:"),
    ("go/internal/drift/drift.go", "Default {DRIFT_PSI:g}, the usual"),
    (
        "go/internal/drift/drift.go",
        "above which the window is out of distribution. Default {DRIFT_OOD:g}.",
    ),
    ("go/internal/drift/drift.go", "Defaults {DRIFT_APPROVAL_LOW:g}, {DRIFT_APPROVAL_HIGH:g}."),
    ("go/predictor/config.go", "Default defaults.DefaultThreshold ({DEFAULT_THRESHOLD:g})"),
    ("go/cmd/gendb/main.go", "train's default --min-std {LABEL_MIN_STD:g}"),
    ("train/monitor/bootstrap.py", "next lookahead ({LABEL_LOOKAHEAD_S:g} s)"),
]


@pytest.mark.parametrize(("path", "template"), QUOTES, ids=[f"{p}:{t[:40]}" for p, t in QUOTES])
def test_quoted_default_matches_modelformat(path: str, template: str) -> None:
    want = template.format(**defaults.as_dict())
    text = (ROOT / path).read_text(encoding="utf-8")
    assert want in text, (
        f"{path} no longer quotes {want!r} (filled from modelformat/defaults.py): "
        "update the quote, or this list if the text moved"
    )


def test_a_changed_default_is_caught() -> None:
    """The templates really read the defaults: another value gives text no file has."""
    values = defaults.as_dict() | {"DRIFT_PSI": 0.3, "PROMOTE_MIN_AGREEMENT": 0.9}
    for path, template in QUOTES:
        if "{DRIFT_PSI" in template or "{PROMOTE_MIN_AGREEMENT" in template:
            assert template.format(**values) not in (ROOT / path).read_text(encoding="utf-8")
