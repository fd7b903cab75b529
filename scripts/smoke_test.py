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
import sys
from pathlib import Path
from typing import Any

from infer.client import Client, RPCError
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


def smoke(model_dir: Path, variant: str | None, timeout: float, python: str) -> dict[str, Any]:
    manifest = mf.read_json(model_dir)
    argv = [python, "-m", "infer", "--model", str(model_dir), "--log-level", "warning"]
    if variant:
        argv += ["--variant", variant]
    sidecar = Client.spawn(argv)
    try:
        try:
            info = sidecar.ready(timeout)
        except (TimeoutError, EOFError) as exc:
            raise SmokeError(f"no ready notification from the sidecar: {exc}") from exc
        if not info.get("model"):
            raise SmokeError(f"sidecar refused {model_dir}: {info.get('error')}")
        if info["model"]["version"] != manifest["version"]:
            raise SmokeError(
                f"sidecar serves {info['model']['version']}, expected {manifest['version']}"
            )
        records = canary_records(manifest)
        try:
            result = sidecar.call("predict", [records], timeout)
        except RPCError as exc:
            raise SmokeError(f"predict answered with error {exc}") from exc
        except (TimeoutError, EOFError) as exc:
            raise SmokeError(f"no answer to the canary: {exc}") from exc
    except BaseException:
        sidecar.kill()
        raise
    try:
        code = sidecar.close(timeout)  # the sidecar exits 0 on EOF
    except TimeoutError:
        sidecar.kill()
        code = sidecar.proc.returncode if sidecar.proc else None
    assert sidecar.proc and sidecar.proc.stderr
    err = sidecar.proc.stderr.read().decode(errors="replace")
    sidecar.kill()
    if code != 0:
        raise SmokeError(f"sidecar exited with code {code} on EOF; stderr:\n{err}")
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
