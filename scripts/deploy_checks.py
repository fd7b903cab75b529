"""Checks used by scripts/deploy_model.sh: manifest validation, status-file wait, file hashes.

Sub-commands (each exits 0 on success, 1 on a failed check, 2 on bad usage, and
says why on stderr):

  validate DIR [--min-auc X] [--any-name]
                                  manifest is servable and metrics meet the floor
  field DIR KEY.PATH              print one manifest value (e.g. metrics.test.auc)
  verify-files DIR                every variant file's sha256 equals the manifest's
  default-min-auc                 print the default test-AUC floor (train's)
  status-token FILE               print the status file's current content hash
  wait-status FILE --version V --since TOKEN [--timeout S]
                                  wait until the status file changes and reports V

The thresholds and names come from the manifest itself (docs/MODEL_FORMAT.md);
this module only reads them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from modelformat import manifest as mf


class CheckError(Exception):
    """A check failed; the message says which file and field."""


def load_manifest(model_dir: Path) -> mf.Manifest:
    try:
        return mf.load(model_dir)
    except mf.ManifestError as exc:
        raise CheckError(str(exc)) from exc


def dig(manifest: dict[str, Any], dotted: str) -> Any:
    node: Any = manifest
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def validate(model_dir: Path, min_auc: float | None, any_name: bool = False) -> str:
    """Structural and metric checks that need no model run. Returns the version.

    any_name: the directory may have another name (a downloaded CI artifact); it is
    published under its version, so only directories inside models/ must match."""
    manifest = load_manifest(model_dir)
    where = model_dir / mf.FILE_NAME
    version = manifest.version
    if version != model_dir.name and not any_name:
        raise CheckError(
            f"{where}: field 'version' is {version!r} but the directory is named "
            f"{model_dir.name!r}; a model directory must be named after its version"
        )
    try:
        variant, spec = manifest.served(where=str(where))
    except mf.ManifestError as exc:
        raise CheckError(f"{exc}; it must never be served") from exc
    model_file = model_dir / spec.file
    if not model_file.is_file():
        raise CheckError(f"{where}: variants.{variant}.file {model_file.name!r} does not exist")
    if min_auc is not None:
        auc = dig(manifest.to_dict(), "metrics.test.auc")
        if not mf.finite(auc):
            raise CheckError(f"{where}: metrics.test.auc is missing; cannot apply --min-auc")
        if auc < min_auc:
            raise CheckError(
                f"{where}: metrics.test.auc {auc:.4f} is below the floor --min-auc {min_auc}"
            )
    return version


def verify_files(model_dir: Path) -> None:
    manifest = load_manifest(model_dir)
    if not manifest.variants:
        raise CheckError(f"{model_dir / mf.FILE_NAME}: field 'variants' is empty")
    for name, spec in manifest.variants.items():
        path = model_dir / spec.file
        if not path.is_file():
            raise CheckError(f"{path}: variant {name!r} file is missing")
        try:
            mf.verify_file(path, spec.sha256)
        except mf.ManifestError as exc:
            raise CheckError(f"{exc} (variants.{name}.sha256)") from exc


def status_token(status_file: Path) -> str:
    try:
        return mf.sha256_file(status_file)
    except FileNotFoundError:
        return "absent"


def read_status(status_file: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(status_file.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # absent or mid-write by a non-atomic writer: try again
    return data if isinstance(data, dict) else None


def wait_status(status_file: Path, version: str, since: str, timeout: float) -> dict[str, Any]:
    """Wait for the sidecar to rewrite its status file after a SIGHUP.

    Success: the file changed since `since` and reports `version` with no error.
    Failure: it changed and reports an error (a failed reload), or the timeout.
    """
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        if status_token(status_file) != since:
            status = read_status(status_file)
            if status is not None:
                last = status
                if status.get("version") == version and not status.get("last_error"):
                    return status
                if status.get("last_error"):
                    raise CheckError(
                        f"{status_file}: sidecar refused version {version}: "
                        f"{status['last_error']} (still serving {status.get('version')})"
                    )
        time.sleep(0.05)
    seen = f"last status {json.dumps(last)}" if last else "status file never changed"
    raise CheckError(
        f"{status_file}: sidecar did not report version {version} within {timeout:g} s ({seen})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy_checks", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("validate")
    p.add_argument("dir", type=Path)
    p.add_argument("--min-auc", type=float)
    p.add_argument("--any-name", action="store_true")
    p = sub.add_parser("field")
    p.add_argument("dir", type=Path)
    p.add_argument("key")
    p = sub.add_parser("verify-files")
    p.add_argument("dir", type=Path)
    sub.add_parser("default-min-auc")
    p = sub.add_parser("status-token")
    p.add_argument("file", type=Path)
    p = sub.add_parser("wait-status")
    p.add_argument("file", type=Path)
    p.add_argument("--version", required=True)
    p.add_argument("--since", required=True)
    p.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "validate":
            print(validate(args.dir, args.min_auc, args.any_name))
        elif args.cmd == "field":
            value = dig(load_manifest(args.dir).to_dict(), args.key)
            print("" if value is None else value)
        elif args.cmd == "verify-files":
            verify_files(args.dir)
        elif args.cmd == "default-min-auc":
            print(mf.DEFAULT_MIN_AUC)
        elif args.cmd == "status-token":
            print(status_token(args.file))
        elif args.cmd == "wait-status":
            status = wait_status(args.file, args.version, args.since, args.timeout)
            print(json.dumps(status))
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
