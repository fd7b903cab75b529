"""Checks used by scripts/deploy_model.sh: manifest validation and file hashes.

Sub-commands (each exits 0 on success, 1 on a failed check, 2 on bad usage, and
says why on stderr):

  validate DIR [--min-auc X|default] [--any-name] [--sums FILE]
      the manifest is servable, its version and every file name it refers to are
      plain names, every file it names (all variants, check_vectors) has the sha256
      the manifest records, it agrees with itself where a hand edit would show
      (default_threshold is the threshold its test metrics were measured at;
      check_vectors.json lists the manifest's features in its order, one p per
      row), and metrics.test.auc meets the floor. Prints
      "VERSION<TAB>AUC<TAB>FLOOR". --sums writes a `sha256sum -c` list of
      manifest.json and those files, which lets a rollback re-check them without Python.

  same-features CURRENT CANDIDATE
      the candidate takes the features in the current model's order: a bot that
      declares its order (Config.Features) refuses every decision of a model that
      takes another. Exits 1 naming both orders when they differ.

The thresholds and names come from the manifest itself (docs/MODEL_FORMAT.md);
this module only reads them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from modelformat import manifest as mf

# A version is a directory name in models/ and a symlink target: one path component,
# not hidden (the deploy's scratch names start with a dot), not a link's name.
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
RESERVED = frozenset({"current", "previous", "shadow"})


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


def check_version(version: str, where: Path) -> None:
    if not PLAIN_NAME.fullmatch(version) or version in RESERVED:
        raise CheckError(
            f"{where}: field 'version' is {version!r}; a version must be a plain name "
            f"(letters, digits, '.', '_', '-'; not starting with '.' or '-'; at most 128 "
            f"characters; not {', '.join(sorted(RESERVED))})"
        )


def check_file_name(name: str, where: Path, field: str) -> None:
    """A file the manifest names must be a file directly inside the model directory."""
    if name in ("", ".", "..") or os.path.basename(name) != name or "\0" in name:
        raise CheckError(
            f"{where}: field {field!r} is {name!r}; it must be a plain file name in the "
            f"model directory"
        )


def served_files(manifest: mf.Manifest, model_dir: Path) -> list[tuple[str, str, str]]:
    """(field, file name, sha256) of every file the manifest vouches for."""
    where = model_dir / mf.FILE_NAME
    if not manifest.variants:
        raise CheckError(f"{where}: field 'variants' is empty")
    files = [(f"variants.{k}.file", v.file, v.sha256) for k, v in manifest.variants.items()]
    if manifest.check_vectors is not None:
        cv = manifest.check_vectors
        files.append(("check_vectors.file", cv.file, cv.sha256))
    for field, name, _ in files:
        check_file_name(name, where, field)
    return files


def verify_files(manifest: mf.Manifest, model_dir: Path) -> list[tuple[str, str]]:
    """Hash every file the manifest names; returns (sha256, name) pairs."""
    out = []
    for field, name, want in served_files(manifest, model_dir):
        path = model_dir / name
        if not path.is_file():
            raise CheckError(f"{path}: {field} names a file that does not exist")
        try:
            mf.verify_file(path, want)
        except mf.ManifestError as exc:
            raise CheckError(f"{exc} ({field.rsplit('.', 1)[0]}.sha256)") from exc
        out.append((want.lower(), name))
    return out


def validate(
    model_dir: Path, min_auc: float | None, any_name: bool = False
) -> tuple[mf.Manifest, list[tuple[str, str]]]:
    """Every check that needs no model run. Returns the manifest and the file hashes.

    any_name: the directory may have another name (a downloaded CI artifact); it is
    published under its version, so only directories inside models/ must match."""
    manifest = load_manifest(model_dir)
    where = model_dir / mf.FILE_NAME
    version = manifest.version
    check_version(version, where)
    if version != model_dir.name and not any_name:
        raise CheckError(
            f"{where}: field 'version' is {version!r} but the directory is named "
            f"{model_dir.name!r}; a model directory must be named after its version"
        )
    try:
        manifest.served(where=str(where))
    except mf.ManifestError as exc:
        raise CheckError(f"{exc}; it must never be served") from exc
    hashes = verify_files(manifest, model_dir)
    check_consistency(manifest, model_dir)
    if min_auc is not None:
        auc = dig(manifest.to_dict(), "metrics.test.auc")
        if not mf.finite(auc):
            raise CheckError(f"{where}: metrics.test.auc is missing; cannot apply --min-auc")
        if auc < min_auc:
            raise CheckError(
                f"{where}: metrics.test.auc {auc:.4f} is below the floor --min-auc {min_auc}"
            )
    return manifest, hashes


def check_consistency(manifest: mf.Manifest, model_dir: Path) -> None:
    """Fields that training writes together must still agree: an edit of one of them
    (a lowered threshold, reordered or renamed features) leaves the hashes intact,
    since the manifest vouches for the other files, not for itself."""
    where = model_dir / mf.FILE_NAME
    measured = dig(manifest.to_dict(), "metrics.test.threshold")
    if mf.finite(measured) and abs(measured - manifest.default_threshold) > 1e-9:
        raise CheckError(
            f"{where}: default_threshold {manifest.default_threshold} is not the threshold "
            f"its test metrics were measured at (metrics.test.threshold {measured}); "
            "a published manifest is never edited: retrain with --threshold instead"
        )
    if manifest.check_vectors is None:
        return
    path = model_dir / manifest.check_vectors.file
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckError(f"{path}: not readable as JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise CheckError(f"{path}: not a JSON object")
    features, rows, p = doc.get("features"), doc.get("rows"), doc.get("p")
    if features != list(manifest.features):
        raise CheckError(
            f"{path}: field 'features' is {features}, the manifest's {list(manifest.features)}; "
            "the graph was trained on the check vectors' order, so the manifest's is wrong"
        )
    if not isinstance(rows, list) or not isinstance(p, list) or len(rows) != len(p):
        raise CheckError(f"{path}: fields 'rows' and 'p' must be lists of equal length")


def _min_auc(text: str) -> float:
    return mf.DEFAULT_MIN_AUC if text == "default" else float(text)


def same_features(current: Path, candidate: Path) -> None:
    cur, cand = load_manifest(current), load_manifest(candidate)
    if list(cur.features) != list(cand.features):
        raise CheckError(
            f"{cand.version} takes the features {list(cand.features)}, the current model "
            f"{cur.version} {list(cur.features)}: a bot that declares its order (Config.Features) "
            "would refuse every decision"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy_checks", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("validate")
    p.add_argument("dir", type=Path)
    p.add_argument("--min-auc", type=_min_auc)
    p.add_argument("--any-name", action="store_true")
    p.add_argument("--sums", type=Path)
    f = sub.add_parser("same-features")
    f.add_argument("current", type=Path)
    f.add_argument("candidate", type=Path)
    v = sub.add_parser("provenance", help="print the manifest's data.provenance ('' if none)")
    v.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "provenance":
        try:
            provenance = dig(mf.read_json(args.dir), "data.provenance")
        except mf.ManifestError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(provenance if isinstance(provenance, str) else "")
        return 0
    if args.cmd == "same-features":
        try:
            same_features(args.current, args.candidate)
        except CheckError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    try:
        manifest, hashes = validate(args.dir, args.min_auc, args.any_name)
        if args.sums:
            hashes.append((mf.sha256_file(args.dir / mf.FILE_NAME), mf.FILE_NAME))
            args.sums.write_text("".join(f"{h}  {name}\n" for h, name in hashes))
        auc = dig(manifest.to_dict(), "metrics.test.auc")
        floor = "none" if args.min_auc is None else args.min_auc
        print(f"{manifest.version}\t{'-' if auc is None else auc}\t{floor}")
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
