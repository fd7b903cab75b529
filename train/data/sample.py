"""`train sample`: synthetic bot records in the exporter's format.

Per symbol, ticks arrive at irregular times (exponential gaps, some duplicate
timestamps, rare long pauses). The price is VWAP + d·sigma, where the deviation d
(in sigma units) is a mean-reverting process with random shocks.

* `--signal planted`: order flow drives the price. The flow imbalance
  f = 0.6·tick_ratio + 0.4·depth_ratio pushes d in its own direction and speeds
  up reversion when it opposes the deviation, so the odds that a stretched price
  snaps back within the lookahead depend on tick and depth imbalance.
* `--signal none`: the price path ignores the flow, and the `price_dist` column
  is an independent series with the same shape, so no feature tells anything
  about the future path: a correct pipeline must find AUC ≈ 0.5 (leakage check).
  In this mode `price_dist` is deliberately *not* (price - vwap)/std_dev, and the
  path is noisier so that reversals (positives) are common and the AUC estimate
  of the check is tight.

Scenarios with a known answer, for the outcome monitor (`train monitor`):

* `volatility`: a per-symbol multiplier on std_dev (the bot's sigma). The
  price path is simulated in sigma units, so the features→outcome relationship
  is the same at every volatility; the prices simply move more.
* `regime_change` / `collapse`: from a fraction of a symbol's records on, the
  recorded tick_ratio and depth_ratio come from an independent copy of the
  order-flow process (same law, drawn from a separate random stream) while the
  price keeps following the real, now unrecorded, flow. Every feature's
  marginal distribution is unchanged and the price path is the very one the
  same seed gives without the change; only the link between the recorded
  features and the outcome is gone.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np

START_NS = 1_795_132_800 * 1_000_000_000  # 2026-11-20T00:00:00Z
BASE_PRICE = {"BTCUSDT": 60000.0, "ETHUSDT": 3000.0, "SOLUSDT": 150.0, "XRPUSDT": 0.6}
MEAN_GAP_S = 3.0  # average seconds between a symbol's records
FLOW_TAU_S = 60.0  # memory of the order-flow imbalance
VOL_TAU_S = 900.0  # memory of the volatility regime


def _symbol_path(
    n: int,
    base: float,
    planted: bool,
    rng: random.Random,
    vol: float = 1.0,
    decouple_from: int | None = None,
    decoy: random.Random | None = None,
) -> dict[str, list]:
    """Simulate one symbol's n records; pure-Python floats keep the loop fast.

    From record `decouple_from` on, the recorded flow is the decoy's (see the
    module docstring); the decoy's draws never touch `rng`, so the path is unchanged.
    """
    g = rng.gauss
    t_ns = START_NS + rng.randrange(0, 10**9)
    z1 = z2 = z3 = d = dn = v = 0.0
    y1 = y2 = 0.0  # the decoy flow
    vwap = base
    out: dict[str, list] = {k: [] for k in ("ts", "tick", "depth", "dist", "price", "vwap", "std")}
    # Without a signal, a noisier path gives more reversals, hence more positives
    # and a tighter AUC estimate for the leakage check.
    noise = 0.06 if planted else 0.2
    for i in range(n):
        u = rng.random()
        if u < 0.03:
            dt = 0.0  # a duplicate timestamp
        elif u < 0.031:
            dt = rng.uniform(300.0, 1800.0)  # a pause in the feed
        else:
            dt = rng.expovariate(1.0 / MEAN_GAP_S)
        t_ns += int(dt * 1000) * 1_000_000  # millisecond clock, as exchanges send
        dt = max(dt, 1e-3)
        phi = math.exp(-dt / FLOW_TAU_S)
        s = math.sqrt(1.0 - phi * phi)
        z1 = phi * z1 + s * g(0.0, 1.0)
        z2 = phi * z2 + s * g(0.0, 1.0)
        tick = math.tanh(1.2 * z1)
        depth = math.tanh(0.9 * z2 + 0.4 * z1)
        flow = 0.6 * tick + 0.4 * depth
        kappa = 0.02
        drift = 0.0
        if planted:
            opposing = -math.copysign(1.0, d) * flow if d else 0.0
            kappa *= math.exp(3.0 * opposing)
            drift = 0.05 * flow
        d += (-kappa * d + drift) * dt + noise * math.sqrt(dt) * g(0.0, 1.0)
        if rng.random() < 0.01:
            d += g(0.0, 2.5)  # a shock stretches the price away from VWAP
        d = max(min(d, 6.0), -6.0)
        pv = math.exp(-dt / VOL_TAU_S)
        v = pv * v + math.sqrt(1 - pv * pv) * g(0.0, 0.3)
        sigma = vol * base * 0.001 * math.exp(v)
        vwap *= 1.0 + 2e-5 * math.sqrt(dt) * g(0.0, 1.0)
        price = vwap + d * sigma
        # Independent deviation-like series for --signal none.
        z3 = phi * z3 + s * g(0.0, 1.0)
        dn = 1.1 * z3 + (g(0.0, 1.5) if rng.random() < 0.03 else 0.0)
        if decoy is not None:
            y1 = phi * y1 + s * decoy.gauss(0.0, 1.0)
            y2 = phi * y2 + s * decoy.gauss(0.0, 1.0)
            if decouple_from is not None and i >= decouple_from:
                tick = math.tanh(1.2 * y1)
                depth = math.tanh(0.9 * y2 + 0.4 * y1)
        out["ts"].append(t_ns)
        out["tick"].append(tick)
        out["depth"].append(depth)
        out["dist"].append(d if planted else dn)
        out["price"].append(price)
        out["vwap"].append(vwap)
        out["std"].append(sigma)
    return out


def generate(
    rows: int,
    symbols: list[str],
    seed: int,
    signal: str,
    volatility: dict[str, float] | None = None,
    regime_change: float | None = None,
    collapse: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Columns of `rows` records over `symbols`, in timestamp order.

    volatility: symbol → std_dev multiplier (default 1). regime_change: from
    this fraction of every symbol's records on, the recorded flow is decoupled
    from the price; collapse: symbol → the fraction from which its own is.
    """
    if signal not in ("planted", "none"):
        raise ValueError(f"signal must be planted or none, got {signal!r}")
    volatility = volatility or {}
    collapse = collapse or {}
    for name, frac in [("regime_change", regime_change), *collapse.items()]:
        if frac is not None and not 0.0 <= frac <= 1.0:
            raise ValueError(f"{name}: fraction {frac} is outside [0, 1]")
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    per = [
        rows // len(symbols) + (1 if i < rows % len(symbols) else 0) for i in range(len(symbols))
    ]
    parts = []
    for sym, n in zip(symbols, per, strict=True):
        base = BASE_PRICE.get(sym, 100.0)
        fracs = [f for f in (regime_change, collapse.get(sym)) if f is not None]
        decouple = math.floor(min(fracs) * n) if fracs else None
        # The decoy stream is seeded apart from the path's so the path stays the same.
        decoy = random.Random(f"{seed}:{sym}:decoy") if decouple is not None else None
        p = _symbol_path(
            n, base, signal == "planted", rng, volatility.get(sym, 1.0), decouple, decoy
        )
        cols = {k: np.asarray(v) for k, v in p.items()}
        cols["symbol"] = np.full(n, sym, dtype=object)
        parts.append(cols)
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(cols["ts"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    n = len(order)
    depth = cols["depth"]
    total = nrng.lognormal(3.0, 0.5, n)
    cols["bid_vol"] = total * (1 + depth) / 2
    cols["ask_vol"] = total * (1 - depth) / 2
    cols["bid_ask_spread"] = cols["std"] * nrng.uniform(0.02, 0.2, n)
    cols["rolling_volatility"] = cols["std"] / cols["price"]
    cols["volume_spike"] = nrng.lognormal(0.0, 0.4, n)
    return cols


def _rfc3339(ts_ns: np.ndarray) -> np.ndarray:
    return np.char.add(
        np.datetime_as_string(ts_ns.astype("datetime64[ns]").astype("datetime64[ms]"), unit="ms"),
        "Z",
    )


def write(cols: dict[str, np.ndarray], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    names = [
        ("tick_ratio", "tick"),
        ("depth_ratio", "depth"),
        ("price_dist", "dist"),
        ("price", "price"),
        ("vwap", "vwap"),
        ("std_dev", "std"),
        ("bid_vol", "bid_vol"),
        ("ask_vol", "ask_vol"),
        ("rolling_volatility", "rolling_volatility"),
        ("bid_ask_spread", "bid_ask_spread"),
        ("volume_spike", "volume_spike"),
    ]
    stamps = _rfc3339(cols["ts"])
    if out.suffix in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = {"symbol": cols["symbol"].tolist(), "timestamp": stamps.tolist()}
        table.update({name: cols[key] for name, key in names})
        table["simulated"] = [True] * len(stamps)  # made-up data marks itself (data/provenance.py)
        pq.write_table(pa.table(table), out)
        return
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        lists = [cols[key].tolist() for _, key in names]
        syms = cols["symbol"].tolist()
        for i, stamp in enumerate(stamps.tolist()):
            rec = {"symbol": syms[i], "timestamp": stamp}
            for (name, _), col in zip(names, lists, strict=True):
                rec[name] = round(col[i], 10)
            rec["simulated"] = True  # made-up data marks itself (data/provenance.py)
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    tmp.replace(out)  # readers never see a half-written file
