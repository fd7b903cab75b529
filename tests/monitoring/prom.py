"""A real Prometheus server for tests: started on a free loopback port with a throw-away
TSDB, queried through its HTTP API, stopped at the end."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


def require(*tools: str) -> None:
    """Skip without the tools on a developer's machine; fail under CI, whose setup installs them."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    msg = f"{', '.join(missing)} not on PATH; scripts/install_prometheus.sh installs prometheus"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def api(self, path: str, **params: str) -> Any:
        q = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{q}", timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", f"{expr}: result type {data['resultType']}"
        return list(data["result"])

    def alerts(self, name: str, state: str = "firing") -> list[dict[str, Any]]:
        return [
            a
            for a in self.api("alerts")["alerts"]
            if a["labels"].get("alertname") == name and a["state"] == state
        ]

    def wait(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        """Poll check() until it returns something truthy; fail naming `what` after timeout."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(0.5)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r}); "
                    f"Prometheus log: {self.log}")  # fmt: skip


@contextmanager
def prometheus(workdir: Path, config: dict[str, Any]) -> Iterator[Prometheus]:
    """Run `prometheus` with config (written as JSON, which is YAML) until the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "prometheus.yml"
    cfg.write_text(json.dumps(config, indent=2))
    log = workdir / "prometheus.log"
    addr = f"127.0.0.1:{free_port()}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address={addr}", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    prom = Prometheus(f"http://{addr}", log)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"prometheus exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        prom.wait("Prometheus to be ready", ready, timeout=20)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
