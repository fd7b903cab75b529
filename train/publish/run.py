"""`train fit` end to end: read → label → split → fit families → gates → publish.

The model directory is built under a hidden temporary name inside --out and
renamed into place only when every gate passed, so a reader sees either the
complete directory or nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from modelformat.manifest import DEFAULT_MIN_AUC, sha256_file
from train.data.dataset import Dataset, build_dataset
from train.data.load import read_records
from train.data.parquet import sha256_data
from train.data.provenance import detect as detect_provenance
from train.data.records import Records, format_timestamp
from train.errors import GateFailedError, InputError
from train.fit import FamilyResult, FitOptions, choose_serve_variant, fit_family
from train.labels.labeler import LabelParams
from train.model.calibrate import RULE
from train.model.families import NAMES as FAMILIES
from train.onnx.check_vectors import write_check_vectors
from train.onnx.export import VARIANT_FILES
from train.publish import manifest as train_manifest
from train.publish.reference import build_reference
from train.publish.trader import TraderOptions

log = logging.getLogger("train")


@dataclass
class FitArgs:
    data: Path
    out: Path
    features: list[str]
    label: LabelParams
    families: list[str]
    opts: FitOptions
    symbol: str | None = None
    embargo_s: float = 0.0
    max_bad: int = 0
    min_auc: float = DEFAULT_MIN_AUC
    max_parity: float = 1e-4
    report: bool = True
    walk_forward_s: float | None = None  # add a walk-forward section to report.md
    engine: str = "local"  # or "dask" (train.distributed.engine)
    scheduler: str = "local"  # dask: "local" (a LocalCluster) or the scheduler's address
    workers: int = 2  # dask, --scheduler local: worker processes
    trader: TraderOptions | None = None  # report.md's threshold advice and P&L (fee)


# A gate that approves more than this share of the test candidates filters nothing.
MAX_APPROVAL_RATE = 0.95


def _choose(results: dict[str, FamilyResult], args: FitArgs) -> FamilyResult:
    """The family with the lowest validation log-loss (cross-fitted calibration), never test.

    With --target-precision, only families for which some threshold reaches it.
    """
    ok = [r for r in results.values() if r.target is None or r.target["threshold"] is not None]
    if not ok:
        t = next(iter(results.values())).target or {}
        figs = "; ".join(
            f"{f}: validation max p {r.target['max_p']:.3f}" for f, r in results.items() if r.target
        )
        raise GateFailedError(
            f"no threshold reaches --target-precision {t.get('target')} on the validation split "
            f"with at least --min-approvals {t.get('min_approvals')} approvals ({figs}); lower "
            "either"
        )
    return min(ok, key=lambda r: (r.val_scores[RULE], -r.val_auc))


def _gate(best: FamilyResult, args: FitArgs) -> list[str]:
    failures = []
    m = best.metrics
    if m["approved"] == 0:
        how = (
            f"--target-precision {args.opts.target_precision} chose it on validation"
            if best.target
            else "set --target-precision P (e.g. 0.6) to choose the threshold from the "
            "precision you need, or lower --threshold"
        )
        failures.append(
            f"the model approves nothing on the test split at threshold {best.threshold:.4g} "
            f"(0 of {m['rows']} rows; highest p {m['max_p']:.3f}, base rate "
            f"{m['base_rate']:.3f}, test AUC {m['auc']:.4f}): {how}"
        )
    elif m["approval_rate"] > MAX_APPROVAL_RATE:
        failures.append(
            f"the model approves {m['approval_rate']:.1%} of the test split at threshold "
            f"{best.threshold:.4g} (> {MAX_APPROVAL_RATE:.0%}: it filters nothing); raise "
            "--threshold or set --target-precision"
        )
    auc = best.metrics["auc"]
    if auc < args.min_auc:
        failures.append(f"test AUC {auc:.4f} < --min-auc {args.min_auc}")
    if best.parity > args.max_parity:
        hint = (
            " (isotonic slopes amplify the float32 rounding of the model's score, "
            "most for xgb: use --calibrate sigmoid)"
            if args.opts.calibration == "isotonic"
            else ""
        )
        failures.append(
            f"ONNX vs scikit-learn max |dp| {best.parity:.3g} > --max-parity {args.max_parity}"
            + hint
        )
    if not any(v.accepted for v in best.variants.values()):
        failures.append("no ONNX variant passed its gate")
    return failures


def run_fit(args: FitArgs) -> Path:
    # One BLAS/OpenMP thread per fit: on a shared 2-core box, HistGradientBoosting's
    # default thread pool oversubscribes and runs ~30x slower than single-threaded.
    with threadpool_limits(1):
        return _run_fit(args)


def _run_fit(args: FitArgs) -> Path:
    if args.engine == "dask":
        from train.distributed import engine

        with engine.connect(args.scheduler, args.workers) as client:
            ds, fit_one = engine.build(client, args)
            return _publish(args, ds, fit_one)
    recs = read_records(args.data, args.features, args.max_bad)
    ds = build_dataset(recs, args.features, args.label, args.embargo_s, args.symbol)
    # The raw columns are the largest arrays of a big input: kept only for the walk-forward.
    return _publish(args, ds, fit_family, recs if args.walk_forward_s else None)


def _publish(
    args: FitArgs, ds: Dataset, fit_one: Callable[..., FamilyResult], recs: Records | None = None
) -> Path:
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=args.out))
    except OSError as e:
        raise InputError(f"--out {args.out}: cannot write there: {e.strerror or e}") from None
    try:
        results: dict[str, FamilyResult] = {}
        for fam in args.families:
            results[fam] = fit_one(fam, ds, args.opts, tmp / f"_{fam}")
        # Choose on validation, never on test: the test split stays untouched.
        best = _choose(results, args)
        failures = _gate(best, args)
        if failures:
            raise GateFailedError("; ".join(failures))
        for name in VARIANT_FILES.values():
            os.replace(tmp / f"_{best.family}" / name, tmp / name)
        for fam in results:
            shutil.rmtree(tmp / f"_{fam}")
        created = datetime.now(UTC).replace(microsecond=0)
        fp32_sha = sha256_file(tmp / VARIANT_FILES["fp32"])
        salt = 0
        version = train_manifest.version_name(created, fp32_sha)
        while (args.out / version).exists():
            salt += 1
            version = train_manifest.version_name(created, fp32_sha, salt)
        serve = choose_serve_variant(best.variants)
        promised, sym_thr = _promise(tmp, serve, ds, args)
        data_info = {
            "source": str(args.data),
            "sha256": sha256_data(args.data),
            "first": format_timestamp(ds.first_ns),
            "last": format_timestamp(ds.last_ns),
            "rows": ds.rows,
            "embargo_s": ds.embargo_s,
            "symbol": args.symbol,
            # "simulated" or "exported": the deploy script keeps simulated out of live dirs.
            **detect_provenance(args.data),
            "warnings": ds.warnings,
        }
        training = {
            "search": best.search.mode,
            "best_params": best.search.best_params,
            "cv_auc": best.search.best_score,
            "cv_folds": best.search.folds,
            "tuned_rows": best.search.tuned_rows,
            "fits": best.search.fits,
            "calibration": best.calibration.method if best.calibration else "none",
            "calibration_choice": best.calibration.to_dict() if best.calibration else None,
            "calibrated_on": "validation",
            "target_precision": best.target,
            "fit_seconds": round(best.fit_seconds, 2),
            "seed": args.opts.seed,
        }
        comparison = {
            fam: {
                "val_auc": r.val_auc,
                "validation": r.val_scores,
                "calibration": r.calibration.method if r.calibration else "none",
                "threshold": r.threshold,
                "test": {k: v for k, v in r.metrics.items() if k != "reliability"},
                "parity": r.parity,
                "fit_seconds": round(r.fit_seconds, 2),
                "best_params": r.search.best_params,
                "variants": {k: v.to_dict() for k, v in r.variants.items()},
            }
            for fam, r in results.items()
        }
        man = train_manifest.build_manifest(
            version=version,
            created=created,
            family=best.family,
            features=args.features,
            threshold=best.threshold,
            serve_variant=serve,
            variants=train_manifest.variant_entries(tmp, best.variants),
            feature_stats=ds.stats,
            label=args.label.to_dict(),
            data=data_info,
            training=training,
            metrics={
                "validation": {"auc": best.val_auc, **best.val_scores},
                "test": {**best.metrics, **_test_extras(ds, best)},
                **promised,
            },
            parity=best.parity,
            gates={
                "min_auc": args.min_auc,
                "max_approval_rate": MAX_APPROVAL_RATE,
                "max_parity": args.max_parity,
                "min_agreement": args.opts.min_agreement,
                "max_auc_delta": args.opts.max_auc_delta,
            },
            comparison=comparison if len(results) > 1 else None,
        ).to_dict()
        if sym_thr:
            man["symbol_thresholds"] = sym_thr
        man["check_vectors"] = write_check_vectors(tmp, man, ds.test.X)
        man["reference"] = build_reference(ds.features, ds.train.X, best.p_onnx, man)
        if args.report:
            from train.publish.report import write_report

            write_report(tmp, man, ds, best, results, args.trader)
            if args.walk_forward_s and recs is not None:
                from train.backtest.walkforward import add_to_report

                add_to_report(tmp, recs, args, best.family)
        train_manifest.write_manifest(tmp / "manifest.json", man)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; others (the sidecar) must read it
        final = args.out / version
        os.rename(tmp, final)
        return final.resolve()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _test_extras(ds: Dataset, best: FamilyResult) -> dict:
    """The test split's approvals, expected precision and ECE at the default threshold."""
    from train.monitor.figures import figures

    f = figures(ds.test.y, best.p_onnx, best.p_onnx >= best.metrics["threshold"])
    return {"approvals": f.approvals, "expected_precision": f.expected_precision, "ece": f.ece}


def _promise(tmp: Path, serve: str | None, ds: Dataset, args: FitArgs) -> tuple[dict, dict]:
    """Per-symbol test figures and thresholds, scored with the served variant's graph."""
    from train.monitor.promise import training_figures
    from train.onnx.export import predict, session

    if serve is None:
        return {}, {}
    sess = session(tmp / VARIANT_FILES[serve])
    f32 = np.float32
    p_val, p_test = (predict(sess, part.X.astype(f32)) for part in (ds.validation, ds.test))
    metrics, thresholds, _ = training_figures(
        ds, p_val, p_test, args.opts.threshold, args.label.lookahead_s, args.opts.seed
    )
    return metrics, thresholds


def parse_families(spec: str) -> list[str]:
    return list(FAMILIES) if spec == "all" else [spec]
