"""The promotion gate of `deploy_model.sh --promote`: does the shadow's live record hold?

    python scripts/shadow_checks.py REPORT --version V [--model-dir DIR]
        [--min-decisions N] [--min-agreement X] [--approval-band LO,HI]

REPORT is the shadow-report.json the predictor writes beside the `shadow` link
(docs/MODEL_FORMAT.md). Prints one line of figures on stdout and exits 0 when
every criterion holds, 1 when one does not (the line then says which), 2 on bad
usage. The criteria:

* the report is about V (the model `shadow` points to now, not an earlier one);
* the shadow answered at least N live decisions (default PROMOTE_MIN_DECISIONS);
* it approved or rejected like the live model on at least X of them (default
  PROMOTE_MIN_AGREEMENT);
* its live approval rate is within [LO, HI] times its own approval rate on its
  test split (the manifest's reference.approval_rate in DIR; default band
  PROMOTE_APPROVAL_LOW,PROMOTE_APPROVAL_HIGH; all in modelformat/defaults.py):
  the candidate behaves on live traffic as it did when it was evaluated. A model
  without a reference block is compared with the live model's approval rate on
  the same decisions instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from modelformat.defaults import (
    PROMOTE_APPROVAL_HIGH,
    PROMOTE_APPROVAL_LOW,
    PROMOTE_MIN_AGREEMENT,
    PROMOTE_MIN_DECISIONS,
)


def load_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"no shadow report at {path}: is a predictor running with the shadow model? "
            "(it writes the report every 10 s and when it stops)"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable shadow report: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a shadow report is a JSON object")
    return data


def reference_rate(model_dir: Path | None) -> float | None:
    """The model's test-split approval rate from its manifest, None without one."""
    if model_dir is None:
        return None
    try:
        manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
        return float(manifest["reference"]["approval_rate"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def failures(
    report: dict[str, Any], version: str, min_decisions: int, min_agreement: float,
    band: tuple[float, float], ref_rate: float | None = None,
) -> list[str]:  # fmt: skip
    out = []
    if report.get("shadow_version") != version:
        out.append(
            f"the report is about {report.get('shadow_version')!r}, the shadow is {version!r}"
        )
    n = int(report.get("decisions") or 0)
    if n < min_decisions:
        out.append(f"{n} decisions < {min_decisions}")
    agreement = float(report.get("agreement_rate") or 0.0)
    if agreement < min_agreement:
        out.append(f"agreement {agreement:.3f} < {min_agreement}")
    shadow = float(report.get("shadow_approval_rate") or 0.0)
    base, what = ref_rate, "its test split"
    if base is None:
        base, what = float(report.get("live_approval_rate") or 0.0), "live"
    lo, hi = band
    if not (lo * base <= shadow <= hi * base):
        out.append(f"shadow approval {shadow:.3f} outside [{lo}, {hi}] x {what} {base:.3f}")
    return out


def figures(report: dict[str, Any]) -> str:
    return (
        f"shadow {report.get('shadow_version')} vs live {report.get('live_version')}: "
        f"{report.get('decisions', 0)} decisions, agreement "
        f"{float(report.get('agreement_rate') or 0):.3f}, approval "
        f"{float(report.get('shadow_approval_rate') or 0):.3f} (shadow) vs "
        f"{float(report.get('live_approval_rate') or 0):.3f} (live), mean |dp| "
        f"{float(report.get('mean_abs_p_diff') or 0):.4f}, dropped {report.get('dropped', 0)}"
    )


def parse_band(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"want LO,HI (e.g. 0.5,2), got {text!r}") from None
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"want 0 <= LO <= HI, got {text!r}")
    return lo, hi


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("--version", required=True)
    ap.add_argument("--model-dir", type=Path, help="the shadow model (for its reference)")
    ap.add_argument("--min-decisions", type=int, default=PROMOTE_MIN_DECISIONS)
    ap.add_argument("--min-agreement", type=float, default=PROMOTE_MIN_AGREEMENT)
    ap.add_argument(
        "--approval-band", type=parse_band, default=(PROMOTE_APPROVAL_LOW, PROMOTE_APPROVAL_HIGH)
    )
    args = ap.parse_args(argv)
    try:
        report = load_report(args.report)
    except ValueError as exc:
        print(str(exc))
        return 1
    ref = reference_rate(args.model_dir)
    bad = failures(
        report, args.version, args.min_decisions, args.min_agreement, args.approval_band, ref
    )
    line = figures(report) + ("" if ref is None else f", shadow test-split approval {ref:.3f}")
    print(line + ("; NOT MET: " + "; ".join(bad) if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
