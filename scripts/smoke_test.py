"""Smoke-test a model directory by serving it: start `python -m infer --model DIR`,
wait for `ready`, send one canary batch, and check the answer.

Usage: smoke_test.py DIR [--variant V] [--timeout S]

The canary records come from the manifest's own feature_stats (mean, min, max and
the 0.1 %/99.9 % quantiles of each feature), so the batch covers the range the
model was trained on without a second copy of the feature list. Then the
model's check vectors (check_vectors.json, when the manifest lists it) are
scored and compared with the p onnxruntime gave at training time: a graph that
is not the one trained with this manifest (a re-copied model file with its hash
updated) answers differently. Exit 0 when the sidecar loaded DIR, answered with
finite probabilities in [0, 1] from the expected version and reproduced the
check vectors; 1 otherwise, with the reason on stderr.
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
from modelformat.defaults import CHECK_VECTOR_TOLERANCE


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
            checked = check_vectors(sidecar, model_dir, manifest, info["model"]["variant"], timeout)
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
    return {
        "version": result["version"],
        "variant": info["model"]["variant"],
        "p": probs,
        "check_vectors": checked,
    }


def same_answers(manifest: dict[str, Any], variant: str) -> bool:
    """Whether variant answered exactly as the served variant at training: both
    differed from FP32 by nothing (max_abs_dp 0, e.g. a tree ensemble, whose FP16 and
    INT8 variants are its FP32 graph), so the recorded p hold for it too."""
    variants = manifest.get("variants") or {}
    both = (variant, manifest.get("serve_variant"))
    return all((variants.get(v) or {}).get("max_abs_dp") == 0 for v in both)


def check_vectors(
    sidecar: Client, model_dir: Path, manifest: dict[str, Any], variant: str, timeout: float
) -> int:
    """Score the check vectors; returns how many matched (0: none to check)."""
    ref = manifest.get("check_vectors")
    if not ref:
        return 0
    if variant != manifest.get("serve_variant") and not same_answers(manifest, variant):
        # The recorded p are the served variant's; another variant may round differently.
        return 0
    path = model_dir / ref["file"]
    doc = json.loads(path.read_text(encoding="utf-8"))
    rows, want = doc["rows"], doc["p"]
    got = sidecar.call("predict", [rows], timeout).get("p") or []
    if len(got) != len(rows):
        raise SmokeError(f"{path}: {len(rows)} rows sent, {len(got)} probabilities back")
    bad = [
        i
        for i, (g, w) in enumerate(zip(got, want, strict=True))
        if abs(g - w) > CHECK_VECTOR_TOLERANCE
    ]
    if bad:
        i = bad[0]
        raise SmokeError(
            f"{path}: {len(bad)} of {len(rows)} check vectors scored differently from training "
            f"(row {i} {rows[i]}: p {got[i]!r}, recorded {want[i]!r}); the model file is not "
            "the graph this manifest was trained with"
        )
    return len(rows)


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
