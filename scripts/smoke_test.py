"""Smoke-test a model directory by serving it: start `python -m infer --model DIR`,
wait for `ready`, send one canary batch, and check the answer.

Usage: smoke_test.py DIR [--variant V] [--timeout S]

The canary records come from the manifest's own feature_stats (mean, min, max and
the 0.1 %/99.9 % quantiles of each feature), so the batch covers the range the
model was trained on without a second copy of the feature list. Exit 0 when the
sidecar loaded DIR and answered with finite probabilities in [0, 1] from the
expected version; 1 otherwise, with the reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack

from modelformat import manifest as mf


class SmokeError(Exception):
    pass


def canary_records(manifest: dict[str, Any]) -> list[list[float]]:
    features: list[str] = manifest["features"]
    stats: dict[str, dict[str, float]] = manifest.get("feature_stats") or {}
    records = []
    for key in ("mean", "min", "max", "q001", "q999"):
        row = [float(stats.get(name, {}).get(key, 0.0)) for name in features]
        records.append(row)
    records.append([0.0] * len(features))
    return records


class Sidecar:
    """Just enough of a msgpack-rpc client to run one canary (docs/PROTOCOL.md)."""

    def __init__(self, argv: list[str], timeout: float) -> None:
        self.timeout = timeout
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.unpacker = msgpack.Unpacker(raw=False)

    def next_message(self) -> list[Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.timeout
        while True:
            for msg in self.unpacker:
                return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise SmokeError(f"no message from the sidecar within {self.timeout:g} s")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise SmokeError(f"sidecar exited (code {self.proc.wait()}) before answering")
                self.unpacker.feed(chunk)

    def call(self, method: str, params: list[Any]) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(msgpack.packb([0, 1, method, params]))
        self.proc.stdin.flush()
        while True:
            msg = self.next_message()
            if msg[0] == 1 and msg[1] == 1:
                if msg[2] is not None:
                    raise SmokeError(f"{method} answered with error {msg[2]}")
                return msg[3]

    def close(self) -> str:
        """Close stdin (the sidecar exits 0 on EOF); return its stderr."""
        assert self.proc.stdin is not None and self.proc.stderr is not None
        try:
            self.proc.stdin.close()
            code = self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        err = self.proc.stderr.read().decode(errors="replace")
        if code != 0:
            raise SmokeError(f"sidecar exited with code {code} on EOF; stderr:\n{err}")
        return err


def smoke(model_dir: Path, variant: str | None, timeout: float, python: str) -> dict[str, Any]:
    manifest = mf.read_json(model_dir)
    argv = [python, "-m", "infer", "--model", str(model_dir), "--log-level", "warning"]
    if variant:
        argv += ["--variant", variant]
    sidecar = Sidecar(argv, timeout)
    try:
        msg = sidecar.next_message()
        if msg[:2] != [2, "ready"]:
            raise SmokeError(f"first message was {msg!r}, expected the ready notification")
        info = msg[2][0]
        if not info.get("model"):
            raise SmokeError(f"sidecar refused {model_dir}: {info.get('error')}")
        if info["model"]["version"] != manifest["version"]:
            raise SmokeError(
                f"sidecar serves {info['model']['version']}, expected {manifest['version']}"
            )
        records = canary_records(manifest)
        result = sidecar.call("predict", [records])
    except BaseException:
        sidecar.proc.kill()
        sidecar.proc.wait()
        raise
    sidecar.close()
    probs = result.get("p") or []
    if len(probs) != len(records):
        raise SmokeError(f"canary: {len(records)} records sent, {len(probs)} probabilities back")
    for i, p in enumerate(probs):
        if not (isinstance(p, float) and math.isfinite(p) and 0.0 <= p <= 1.0):
            raise SmokeError(f"canary record {i}: probability {p!r} is not finite in [0, 1]")
    if result.get("version") != manifest["version"]:
        raise SmokeError(f"canary answered by {result.get('version')}, not {manifest['version']}")
    return {"version": result["version"], "variant": info["model"]["variant"], "p": probs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smoke_test", description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--variant")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    try:
        out = smoke(args.dir.resolve(), args.variant, args.timeout, args.python)
    except (SmokeError, OSError, KeyError, mf.ManifestError) as exc:
        print(f"error: smoke test of {args.dir}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
