"""Every alert in monitoring/sigmagate.rules.yml has a promtool test case where it fires and
one where it stays quiet (the cases themselves run under `make test-monitoring`)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring" / "sigmagate.rules.yml"
TESTS = ROOT / "monitoring" / "sigmagate.rules.test.yml"


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    alerts = set(re.findall(r"^\s+- alert: (\w+)$", RULES.read_text(), re.M))
    text = TESTS.read_text()
    fires = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels:", text))
    quiet = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts: \[\]", text))
    assert len(alerts) >= 14, alerts
    assert alerts - fires == set(), "alerts without a firing test case"
    assert alerts - quiet == set(), "alerts without a not-firing test case"
    assert (fires | quiet) <= alerts, "test cases for alerts the rules do not define"
