"""report.md's "Data warnings" block and its calibration section.

Data warnings come first in the report because they qualify every figure
after them. The calibration section answers the bot's question, "does
p >= 0.65 mean at least 65 %?": the chosen calibration and what the others
would have scored (out of fold, on validation), ECE over equal-mass bins, the
reliability table, and per approve threshold the approved records' mean p
against their observed rate on the test split with a Wilson 95 % interval.
"""

# ruff: noqa: RUF001  (en dashes for intervals, a minus sign in a header)

from __future__ import annotations

from typing import Any


def _f(v: Any, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def data_warnings(man: dict[str, Any]) -> list[str]:
    warns = man["data"].get("warnings") or []
    if not warns:
        return ["**Data warnings:** none.", ""]
    out = ["## Data warnings", ""]
    for w in warns:
        ex = f" E.g. {'; '.join(w['examples'])}." if w.get("examples") else ""
        out.append(f"* **{w['kind']}** ({w['count']}): {w['message']}.{ex}")
    return [*out, ""]


def target_lines(man: dict[str, Any]) -> list[str]:
    t = man["training"].get("target_precision")
    if not t:
        return []
    m = man["metrics"]["test"]
    return [
        "## Threshold from the target precision",
        "",
        f"`--target-precision {t['target']}`: the lowest threshold whose precision on the "
        f"validation split reaches it with at least {t['min_approvals']} approvals is "
        f"**{t['threshold']:.4f}** ({t['approved']} validation approvals, precision "
        f"{t['precision']:.3f}). On the test split it buys: {m['approved']} approvals "
        f"({m['approval_rate']:.2%} of {m['rows']} rows), precision {m['precision']:.3f}, "
        f"recall {m['recall']:.3f} (base rate {m['base_rate']:.3f}).",
        "",
    ]


def section(man: dict[str, Any]) -> list[str]:
    m = man["metrics"]["test"]
    tr = man["training"]
    choice = tr.get("calibration_choice") or {}
    cands = choice.get("candidates") or {}
    lines = ["## Calibration", ""]
    how = (
        "chosen by the lowest log-loss"
        if choice.get("requested") == "auto"
        else f"as asked (`--calibrate {choice.get('requested', tr['calibration'])}`)"
    )
    fitted = choice.get("fitted_on") or "validation"
    rows = choice.get("fitted_rows")
    lines += [
        f"Calibration **{tr['calibration']}**, {how}, fitted on {fitted}"
        f"{f' ({rows} rows)' if rows else ''}. Every method scored out of fold "
        f"({choice.get('scored') or 'validation split'}):",
        "",
        "| method | log-loss | Brier | ECE | AUC |",
        "|---|---|---|---|---|",
        *[
            f"| {'**' + k + '**' if k == tr['calibration'] else k} | {c['log_loss']:.5f} | "
            f"{c['brier']:.5f} | {c['ece']:.4f} | {c['auc']:.4f} |"
            for k, c in cands.items()
        ],
        "",
        f"Test split: ECE {m['ece']:.4f} ({m['ece_bins']} bins), log-loss {m['log_loss']:.5f}, "
        f"Brier {m['brier']:.5f}, AUC {m['auc']:.4f}. Reliability per equal-mass bin of "
        "predicted probability (Wilson 95 % interval):",
        "",
        "| rows | mean p | observed | 95 % interval |",
        "|---|---|---|---|",
    ]
    r = m["reliability"]
    for i in range(len(r["mean_predicted"])):
        lines.append(
            f"| {r['rows'][i]} | {r['mean_predicted'][i]:.3f} | {r['observed_rate'][i]:.3f} | "
            f"{r['ci_low'][i]:.3f}–{r['ci_high'][i]:.3f} |"
        )
    lines += [
        "",
        "Where the bot acts: the test records approved at each threshold, their mean p "
        "against the share that reverted (Wilson 95 % interval). Mean p above the interval "
        "means the model promises more than it delivers there.",
        "",
        "| threshold | approved | mean p | observed | 95 % interval | mean p − observed |",
        "|---|---|---|---|---|---|",
    ]
    for a in m["approved_calibration"]:
        ci = "-" if a["ci_low"] is None else f"{a['ci_low']:.3f}–{a['ci_high']:.3f}"
        lines.append(
            f"| {a['threshold']:.2f} | {a['approved']} | {_f(a['mean_p'])} | "
            f"{_f(a['observed'])} | {ci} | {_f(a['overconfidence'], '+.3f')} |"
        )
    lines.append("")
    comp = man.get("comparison")
    if comp:
        lines += [
            "Every family (chosen: the lowest validation log-loss; AUC as context):",
            "",
            "| family | calibration | val log-loss | val Brier | val ECE | val AUC | "
            "test log-loss | test ECE | test AUC | threshold |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for fam, c in comp.items():
            v, t = c["validation"], c["test"]
            name = f"**{fam}**" if fam == man["model_family"] else fam
            lines.append(
                f"| {name} | {c['calibration']} | {v['log_loss']:.5f} | {v['brier']:.5f} | "
                f"{v['ece']:.4f} | {c['val_auc']:.4f} | {t['log_loss']:.5f} | {t['ece']:.4f} | "
                f"{t['auc']:.4f} | {c['threshold']:.4g} |"
            )
        lines.append("")
    return lines
