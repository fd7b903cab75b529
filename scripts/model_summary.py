"""Print a Markdown summary of a model directory's manifest: metrics and variants.

Usage: model_summary.py DIR      (used for the CI job summary and by the demo)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from modelformat import manifest as mf


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def summary(model_dir: Path) -> str:
    manifest: dict[str, Any] = mf.read_json(model_dir)
    lines = [
        f"## Model `{manifest.get('version')}`",
        "",
        f"family **{fmt(manifest.get('model_family'))}**, features "
        f"`{', '.join(manifest.get('features', []))}`, default threshold "
        f"{fmt(manifest.get('default_threshold'))}, "
        f"serving **{fmt(manifest.get('serve_variant'))}**",
        "",
    ]
    rows = (manifest.get("data") or {}).get("rows") or {}
    if rows:
        lines += ["| rows | " + " | ".join(rows) + " |", "|---" * (len(rows) + 1) + "|"]
        lines += ["| | " + " | ".join(fmt(v) for v in rows.values()) + " |", ""]
    test = (manifest.get("metrics") or {}).get("test") or {}
    if test:
        lines += ["| test metric | value |", "|---|---|"]
        lines += [f"| {k} | {fmt(v)} |" for k, v in test.items() if not isinstance(v, dict | list)]
        lines.append("")
    variants = manifest.get("variants") or {}
    if variants:
        lines += [
            "| variant | file | bytes | accepted | agreement | max abs Δp | latency µs | reason |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, v in variants.items():
            lines.append(
                f"| {name} | {fmt(v.get('file'))} | {fmt(v.get('bytes'))}"
                f" | {fmt(v.get('accepted'))} | {fmt(v.get('agreement'))}"
                f" | {fmt(v.get('max_abs_dp'))}"
                f" | {fmt(v.get('latency_us'))} | {fmt(v.get('reason'))} |"
            )
        lines.append("")
    report = model_dir / "report.md"
    if report.exists():
        lines.append(f"Full report: `{report}`")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: model_summary.py MODEL_DIR", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        print(summary(path))
    except mf.ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
