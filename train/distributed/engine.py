"""`train fit --engine dask`: label, split and clean with dask.dataframe, fit with xgboost.dask.

Every step keeps the single-machine semantics, so the published model is
directly comparable with `--engine local --model xgb`:

* labels: the frame is shuffled on `symbol`, so each partition holds whole
  symbols and a lookahead window is never cut at a partition border; each
  partition drops its exact duplicate records (train.data.hygiene's definition)
  and is labelled by train.labels.per_symbol.label_per_symbol, the same code as
  the single-machine path (identical labels, asserted by the tests). With few
  symbols the shuffle leaves partitions empty: every step takes an empty
  partition (asserted by the tests);
* split: the chronological cuts are the exact time quantiles (found with a
  two-pass histogram: no sort, nothing row-sized on the client), then the
  same embargo; outlier bounds from the training split's exact moments;
* fit: the hyper-parameters are searched on the most recent --tune-rows
  training rows (train.model.search, on the client), then xgboost.dask refits on the
  whole training split across the workers;
* after the fit the booster is loaded into a plain XGBClassifier behind the
  same exact StandardScaler, and train.fit.finish_family calibrates, exports
  the ONNX variants and gates them exactly as for a local fit. Validation and
  test are gathered to the client for that (40 % of the labelled rows).
"""
# ruff: noqa: N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from train.data import hygiene
from train.data.clean import OUTLIER_SIGMA, path_mask
from train.data.dataset import MIN_ROWS_PER_SPLIT, Dataset, Part
from train.data.parquet import is_parquet, parquet_files, timestamps_ns
from train.data.records import LABEL_COLUMNS, format_timestamp
from train.distributed.dask_stats import count_codes, kth, kth_columns, moments
from train.errors import InputError
from train.fit import FamilyResult, FitOptions, finish_family
from train.labels.labeler import NS, LabelParams
from train.labels.per_symbol import label_per_symbol, symbol_codes
from train.labels.realised import realised_reversion
from train.model.search import run_search

log = logging.getLogger("train")
DEFAULT_TUNE_ROWS = 100_000
# y codes before cleaning: labelled rows are 0/1. A DUPLICATE row is an exact
# duplicate of a record kept (of any symbol, also with --symbol: counted as the
# local engine counts them), carried only to be counted.
CENSORED, BAD_PRICE, BAD_FEATURE, DUPLICATE = -1, -2, -3, -4


@contextlib.contextmanager
def connect(scheduler: str, workers: int = 2) -> Iterator[Any]:
    """A dask Client: a LocalCluster of `workers` single-threaded processes for
    "local", else the scheduler at ADDRESS (tcp://host:8786)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--engine dask needs the dask extra: pip install '.[dask]'") from None

    # distributed logs every connection at INFO; the fit's own log is what a user reads.
    logging.getLogger("distributed").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)  # one line per shuffle
    if scheduler == "local":
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout="30s")
    except OSError as e:
        raise InputError(f"--scheduler {scheduler}: cannot reach the Dask scheduler: {e}") from None
    with client:
        yield client


def _duplicates(codes: np.ndarray, ts: np.ndarray, cols: dict[str, np.ndarray]) -> np.ndarray:
    """Mask of the rows that repeat an earlier row exactly (hygiene.exact_duplicates)."""
    order, _, same = hygiene.exact_duplicates(codes, ts, cols)
    dup = np.zeros(len(ts), dtype=bool)
    dup[order[same]] = True
    return dup


def _frame_meta(features: list[str]):
    """The labelled frame's columns and dtypes (and an empty partition's frame)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "symbol": pd.Series([], dtype="string"),
            "ts": np.zeros(0, np.int64),
            **{f: np.zeros(0, np.float32) for f in features},
            "y": np.zeros(0, np.int8),
            **{c: np.zeros(0, np.float64) for c in ("rev", "hor", "sbp")},
        }
    )


def _label_partition(df, features: list[str], params: LabelParams, symbol: str | None):
    """One partition (whole symbols) → symbol, ts, features (float32), y with the drop
    codes, rev, hor, sbp: every record of `symbol` (all without one) that is not an
    exact duplicate, and the duplicates of every symbol with y = DUPLICATE."""
    import pandas as pd
    import pyarrow as pa

    if len(df) == 0:  # the shuffle leaves a partition empty when symbols are few
        return _frame_meta(features)
    ts = timestamps_ns(pa.Array.from_pandas(df["timestamp"]), "partition")
    syms = df["symbol"].astype(object).to_numpy()
    price, vwap, std = (df[c].to_numpy(np.float64) for c in LABEL_COLUMNS)
    # Compared as train.data.parquet holds them: the price path float64, features float32.
    cols = {c: df[c].to_numpy(np.float64) for c in dict.fromkeys([*LABEL_COLUMNS, *features])}
    for f in set(features) - set(LABEL_COLUMNS):
        cols[f] = cols[f].astype(np.float32)
    dup = _duplicates(symbol_codes(syms), ts, cols)
    keep = ~dup & (syms == symbol) if symbol else ~dup
    y = np.full(len(df), BAD_PRICE, dtype=np.int8)
    y[dup] = DUPLICATE
    rev = np.full(len(df), np.nan)
    hor = np.full(len(df), np.nan)
    ok = keep & path_mask(np.column_stack([price, vwap, std]))
    if ok.any():
        codes = symbol_codes(syms[ok])
        path = (codes, ts[ok], price[ok], vwap[ok], std[ok], params)
        y[ok] = label_per_symbol(*path)
        # The report's trading terms, computed where the whole symbol is at hand.
        rev[ok], hor[ok] = realised_reversion(*path)
    # One sigma in basis points of the price, as train.data.dataset computes it (P&L).
    with np.errstate(divide="ignore", invalid="ignore"):
        sbp = np.maximum(std, params.min_std) / price * 1e4
    X = np.column_stack([df[f].to_numpy(np.float64) for f in features]).astype(np.float32)
    y[(y >= 0) & ~np.all(np.isfinite(X), axis=1)] = BAD_FEATURE
    out = pd.DataFrame(X, columns=features, index=df.index)
    out.insert(0, "ts", ts)
    out.insert(0, "symbol", df["symbol"].astype("string"))
    out["y"] = y
    out["rev"] = rev
    out["hor"] = hor
    out["sbp"] = sbp
    # Another symbol's records are dropped here (after its duplicates were found).
    return out[keep | dup]


def exact_scaler_from_moments(mean: np.ndarray, std: np.ndarray, n: int):
    """train.model.models.exact_scaler's StandardScaler, from distributed moments."""
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler()
    std = np.where(std > 0, std, 1.0)  # as scikit-learn treats a constant feature
    sc.mean_ = mean.astype(np.float32).astype(np.float64)
    sc.var_ = std**2
    sc.scale_ = np.exp2(np.round(np.log2(std)))
    sc.n_features_in_ = len(mean)
    sc.n_samples_seen_ = n
    return sc


def _gather(client, frame, features: list[str]) -> Part:
    df = client.compute(frame).result().sort_values("ts", kind="stable")
    return Part(
        df[features].to_numpy(np.float32), df["y"].to_numpy(np.int64), df["ts"].to_numpy(),
        df["rev"].to_numpy(np.float64), df["hor"].to_numpy(np.float64),
        symbols=df["symbol"].astype(str).to_numpy(object), sigma_bps=df["sbp"].to_numpy(np.float64),
    )  # fmt: skip


def label_frame(path: Path, features: list[str], params: LabelParams, symbol: str | None):
    """(raw frame, labelled frame: symbol, ts, features float32, y with the drop codes)."""
    import dask.dataframe as dd

    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if not is_parquet(path):
        raise InputError(
            f"{path}: --engine dask reads Parquet (a file or a directory); "
            "export with `export -format parquet` or convert the JSON Lines first"
        )
    if path.is_dir():
        parquet_files(path)  # refuses a directory without *.parquet files, as the local path
    needed = list(dict.fromkeys([*LABEL_COLUMNS, *features]))
    try:
        raw = dd.read_parquet(str(path), columns=["symbol", "timestamp", *needed])
    except Exception as e:  # pyarrow/dask raise many types for a bad file
        raise InputError(
            f"{path}: not readable as Parquet with the columns {needed}: {e}"
        ) from None
    # Whole symbols per partition: lookahead windows never cross a partition border, and
    # a record's duplicates are in its partition. Every symbol is shuffled, also with
    # --symbol: the duplicates are counted over all records, as the local engine does.
    # Fewer symbols than partitions leave some empty, which every step below takes.
    nparts = max(1, min(raw.npartitions, 64))
    lab = raw.shuffle("symbol", npartitions=nparts).map_partitions(
        _label_partition, features, params, symbol, meta=_frame_meta(features)
    )
    return raw, lab


def _duplicate_examples(client, lab) -> list[str]:
    """The first duplicate records in time (symbol and timestamp), for the warning."""
    heads = lab[lab["y"] == DUPLICATE][["symbol", "ts"]].map_partitions(
        lambda d: d.nsmallest(hygiene.EXAMPLES, "ts")
    )
    df = client.compute(heads).result().sort_values(["ts", "symbol"], kind="stable")
    return [f"{s} {format_timestamp(int(t))}" for s, t in zip(df["symbol"], df["ts"], strict=True)][
        : hygiene.EXAMPLES
    ]


def _non_empty(client, frame):
    """The frame without its empty partitions (it keeps one if all are empty)."""
    sizes = client.compute(frame.map_partitions(len)).result().tolist()
    keep = [i for i, n in enumerate(sizes) if n] or [0]
    return frame.partitions[keep] if len(keep) < frame.npartitions else frame


def _scale_block(scaler, b: np.ndarray) -> np.ndarray:
    """The scaler on one block of rows; an empty block stays empty (scikit-learn
    refuses 0 samples)."""
    if len(b) == 0:
        return np.zeros((0, b.shape[1]), dtype=np.float32)
    return scaler.transform(b.astype(np.float32)).astype(np.float32)


def build(client, args) -> tuple[Dataset, Callable[..., FamilyResult]]:
    """Label, split and clean on the cluster; returns the client-side Dataset
    (validation, test, the tuning sample as `train`) and the family fitter."""
    feats, params = args.features, args.label
    raw, lab = label_frame(args.data, feats, params, args.symbol)
    rows: dict[str, int] = {"read": int(raw.shape[0].compute()), "bad": 0}
    lab = client.persist(lab)
    counts = count_codes(client, lab["y"], DUPLICATE)
    rows["duplicates"] = dups = int(counts.get(DUPLICATE, 0))
    chosen = int(sum(counts.values())) - dups  # the records of --symbol (all), duplicates out
    if args.symbol:
        rows["other_symbols"] = rows["read"] - dups - chosen
        if not chosen:
            raise InputError(f"--symbol {args.symbol}: no records for it")
    rows["censored"] = int(counts.get(CENSORED, 0))
    rows["dropped_nan"] = int(counts.get(BAD_PRICE, 0) + counts.get(BAD_FEATURE, 0))
    # Counted on the cluster; the local engine's timestamp checks and its examples of
    # NaN rows need the raw rows on one machine, so they are not run here.
    warns = []
    if dups:
        warns.append(hygiene.warning(
            "duplicates", dups,
            f"{dups} exact duplicate records ({dups / rows['read']:.1%}) dropped: same symbol, "
            "timestamp and fields",
            _duplicate_examples(client, lab),
        ))  # fmt: skip
    for code, what in ((BAD_PRICE, "NaN, ±Inf, zero or negative price, vwap or std_dev"),
                       (BAD_FEATURE, "NaN or ±Inf feature values")):  # fmt: skip
        if counts.get(code):
            kind = "non_finite_price" if code == BAD_PRICE else "non_finite"
            warns.append(
                hygiene.warning(kind, counts[code], f"{counts[code]} rows dropped: {what}")
            )
    n = int(counts.get(0, 0) + counts.get(1, 0))
    if n < 3 * MIN_ROWS_PER_SPLIT:
        raise InputError(f"only {n} labelled rows after censoring and cleaning; need more data")
    # The window trained on: every row of the chosen symbol(s), as the local path.
    kept = lab[lab["y"] != DUPLICATE]
    span = client.compute([kept["ts"].min(), kept["ts"].max()])
    first_ns, last_ns = (int(v) for v in client.gather(span))
    lab = lab[lab["y"] >= 0]
    ts_parts = [p for p in lab["ts"].values.to_delayed().ravel()]
    c1, c2 = (
        int(v) for v in kth(client, ts_parts, [min(n - 1, int(n * 0.6)), min(n - 1, int(n * 0.8))])
    )
    embargo_s = max(args.embargo_s, params.lookahead_s)
    e = round(embargo_s * NS)
    splits = {
        "train": lab[lab["ts"] < c1 - e],
        "validation": lab[(lab["ts"] >= c1) & (lab["ts"] < c2 - e)],
        "test": lab[lab["ts"] >= c2],
    }
    sizes = client.gather(client.compute([s.shape[0] for s in splits.values()]))
    rows["embargoed"] = n - int(sum(sizes))
    xparts = [p for p in splits["train"][feats].values.to_delayed().ravel()]
    mean, std, _, _, _ = moments(client, xparts)
    lo, hi = mean - OUTLIER_SIGMA * std, mean + OUTLIER_SIGMA * std
    inlier = {k: s[((s[feats] >= lo) & (s[feats] <= hi)).all(axis=1)] for k, s in splits.items()}
    kept = client.gather(client.compute([s.shape[0] for s in inlier.values()]))
    rows["dropped_outlier"] = int(sum(sizes) - sum(kept))
    for (name, s), k in zip(inlier.items(), kept, strict=True):
        rows[name] = int(k)
        ys = sorted(set(client.gather(client.compute([s["y"].min(), s["y"].max()])))) if k else []
        if k < MIN_ROWS_PER_SPLIT or len(ys) < 2:
            raise InputError(
                f"the {name} split has {k} rows and labels {sorted(ys)}: "
                "not enough data (or time span) to train and test; record longer"
            )
    # The fit takes empty partitions (_scale_block), but xgboost.dask is not given any:
    # an empty block is one more case for a library's every version to get right.
    train = _non_empty(client, client.persist(inlier["train"]))
    trX = [p for p in train[feats].values.to_delayed().ravel()]
    tmean, tstd, tn, tmin, tmax = moments(client, trX)
    tune = args.opts.tune_rows or DEFAULT_TUNE_ROWS
    k = max(0, rows["train"] - tune)
    cut = int(kth(client, [p for p in train["ts"].values.to_delayed().ravel()], [k])[0])
    sample = _gather(client, train[train["ts"] >= cut], feats)
    sample = Part(sample.X[-tune:], sample.y[-tune:], sample.ts_ns[-tune:])
    q = kth_columns(client, trX, tn)
    stats = {
        f: {
            "mean": float(tmean[j]), "std": float(tstd[j]), "min": float(tmin[j]),
            "max": float(tmax[j]), "q001": q[j][0], "q999": q[j][1],
        }
        for j, f in enumerate(feats)
    }  # fmt: skip
    ds = Dataset(
        features=feats,
        train=sample,
        validation=_gather(client, inlier["validation"], feats),
        test=_gather(client, inlier["test"], feats),
        rows=rows,
        first_ns=first_ns,
        last_ns=last_ns,
        embargo_s=embargo_s,
        stats=stats,
        warnings=warns,
    )
    log.info("rows (dask): %s", rows)
    scaler = exact_scaler_from_moments(tmean, tstd, tn)

    def fit_one(family: str, ds: Dataset, opts: FitOptions, workdir: Path) -> FamilyResult:
        return fit_xgb_dask(client, train, feats, scaler, ds, opts, workdir)

    return ds, fit_one


def fit_xgb_dask(client, train, feats, scaler, ds: Dataset, opts: FitOptions, workdir: Path):
    """Search on the tuning sample, refit on every training row with xgboost.dask,
    then the shared calibrate → export → gates of train.fit."""
    from sklearn.pipeline import Pipeline
    from xgboost import XGBClassifier
    from xgboost import dask as dxgb

    t0 = time.perf_counter()
    s = ds.train
    res = run_search(
        "xgb", s.X, s.y, s.ts_ns, opts.search, opts.n_splits, round(ds.embargo_s * NS), None,
        opts.seed,
    )  # fmt: skip
    log.info("xgb (dask): refit on %d training rows with %s", ds.rows["train"], res.best_params)
    X = (
        train[feats]
        .to_dask_array(lengths=True)
        .map_blocks(lambda b: _scale_block(scaler, b), dtype=np.float32)
    )
    y = train["y"].astype("int64").to_dask_array(lengths=True)
    common = {"tree_method": "hist", "eval_metric": "logloss", "random_state": opts.seed}
    model = dxgb.DaskXGBClassifier(n_jobs=1, **common, **res.best_params)
    model.client = client
    model.fit(X, y)
    # A plain XGBClassifier holding the distributed booster: what export and
    # calibration know. load_model restores the classes from the booster.
    clf = XGBClassifier(n_jobs=1, **common, **res.best_params)
    clf.load_model(bytearray(model.get_booster().save_raw("ubj")))
    pipe = Pipeline([("scaler", scaler), ("clf", clf)])
    return finish_family("xgb", pipe, res, ds, opts, workdir, t0)
