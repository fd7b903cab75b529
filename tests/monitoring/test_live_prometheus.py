"""The shipped rules and dashboard against a real Prometheus scraping a real predictor.

simbot (the Go predictor with its real infer sidecar and a shadow sidecar) serves
decisions on a small real model; Prometheus scrapes it and a textfile of outcome gauges
every second and evaluates monitoring/sigmagate.rules.yml. Every dashboard query must
return data, and real faults must fire their alerts: the sidecar SIGKILLed until it has
restarted repeatedly (SigmagateSidecarRestarting), and the outcome file turning
degraded (SigmagateOutcomeUnhealthy, SigmagateOutcomeDegraded).
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.fixtures.tiny_model import FEATURES, INPUT_NAME, build_model_dir, synthetic_data
from tests.infer.sidecar import python
from tests.monitoring.prom import Prometheus, prometheus, require
from train.publish.reference import build_reference

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring" / "sigmagate.rules.yml"
DASHBOARD = ROOT / "monitoring" / "grafana" / "sigmagate-dashboard.json"
# What Grafana substitutes in the dashboard's queries, for a 1 s scrape interval.
GRAFANA_VARS = {"$__rate_interval": "10s", "$instance": ".+"}

HEALTHY = """\
# TYPE sigmagate_outcome_healthy gauge
sigmagate_outcome_healthy {healthy}
sigmagate_outcome_last_run_timestamp_seconds {now}
sigmagate_outcome_empty_lookahead 3
sigmagate_outcome_degraded{{symbol="all"}} 0
sigmagate_outcome_degraded{{symbol="BTCUSDT"}} {degraded}
"""
PER_SYMBOL = {
    "precision": (0.61, 0.38),
    "precision_lower": (0.55, 0.29),
    "precision_upper": (0.67, 0.47),
    "expected_precision": (0.62, 0.60),
    "test_precision": (0.63, 0.61),
    "approvals": (412, 96),
    "candidates": (20480, 5120),
    "judged": (1, 1),
    "approval_rate": (0.02, 0.019),
    "test_approval_rate": (0.021, 0.02),
}


def outcome_text(*, degraded: bool) -> str:
    """The outcome monitor's textfile: all symbols together, and BTCUSDT."""
    text = HEALTHY.format(healthy=0 if degraded else 1, now=time.time(), degraded=int(degraded))
    for name, (overall, btc) in PER_SYMBOL.items():
        text += f'sigmagate_outcome_{name}{{symbol="all"}} {overall}\n'
        text += f'sigmagate_outcome_{name}{{symbol="BTCUSDT"}} {btc}\n'
    return text


@pytest.fixture
def textfile(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A static HTTP server for one textfile, as node_exporter's textfile collector exposes it."""
    path = tmp_path / "sigmagate_outcome.prom"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield path, f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def live_model(models: Path) -> None:
    """models/current: a tiny real model with a drift reference; models/shadow: another one."""
    d = build_model_dir(models, "tiny-a", 0, link_current=True)
    manifest = json.loads((d / "manifest.json").read_text())
    x, _ = synthetic_data(manifest["fixture"]["rng_seed"])
    import onnxruntime as ort

    session = ort.InferenceSession(str(d / "model.onnx"), providers=["CPUExecutionProvider"])
    p = np.asarray(session.run(None, {INPUT_NAME: x})[0])
    manifest["reference"] = build_reference(FEATURES, x, p, manifest)
    (d / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    build_model_dir(models, "tiny-b", 1)
    (models / "shadow").symlink_to("tiny-b")


def go_build(out: Path, *cmds: str) -> None:
    for cmd in cmds:
        subprocess.run(["go", "build", "-o", str(out / cmd), f"./cmd/{cmd}"],
                       cwd=ROOT / "go", check=True)  # fmt: skip


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, query) for every target of every panel, Grafana's variables filled in."""
    out = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, value in GRAFANA_VARS.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, f"{panel['title']}: unknown Grafana variable in {expr}"
            out.append((panel["title"], expr))
    return out


def has_value(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(s["value"][1])) for s in result)


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def test_rules_and_dashboard_on_a_live_predictor(
    tmp_path: Path, textfile: tuple[Path, str]
) -> None:
    require("prometheus", "go")
    started = time.monotonic()
    outcome, outcome_addr = textfile
    outcome.write_text(outcome_text(degraded=False))
    bin_dir, models, run = tmp_path / "bin", tmp_path / "models", tmp_path / "run"
    run.mkdir()
    go_build(bin_dir, "simbot", "gendb")
    live_model(models)
    db = tmp_path / "features.db"
    subprocess.run([str(bin_dir / "gendb"), "-db", str(db), "-hours", "0.2", "-symbols", "BTCUSDT"],
                   check=True, capture_output=True)  # fmt: skip

    pidfile = run / "infer.pid"
    env = dict(os.environ, SIGMAGATE_PYTHON=python(), SIGMAGATE_ROOT=str(ROOT))
    stderr = tmp_path / "simbot.stderr"
    with stderr.open("wb") as err:
        bot = subprocess.Popen(
            [str(bin_dir / "simbot"), "-db", str(db), "-model", str(models / "current"),
             "-pidfile", str(pidfile), "-metrics", "127.0.0.1:0", "-rate", "300", "-workers", "4",
             "-timeout", "2s", "-progress", "0", "-duration", "3m"],
            stdout=subprocess.DEVNULL, stderr=err, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        addr = None
        while addr is None and time.monotonic() < deadline and bot.poll() is None:
            m = re.search(r"metrics at http://(\S+)/metrics", stderr.read_text())
            addr = m.group(1) if m else None
            time.sleep(0.2)
        assert addr, f"simbot served no metrics:\n{stderr.read_text()[-3000:]}"

        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {"job_name": "sigmagate", "static_configs": [{"targets": [addr]}]},
                {"job_name": "node", "metrics_path": f"/{outcome.name}",
                 "static_configs": [{"targets": [outcome_addr]}]},
            ],
        }  # fmt: skip
        with prometheus(tmp_path / "prometheus", config) as prom:
            check_dashboard(prom)
            check_restarts_fire(prom, pidfile, addr)
            check_outcome_fires(prom, outcome)
    finally:
        bot.send_signal(signal.SIGTERM)
        try:
            bot.wait(timeout=20)
        except subprocess.TimeoutExpired:
            bot.kill()
            bot.wait()
    assert bot.returncode == 0, f"simbot exited {bot.returncode}:\n{stderr.read_text()[-3000:]}"
    print(f"live monitoring test: {time.monotonic() - started:.1f}s")


def check_dashboard(prom: Prometheus) -> None:
    """Every panel query returns at least one finite sample."""
    queries = dashboard_queries()
    assert len(queries) >= 20, queries

    def missing() -> list[str]:
        return [f"{title}: {expr}" for title, expr in queries if not has_value(prom.query(expr))]

    prom.wait("every dashboard query to return data", lambda: not missing() or None, timeout=30)
    rules = prom.api("rules")["groups"]
    assert {g["name"] for g in rules} >= {"sigmagate-predictor", "sigmagate-outcome"}
    assert all(r["health"] == "ok" for g in rules for r in g["rules"]), rules
    # Healthy traffic on a fresh process: nothing about the sidecar is pending or firing.
    for name in ("SigmagateSidecarRestarting", "SigmagateSidecarDown", "SigmagateOutcomeUnhealthy"):
        assert not prom.alerts(name, "firing") and not prom.alerts(name, "pending"), name


def check_restarts_fire(prom: Prometheus, pidfile: Path, addr: str) -> None:
    """SIGKILL the live sidecar until the predictor has restarted it five times."""
    for _ in range(5):
        pid = prom.wait("the sidecar's pidfile", lambda: read_pid(pidfile), timeout=15)
        os.kill(pid, signal.SIGKILL)
        prom.wait("a restarted sidecar", lambda p=pid: read_pid(pidfile) not in (None, p),
                  timeout=20)  # fmt: skip
    firing = prom.wait(
        "SigmagateSidecarRestarting to fire",
        lambda: prom.alerts("SigmagateSidecarRestarting"),
        timeout=20,
    )
    assert firing[0]["labels"]["instance"] == addr
    assert firing[0]["labels"]["severity"] == "warning"


def check_outcome_fires(prom: Prometheus, outcome: Path) -> None:
    """A degraded outcome file fires the overall and the BTCUSDT alert, not symbol="all"."""
    outcome.write_text(outcome_text(degraded=True))
    prom.wait("SigmagateOutcomeUnhealthy to fire",
              lambda: prom.alerts("SigmagateOutcomeUnhealthy"), timeout=15)  # fmt: skip
    degraded = prom.wait("SigmagateOutcomeDegraded to fire",
                         lambda: prom.alerts("SigmagateOutcomeDegraded"), timeout=15)  # fmt: skip
    assert [a["labels"]["symbol"] for a in degraded] == ["BTCUSDT"]
