"""The model families `train fit --model` offers, one entry each.

An entry says how to build the classifier, which grid the search explores,
what to register before skl2onnx converts it, whether a sigmoid calibration
folds into its trees (train/onnx/fold.py) and which libraries the manifest records
for it. Adding a family is adding an entry. The only other places that name
one are defaults and the Dask engine's limit: DEFAULT below is `fit`'s default
`--model`, gbm `backtest`'s (train/backtest/), and xgb the only family
`--engine dask` trains (train/cli.py, train/distributed/engine.py).

Importing this module imports no ML library (`train --help` must answer at
once): every library is imported inside the functions that use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Recorded in every manifest: what the graph was built and checked with.
BASE_LIBRARIES = ("scikit-learn", "onnx", "onnxruntime", "skl2onnx", "numpy",
                  "onnxconverter-common", "scipy")  # fmt: skip


@dataclass(frozen=True)
class Family:
    name: str
    # The classifier for one grid point; imports its library when called.
    build: Callable[[dict[str, Any], int], Any]
    # The classifier's class, for isinstance checks (imports its library).
    estimator_class: Callable[[], type]
    grid: dict[str, list[Any]]
    # Run before skl2onnx converts this family: register or patch a converter.
    prepare_export: Callable[[], None] = lambda: None
    # True when the classifier feeds its calibrator its raw boosted score
    # (`decision_function`), so a sigmoid calibration folds into the leaves.
    sigmoid_folds: bool = False
    libraries: tuple[str, ...] = field(default=())


def _gbm(params: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(random_state=seed, **params)


def _hgb(params: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed, early_stopping=False, **params)


def _rf(params: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    # n_jobs=1: the machine is shared, and the search already loops over fits.
    return RandomForestClassifier(random_state=seed, n_jobs=1, **params)


def _xgb(params: dict[str, Any], seed: int) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(
        random_state=seed, n_jobs=1, tree_method="hist", eval_metric="logloss", **params
    )


def _lgbm(params: dict[str, Any], seed: int) -> Any:
    from lightgbm import LGBMClassifier

    # verbose=-1: LightGBM prints its training chatter to stdout, which `train fit`
    # reserves for the model directory's path.
    return LGBMClassifier(random_state=seed, n_jobs=1, verbose=-1, **params)


def _mlp(params: dict[str, Any], seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        random_state=seed, max_iter=200, early_stopping=True, n_iter_no_change=10, **params
    )


def _sklearn_class(name: str) -> Callable[[], type]:
    def load() -> type:
        import sklearn.ensemble
        import sklearn.neural_network

        for mod in (sklearn.ensemble, sklearn.neural_network):
            if hasattr(mod, name):
                return getattr(mod, name)
        raise AttributeError(name)

    return load


def _xgb_class() -> type:
    from xgboost import XGBClassifier

    return XGBClassifier


def _lgbm_class() -> type:
    from lightgbm import LGBMClassifier

    return LGBMClassifier


def _register_onnxmltools(cls: type, alias: str, converter: Callable[..., Any]) -> None:
    """Teach skl2onnx to convert `cls` (it may sit inside a pipeline or a
    calibrator) with an onnxmltools converter."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    update_registered_converter(
        cls,
        alias,
        calculate_linear_classifier_output_shapes,
        converter,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )


def _register_xgboost() -> None:
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost

    _register_onnxmltools(_xgb_class(), "XGBoostXGBClassifier", convert_xgboost)


def floor_to_float32(t: float) -> float:
    """The largest float32 <= t. For every float32 x, x <= t exactly when x <= this."""
    import numpy as np

    with np.errstate(over="ignore"):  # beyond float32's range: +inf, floored to its max below
        f = np.float32(t)
    if float(f) > t:
        f = np.nextafter(f, np.float32(-np.inf))
    return float(f)


def lightgbm_float32_thresholds(booster: Any) -> Any:
    """`booster` with each numerical split's threshold floored to float32.

    LightGBM splits at double thresholds, often midpoints of two float32 values; onnx
    stores float32 thresholds, rounded to nearest, and a midpoint that rounds up sends
    the upper value down the wrong branch (a 10⁶-row fit missed the parity gate by
    0.0126). Flooring keeps every float32 input's branch, so the graph stays exact."""
    import lightgbm as lgb

    lines = booster.model_to_string().splitlines()
    at = -1  # the current tree's threshold line; its decision_type line follows it
    for i, line in enumerate(lines):
        if line.startswith("threshold="):
            at = i
        elif line.startswith("decision_type=") and at >= 0:
            ts = lines[at].removeprefix("threshold=").split()
            kinds = line.removeprefix("decision_type=").split()
            # decision_type bit 0 marks a categorical split: its threshold is an index.
            lines[at] = "threshold=" + " ".join(
                t if int(d) & 1 else repr(floor_to_float32(float(t)))
                for t, d in zip(ts, kinds, strict=True)
            )
            at = -1
    # tree_sizes gives each tree's length in bytes, which the new thresholds change;
    # without it LightGBM parses the trees one after the other.
    lines = [ln for ln in lines if not ln.startswith("tree_sizes=")]
    return lgb.Booster(model_str="\n".join(lines) + "\n")


def _register_lightgbm() -> None:
    import copy

    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

    def convert(scope: Any, operator: Any, container: Any) -> None:
        raw = operator.raw_operator
        floored = copy.copy(raw)
        floored._Booster = lightgbm_float32_thresholds(raw.booster_)
        operator.raw_operator = floored
        try:
            convert_lightgbm(scope, operator, container)
        finally:
            operator.raw_operator = raw

    _register_onnxmltools(_lgbm_class(), "LightGbmLGBMClassifier", convert)


def _patch_hgb_add_node() -> None:
    """Two fixes to how skl2onnx 1.20 stores a HistGradientBoosting tree's nodes.

    * It passes the `missing` flag as a Python bool, which onnx rejects in an
      ints attribute ("Expected an int, got a boolean"): coerce it to 0/1.
    * It rounds each double split threshold to the nearest float32, and a
      threshold between two adjacent float32 values that rounds up sends the
      upper one down the wrong branch: floor it instead (floor_to_float32), as
      skl2onnx already does for scikit-learn's other trees. Idempotent on those.
    """
    import skl2onnx.common.tree_ensemble as te

    orig = te.add_node
    if getattr(orig, "_sigmagate_patched", False):
        return

    def add_node(*args: Any, nodes_missing_value_tracks_true: Any = 0, **kw: Any) -> Any:
        mode, value = args[6], args[7]
        if mode == "BRANCH_LEQ":
            args = (*args[:7], floor_to_float32(float(value)), *args[8:])
        return orig(
            *args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kw
        )

    add_node._sigmagate_patched = True  # type: ignore[attr-defined]
    te.add_node = add_node


_ENTRIES = (
    Family(
        "gbm",
        _gbm,
        _sklearn_class("GradientBoostingClassifier"),
        # The reference grid the project started from (81 points), searched in full by
        # `--search grid`.
        {
            "n_estimators": [50, 100, 200],
            "max_depth": [3, 5, 7],
            "learning_rate": [0.01, 0.1, 0.2],
            "subsample": [0.8, 0.9, 1.0],
        },
        sigmoid_folds=True,
    ),
    Family(
        "hgb",
        _hgb,
        _sklearn_class("HistGradientBoostingClassifier"),
        {
            "max_iter": [100, 200, 400],
            "learning_rate": [0.03, 0.1, 0.2],
            "max_leaf_nodes": [15, 31, 63],
            "l2_regularization": [0.0, 1.0],
        },
        prepare_export=_patch_hgb_add_node,
        sigmoid_folds=True,
    ),
    Family(
        "rf",
        _rf,
        _sklearn_class("RandomForestClassifier"),
        {
            "n_estimators": [100, 200],
            "max_depth": [6, 10, None],
            "min_samples_leaf": [5, 20, 50],
        },
    ),
    Family(
        "xgb",
        _xgb,
        _xgb_class,
        {
            "n_estimators": [100, 200, 400],
            "max_depth": [3, 5, 7],
            "learning_rate": [0.03, 0.1, 0.2],
            "subsample": [0.8, 1.0],
        },
        prepare_export=_register_xgboost,
        libraries=("xgboost-cpu", "onnxmltools"),
    ),
    Family(
        "lgbm",
        _lgbm,
        _lgbm_class,
        {
            "n_estimators": [100, 200, 400],
            "num_leaves": [15, 31, 63],
            "learning_rate": [0.03, 0.1, 0.2],
            "min_child_samples": [20, 100],
        },
        prepare_export=_register_lightgbm,
        sigmoid_folds=True,
        libraries=("lightgbm", "onnxmltools"),
    ),
    Family(
        "mlp",
        _mlp,
        _sklearn_class("MLPClassifier"),
        {
            "hidden_layer_sizes": [(32,), (32, 16), (64, 32)],
            "alpha": [1e-4, 1e-3, 1e-2],
            "learning_rate_init": [1e-3, 3e-3],
        },
    ),
)
FAMILIES: dict[str, Family] = {f.name: f for f in _ENTRIES}
# `train fit`'s default family. Measured (bench/families.py, docs/TRAINING.md "Model
# families"): hgb reaches gbm's AUC and calibration several times faster, and unlike
# lgbm its graphs are covered by the Go replica's tests.
NAMES = tuple(FAMILIES)
DEFAULT = "hgb"


def get(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; choose from {', '.join(NAMES)}") from None


def sigmoid_folding_classes() -> tuple[type, ...]:
    """Classifier classes whose sigmoid calibration folds into the trees (train/onnx/fold.py)."""
    return tuple(f.estimator_class() for f in _ENTRIES if f.sigmoid_folds)


def libraries(name: str) -> tuple[str, ...]:
    """Distributions whose versions the manifest records for a model of this family."""
    return (*BASE_LIBRARIES, *get(name).libraries)
