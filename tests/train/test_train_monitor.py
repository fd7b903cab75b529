"""`train monitor` and the per-symbol figures of `train fit`, on data with a known answer.

One model is trained once (session fixture) on four symbols with different
volatility, one of them (ADAUSDT) with its features→outcome relationship
collapsed throughout; fresh windows of the same process must pass, windows
where the relationship changes (marginals unchanged) must fail.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp

from tests.train.conftest import manifest, run_cli
from train.cli import main
from train.data.load import read_records
from train.monitor.bootstrap import Blocks, at_least_cell_spread, interval, jeffreys_sd
from train.monitor.evaluate import Scope
from train.monitor.figures import Figures, figures
from train.monitor.promise import choose_threshold, symbol_thresholds, wilson_upper
from train.monitor.verdict import Judgement, judge_approval_rate, judge_scope

SYMS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "ADAUSDT"]
COMMON = ["--symbols", *SYMS, "--volatility", "ETHUSDT=2", "SOLUSDT=3"]
FEATURES = ["tick_ratio", "depth_ratio", "price_dist"]
GAUGES = (
    "healthy", "degraded", "judged", "precision", "precision_lower", "precision_upper",
    "expected_precision", "test_precision", "approvals", "candidates", "approval_rate",
    "test_approval_rate", "last_run_timestamp_seconds", "empty_lookahead",
)  # fmt: skip


def sample(path: Path, seed: int, rows: int, *extra: str, collapse=("ADAUSDT",)) -> Path:
    argv = ["sample", "--out", str(path), "--rows", str(rows), "--seed", str(seed), *COMMON]
    argv += ["--collapse", *collapse, *extra]
    assert main(argv) == 0
    return path


@pytest.fixture(scope="session")
def mon_model(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("monitor")
    data = sample(d / "train.parquet", 1, 40000)
    out = d / "models"
    argv = ["fit", "--data", str(data), "--out", str(out), "--model", "hgb", "--cv-folds", "2",
            "--tune-rows", "8000", "--threshold", "0.5"]  # fmt: skip
    assert main(argv) == 0
    (model,) = out.iterdir()
    return model


def monitor(capsys, model: Path, data: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(["monitor", "--model", str(model), "--data", str(data), *extra], capsys)


def test_training_writes_per_symbol_figures_thresholds_and_warns(mon_model):
    m = manifest(mon_model)
    per = m["metrics"]["per_symbol"]
    assert set(per) == set(SYMS)
    for f in per.values():
        assert set(f) >= {"rows", "base_rate", "approvals", "approval_rate", "precision",
                          "expected_precision", "ece", "auc"}  # fmt: skip
    assert sum(f["rows"] for f in per.values()) == m["metrics"]["test"]["rows"]
    t = m["metrics"]["test"]
    assert t["approvals"] == round(t["approval_rate"] * t["rows"])
    assert 0 <= t["ece"] <= 1 and 0 < t["expected_precision"] < 1
    served = m["metrics"]["served"]
    assert served["overall"]["precision_se"] > 0
    for f in [served["overall"], *served["per_symbol"].values()]:
        if f["approvals"]:
            assert 0 < f["precision_n_eff"] <= f["approvals"] and f["precision_se"] > 0
    # A symbol gets its own threshold only on validation evidence, and always with a
    # warning in the report; every other symbol keeps the default.
    thr = m.get("symbol_thresholds") or {}
    report = (mon_model / "report.md").read_text()
    assert "## Per symbol (test split)" in report
    warned = set(re.findall(r"\* WARNING: ([A-Z]+): ", report))
    assert set(thr) <= warned, (warned, thr)
    assert all(m["default_threshold"] <= t < 1 for t in thr.values())
    assert warned == {w.split(":")[0] for w in m["metrics"]["warnings"]}


def test_relationship_change_with_unchanged_marginals_is_degraded(mon_model, tmp_path, capsys):
    ok = sample(tmp_path / "ok.parquet", 500, 40000)
    rc = sample(tmp_path / "rc.parquet", 501, 40000, "--regime-change", "0")
    a, b = read_records(ok, FEATURES), read_records(rc, FEATURES)
    for f in FEATURES:  # the inputs look the same: input drift cannot see this
        assert ks_2samp(a.columns[f], b.columns[f]).statistic < 0.05, f
    code, out, err = monitor(capsys, mon_model, rc, "--json", str(tmp_path / "m.json"))
    assert code == 3, out + err
    assert "verdict: DEGRADED" in out and ": realised precision" in out
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["degraded"] and doc["exit_code"] == 3
    s = doc["scopes"]["all"]
    assert s["realised"]["precision"] < s["test"]["precision"]
    for scope in doc["degraded"]:  # every symbol's relationship changed: any may be named
        assert doc["scopes"][scope]["judgement"]["difference_upper"] < 0


def test_unchanged_windows_pass_in_19_of_20_seeds(mon_model, tmp_path, capsys):
    codes = []
    for seed in range(3000, 3020):
        w = sample(tmp_path / f"w{seed}.parquet", seed, 20000)
        codes.append(monitor(capsys, mon_model, w, "--resamples", "500")[0])
        w.unlink()
    assert set(codes) <= {0, 3}
    assert codes.count(0) >= 19, codes


def test_a_symbol_that_collapses_is_named(mon_model, tmp_path, capsys):
    # A day of records: the test split's ETHUSDT promise rests on ~20 effective approvals, so
    # half a day's drop from ~0.80 to ~0.50 is only just significant after Bonferroni.
    w = sample(tmp_path / "eth.parquet", 600, 80000, collapse=("ADAUSDT", "ETHUSDT"))
    prom = tmp_path / "out.prom"
    code, out, err = monitor(capsys, mon_model, w, "--textfile", str(prom))
    assert code == 3, out + err
    assert "ETHUSDT: realised precision" in out.split("verdict: DEGRADED")[1]
    g = parse_textfile(prom.read_text())
    assert g[("sigmagate_outcome_degraded", "ETHUSDT")] == 1.0
    assert g[("sigmagate_outcome_degraded", "BTCUSDT")] == 0.0
    assert g[("sigmagate_outcome_healthy", None)] == 0.0


_SAMPLE = re.compile(r'^([a-z_]+)(?:\{symbol="([A-Za-z0-9_]+)"\})? (\S+)$')


def parse_textfile(text: str) -> dict[tuple[str, str | None], float]:
    """A strict reading of the text exposition format: HELP and TYPE before each
    metric's samples, gauges only, one known label, float values."""
    out: dict[tuple[str, str | None], float] = {}
    declared: dict[str, list[str]] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in declared, f"{name} declared twice"
            declared[name] = ["help"]
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind == "gauge" and declared[name] == ["help"]
            declared[name].append("type")
        else:
            m = _SAMPLE.match(line)
            assert m, f"bad sample line {line!r}"
            name, sym, val = m.groups()
            assert declared.get(name) == ["help", "type"], f"{name} sampled before HELP/TYPE"
            assert (name, sym) not in out
            out[(name, sym)] = float(val)  # NaN allowed (the format spells it NaN)
    assert {n.removeprefix("sigmagate_outcome_") for n in declared} == set(GAUGES)
    return out


def test_textfile_and_json_hold_every_named_gauge(mon_model, tmp_path, capsys):
    w = sample(tmp_path / "w.jsonl", 700, 12000)
    prom, js = tmp_path / "o.prom", tmp_path / "o.json"
    prom.write_text("stale")
    code, _, err = monitor(capsys, mon_model, w, "--textfile", str(prom), "--json", str(js))
    assert code in (0, 3), err
    g = parse_textfile(prom.read_text())
    assert not list(tmp_path.glob(".o.prom.*")), "temporary file left behind"
    doc = json.loads(js.read_text())
    for scope in ["all", *SYMS]:
        r = doc["scopes"][scope]["realised"]
        assert g[("sigmagate_outcome_candidates", scope)] == r["rows"]
        assert g[("sigmagate_outcome_approvals", scope)] == r["approvals"]
        p = g[("sigmagate_outcome_precision", scope)]
        assert (math.isnan(p) and r["precision"] is None) or p == pytest.approx(r["precision"])
        judged = doc["scopes"][scope]["judgement"]["judged"]
        assert g[("sigmagate_outcome_judged", scope)] == (1.0 if judged else 0.0)
    assert g[("sigmagate_outcome_healthy", None)] == (1.0 if code == 0 else 0.0)
    assert g[("sigmagate_outcome_last_run_timestamp_seconds", None)] > 1.7e9
    pauses = doc["data"]["counts"]["empty_lookahead"]
    assert g[("sigmagate_outcome_empty_lookahead", None)] == pauses
    assert doc["scopes"]["all"]["test"]["precision"] == pytest.approx(
        manifest(mon_model)["metrics"]["served"]["overall"]["precision"]
    )


def test_exit_2_on_bad_input_names_the_fault(mon_model, tmp_path, capsys):
    w = sample(tmp_path / "w.jsonl", 800, 3000)
    code, _, err = monitor(capsys, tmp_path / "nope", w)
    assert code == 2 and "nope: no such model directory" in err
    code, _, err = monitor(capsys, mon_model, tmp_path / "missing.jsonl")
    assert code == 2 and "missing.jsonl: no such file" in err
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    code, _, err = monitor(capsys, mon_model, bad)
    assert code == 2 and "bad.parquet: not readable as Parquet" in err
    code, _, err = monitor(capsys, mon_model, w, "--since", "2100-01-01T00:00:00Z")
    assert code == 2 and "no records at or after --since" in err
    code, _, err = monitor(capsys, mon_model, w, "--min-rows", "100000")
    assert code == 2 and "labelled candidate(s) in the window, need at least 100000" in err
    old = tmp_path / "old"
    shutil.copytree(mon_model, old)
    m = manifest(old)
    del m["metrics"]["served"]
    (old / "manifest.json").write_text(json.dumps(m))
    code, _, err = monitor(capsys, old, w)
    assert code == 2 and "metrics.served.overall" in err and "manifest.json" in err
    m = manifest(mon_model)
    m["label"].pop("lookahead_s")
    (old / "manifest.json").write_text(json.dumps(m))
    code, _, err = monitor(capsys, old, w)
    assert code == 2 and "'label.lookahead_s'" in err


def test_exact_duplicates_are_dropped_with_a_warning(mon_model, tmp_path, capsys, caplog):
    """A replayed export (every record twice) is judged as its records once, and says so:
    counted twice, a scope would reach --min-approvals on half the approvals it needs."""
    once = sample(tmp_path / "once.jsonl", 900, 6000)
    twice = tmp_path / "twice.jsonl"
    twice.write_text(once.read_text() * 2)
    docs = []
    for name, data in (("once", once), ("twice", twice)):
        caplog.clear()
        code, out, err = monitor(capsys, mon_model, data, "--json", str(tmp_path / f"{name}.json"))
        assert code in (0, 3), out + err
        docs.append(json.loads((tmp_path / f"{name}.json").read_text()))
    a, b = docs
    n = a["data"]["counts"]["read"]
    assert a["data"]["counts"]["duplicates"] == 0
    assert b["data"]["counts"]["read"] == 2 * n and b["data"]["counts"]["duplicates"] == n
    for k in ("in_window", "censored", "candidates"):
        assert b["data"]["counts"][k] == a["data"]["counts"][k], k
    assert b["scopes"] == a["scopes"]
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(f"{n} exact duplicate records" in m and "dropped" in m for m in warned), warned


def _with_nan(src: Path, dst: Path, masks: dict[str, np.ndarray]) -> Path:
    """A copy of a Parquet file with NaN in column c where masks[c]."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(src)
    for c, m in masks.items():
        v = t.column(c).to_numpy().astype(np.float64)
        v[m] = np.nan
        t = t.set_column(t.schema.get_field_index(c), c, pa.array(v, type=t.schema.field(c).type))
    pq.write_table(t, dst)
    return dst


def test_nan_prices_are_reported_and_a_thinned_window_is_not_judged(
    mon_model, tmp_path, capsys, caplog
):
    """Records dropped for a NaN price are named on stderr and counted on stdout; a scope
    with more than 1 % of them rests on a thinned price path (its labels miss the reversions
    seen only in the dropped records) and is not judged, as a too-short window is not."""
    src = sample(tmp_path / "w.parquet", 950, 16000)
    syms = read_records(src, FEATURES).symbols
    rng = np.random.default_rng(0)
    nan90 = _with_nan(src, tmp_path / "nan90.parquet", {"price": rng.uniform(size=len(syms)) < 0.9})
    prom, js = tmp_path / "o.prom", tmp_path / "o.json"
    code, out, err = monitor(capsys, mon_model, nan90, "--textfile", str(prom), "--json", str(js))
    assert code == 0, out + err
    doc = json.loads(js.read_text())
    bad = doc["data"]["counts"]["bad_price"]
    assert bad > 0.85 * len(syms)
    assert f"{bad} ({bad / len(syms):.1%}) dropped for a NaN/Inf or non-positive price" in out
    assert "verdict: HEALTHY (nothing could be judged)" in out
    assert "the labels rest on a thinned price path" in out.split("verdict:")[1]
    assert not any(s["judgement"]["judged"] for s in doc["scopes"].values())
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(f"{bad} of {len(syms)} records in the window" in m and "nan90.parquet: " in m
               and "price=nan" in m for m in warned), warned  # fmt: skip
    g = parse_textfile(prom.read_text())  # as for a window too short to judge: exit 0, 1
    assert g[("sigmagate_outcome_healthy", None)] == 1.0
    assert g[("sigmagate_outcome_judged", "all")] == 0.0  # what SigmagateOutcomeNotJudged reads

    # One symbol's feed broken (20 % NaN prices): it and `all` are not judged, the rest are;
    # a few NaN prices (under 1 %) or features elsewhere are reported but judged through.
    caplog.clear()
    u = rng.uniform(size=len(syms))
    masks = {"price": ((syms == "ETHUSDT") & (u < 0.2)) | ((syms == "BTCUSDT") & (u < 0.004)),
             "depth_ratio": (syms == "SOLUSDT") & (u < 0.01)}  # fmt: skip
    part = _with_nan(src, tmp_path / "eth.parquet", masks)
    code, out, err = monitor(capsys, mon_model, part, "--json", str(js))
    assert code == 0, out + err
    doc = json.loads(js.read_text())
    kinds = {w["kind"] for w in doc["data"]["warnings"]} - {"empty_lookahead"}  # feed pauses
    assert kinds == {"non_finite_price", "non_finite"}
    verdict = out.split("verdict: ")[1]
    assert verdict.startswith("HEALTHY where judged; not judged (thinned price path): all, ETHUSDT")
    for scope in ("BTCUSDT", "SOLUSDT"):
        assert doc["scopes"][scope]["judgement"]["judged"], doc["scopes"][scope]["judgement"]
    for scope in ("all", "ETHUSDT"):
        j = doc["scopes"][scope]["judgement"]
        assert not j["judged"] and "thinned price path" in j["reason"], j
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("NaN or ±Inf feature values" in m and "depth_ratio=nan" in m for m in warned)


def test_candidates_before_a_pause_in_the_feed_are_counted_and_named(
    mon_model, tmp_path, capsys, caplog
):
    """A recorder outage leaves the candidates before it with no price in their lookahead:
    labelled not reverted (as in training), judged, but counted and warned about."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = sample(tmp_path / "w.parquet", 960, 16000)
    from train.data.parquet import timestamps_ns

    t = pq.read_table(src)
    ts = timestamps_ns(t.column("timestamp"), str(src))
    btc = np.asarray(t.column("symbol").to_pylist()) == "BTCUSDT"
    start = int(np.quantile(ts[btc], 0.5))  # BTCUSDT's recorder off for 20 minutes
    off = btc & (ts > start) & (ts <= start + 20 * 60 * 10**9)
    assert off.sum() > 10
    out_path = tmp_path / "outage.parquet"
    pq.write_table(t.filter(pa.array(~off)), out_path)

    js = tmp_path / "o.json"
    code, out, err = monitor(capsys, mon_model, out_path, "--json", str(js))
    assert code in (0, 3), out + err
    counts = json.loads(js.read_text())["data"]["counts"]
    # Brute force: a candidate whose symbol's next record comes after its lookahead.
    kept = read_records(out_path, FEATURES)
    look = 60 * 10**9
    want = 0
    for sym in np.unique(kept.symbols):
        s_ts = np.sort(kept.ts_ns[kept.symbols == sym])
        nxt = np.searchsorted(s_ts, s_ts, side="right")
        has_next = nxt < len(s_ts)
        gap = np.where(has_next, s_ts[np.minimum(nxt, len(s_ts) - 1)] - s_ts, 0)
        uncensored = s_ts + look <= s_ts[-1]
        want += int((has_next & (gap > look) & uncensored).sum())
    assert counts["empty_lookahead"] == want >= 1
    before_outage = [e for e in json.loads(js.read_text())["data"]["warnings"]
                     if e["kind"] == "empty_lookahead"]  # fmt: skip
    assert before_outage and before_outage[0]["count"] == counts["empty_lookahead"]
    assert f", {counts['empty_lookahead']} with no record in their lookahead (a feed pause)" in out
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("no record of their symbol in their 60 s lookahead" in m and "outage.parquet: "
               in m and "min later" in m for m in warned), warned  # fmt: skip


def test_a_gate_that_stopped_approving_is_degraded(mon_model, tmp_path, capsys):
    """A broken price_dist feed (always 0) leaves the gate approving nothing: no precision can
    be judged, yet a trader must hear of it. Its approval rate, 0 where its test split
    approved about 8 %, is significantly below half of that: DEGRADED, exit 3, gauge 0."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = sample(tmp_path / "w.parquet", 960, 16000)
    t = pq.read_table(src)
    i = t.schema.get_field_index("price_dist")
    zero = pa.array(np.zeros(len(t)), type=t.schema.field(i).type)
    broken = tmp_path / "broken.parquet"
    pq.write_table(t.set_column(i, "price_dist", zero), broken)
    prom, js = tmp_path / "o.prom", tmp_path / "o.json"
    code, out, err = monitor(capsys, mon_model, broken, "--textfile", str(prom), "--json", str(js))
    assert code == 3, out + err
    doc = json.loads(js.read_text())
    j = doc["scopes"]["all"]["judgement"]
    test_rate = doc["scopes"]["all"]["test"]["approval_rate"]
    assert j["approvals"] == 0 and j["degraded"] and j["approval_upper"] < 0, j
    n = doc["data"]["counts"]["candidates"]
    assert (
        f"approval rate 0.0000 (0 of {n} candidates) vs {test_rate:.4f} on the test split is "
        "significantly below 0.5 x it" in j["reason"]
    ), j["reason"]
    assert "all" in doc["degraded"] and "verdict: DEGRADED — all candidates: approval rate" in out
    g = parse_textfile(prom.read_text())
    assert g[("sigmagate_outcome_healthy", None)] == 0.0
    assert g[("sigmagate_outcome_degraded", "all")] == 1.0
    assert g[("sigmagate_outcome_approval_rate", "all")] == 0.0
    assert g[("sigmagate_outcome_test_approval_rate", "all")] == pytest.approx(test_rate)

    # The intact window, approving about as often as the test split, is not held back by it.
    code, out, err = monitor(capsys, mon_model, src, "--json", str(js))
    assert "approves far fewer" not in out, out
    for name, s in json.loads(js.read_text())["scopes"].items():
        jj = s["judgement"]
        assert jj["approval_judged"] and jj["approval_upper"] > 0, (name, jj)


def test_block_bootstrap_widens_for_shared_windows():
    """Outcomes repeated inside one lookahead are one observation, not twenty."""
    rng = np.random.default_rng(0)
    cells = 600
    y1 = rng.integers(0, 2, cells)
    ts1 = np.arange(cells) * 60_000_000_000
    b = Blocks(0, int(ts1[-1]), 60.0, 600.0)
    one = interval(b.precision_samples(ts1, y1, np.ones(cells, bool), 1), 0.95)
    ts20 = np.repeat(ts1, 20) + np.tile(np.arange(20) * 1_000_000_000, cells)
    twenty = interval(
        b.precision_samples(ts20, np.repeat(y1, 20), np.ones(20 * cells, bool), 1), 0.95
    )
    w1, w20 = one[1] - one[0], twenty[1] - twenty[0]
    assert w20 == pytest.approx(w1, rel=0.25)  # a binomial interval would shrink by √20
    assert w1 > 3.0 * math.sqrt(0.25 / (20 * cells)) * 2  # wider than the naive one
    again = interval(b.precision_samples(ts1, y1, np.ones(cells, bool), 1), 0.95)
    assert again == one  # seeded


def test_a_window_within_one_block_has_no_interval_and_is_not_judged(mon_model, tmp_path, capsys):
    """One block covering the window leaves one resample, the window itself: a zero-width
    "interval" would make any difference significant, so there is none."""
    rng = np.random.default_rng(1)
    ts = np.arange(30) * 60_000_000_000  # 29 min of candidates, one block of 30 min
    y = rng.integers(0, 2, 30)
    short = Blocks(0, int(ts[-1]), 60.0, 1800.0)
    assert short.too_short and "not more than one bootstrap block" in short.too_short
    assert np.isnan(short.precision_samples(ts, y, np.ones(30, bool), 1)).all()
    longer = Blocks(0, int(ts[-1]), 60.0, 600.0)
    assert longer.too_short is None
    lo, hi = interval(longer.precision_samples(ts, y, np.ones(30, bool), 1), 0.95)
    assert lo is not None and hi is not None and lo < hi

    # The whole CLI on a collapsed relationship, which a longer window calls DEGRADED.
    rc = sample(tmp_path / "rc.parquet", 501, 40000, "--regime-change", "0")
    last = int(read_records(rc, FEATURES).ts_ns.max())
    since = str((last - 25 * 60 * 10**9) / 1e9)
    code, out, err = monitor(capsys, mon_model, rc, "--since", since, "--min-approvals", "5")
    assert code == 0, out + err
    assert "verdict: HEALTHY (nothing could be judged)" in out
    assert "not more than one bootstrap block" in out and "[-, -]" in out
    code, out, err = monitor(capsys, mon_model, rc, "--since", since, "--block-seconds", "120")
    assert "not more than one bootstrap block" not in out


def test_choose_threshold_is_the_lowest_that_reaches_the_target():
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    assert choose_threshold(y, p, 0.75, 2) == 0.5  # 4/5 at 0.5; 3/4 at 0.6
    assert choose_threshold(y, p, 0.9, 2) == 0.7
    assert choose_threshold(y, p, 0.9, 4) is None


def test_only_a_symbol_significantly_below_gets_a_threshold():
    """Two symbols as good as the rest keep the default; one far below is raised or blocked."""
    rng = np.random.default_rng(5)
    n = 6000  # per symbol, one record every 3 s
    ts = np.tile(np.arange(n) * 3_000_000_000, 3)
    syms = np.repeat(np.array(["AAA", "BBB", "CCC"], dtype=object), n)
    p = rng.uniform(0, 1, 3 * n)
    # AAA, BBB: P(y) = p; CCC: P(y) = p / 2 (far worse at every threshold).
    y = (rng.uniform(0, 1, 3 * n) < np.where(syms == "CCC", p / 2, p)).astype(np.int64)
    thr, warnings = symbol_thresholds(syms, ts, y, p, 0.65, 60.0)
    assert set(thr) == {"CCC"} and thr["CCC"] >= 0.65, (thr, warnings)
    assert len(warnings) == 1 and warnings[0].startswith("CCC: validation precision")
    # Noise alone never moves a healthy symbol: all three drawn alike.
    y2 = (rng.uniform(0, 1, 3 * n) < p).astype(np.int64)
    assert symbol_thresholds(syms, ts, y2, p, 0.65, 60.0) == ({}, [])


def test_wilson_upper_bound():
    assert wilson_upper(50, 100, 0.975) == pytest.approx(0.596, abs=1e-3)  # 0.5 ± 1.96·√(.25/100)
    assert wilson_upper(0, 10, 0.95) > 0 and wilson_upper(10, 10, 0.95) == pytest.approx(1.0)


def _window_scope(precision: float, expected: float, approvals: int, seed: int = 0) -> Scope:
    """A live window whose precision is known to about ±0.01 (bootstrap draws around it)."""
    samples = np.random.default_rng(seed).normal(precision, 0.01, 2000)
    f = Figures(100 * approvals, 0.3, approvals, 0.01, precision, expected, 0.05, 0.8, 0.5)
    return Scope("SOLUSDT", f, 0.65, precision - 0.02, precision + 0.02, samples)


def test_a_perfect_test_split_is_no_certainty():
    """32 of 32 test approvals right (13 effective) promise a high precision, not exactly 1:
    a large healthy window realising 0.86 must not alarm, one realising 0.55 must."""
    promise = {"precision": 1.0, "approvals": 32, "expected_precision": 0.67,
               "precision_n_eff": 13.0, "precision_se": jeffreys_sd(1.0, 13.0)}  # fmt: skip
    assert promise["precision_se"] > 0.03
    ok = judge_scope(_window_scope(0.86, 0.68, 2345), promise, 0.95, 30, 1, judged=4)
    assert ok.judged and not ok.degraded, ok.reason
    bad = judge_scope(_window_scope(0.55, 0.68, 2345), promise, 0.95, 30, 1, judged=4)
    assert bad.degraded and "significantly below the test split" in bad.reason, bad.reason


def test_the_probability_bar_carries_the_test_splits_gap_and_its_uncertainty():
    """Mean p is the bar, shifted by the gap between precision and mean p the test split
    already had: a model always 0.10 short of its p is no news at 0.10 short, and a test
    split 0.25 above its p on few approvals does not make 0.25 above a firm promise."""
    short = {"precision": 0.60, "approvals": 200, "expected_precision": 0.70,
             "precision_n_eff": 150.0, "precision_se": 0.04}  # fmt: skip
    assert not judge_scope(_window_scope(0.62, 0.72, 3000), short, 0.95, 30, 1).degraded
    j = judge_scope(_window_scope(0.45, 0.72, 3000), short, 0.95, 30, 1)
    assert j.degraded and "probabilities no longer hold" in j.reason, j.reason
    lucky = {"precision": 0.95, "approvals": 40, "expected_precision": 0.70,
             "precision_n_eff": 12.0, "precision_se": jeffreys_sd(0.95, 12.0)}  # fmt: skip
    j = judge_scope(_window_scope(0.80, 0.70, 3000), lucky, 0.95, 30, 1)
    assert j.calibration_lower is not None and not j.degraded, j.reason


def test_no_approvals_are_significant_only_on_enough_candidates():
    """0 approvals in a window are evidence in proportion to the approvals the test rate
    expects there, counted in clusters (a test split with 147 approvals in 53 one-lookahead
    cells, the demo model's 0.9 %): 18 expected are not enough, 45 are."""
    promise = {"approval_rate": 147 / 16246, "rows": 16246, "approvals": 147,
               "precision_n_eff": 53.0}  # fmt: skip
    out = {}
    for n in (2000, 5000):
        f = Figures(n, 0.2, 0, 0.0, None, None, None, None, None)
        s = Scope("all", f, 0.65, None, None, np.full(500, np.nan), np.zeros(500), 0)
        j = Judgement("all", False, False, False, 0, None, None, None, None, None, "not judged")
        judge_approval_rate(j, s, promise, 0.95, 1, tested=4)
        out[n] = j
    assert out[2000].approval_judged and not out[2000].degraded, out[2000].reason
    assert out[5000].degraded and "approval rate 0.0000 (0 of 5000" in out[5000].reason


def test_a_burst_of_approvals_counts_as_about_one_observation():
    """31 approvals within three lookaheads, every one a failed idea, in a healthy six hours:
    the block bootstrap sees that one outcome in every resample that draws it, a zero-width
    interval that would page DEGRADED on a single trade idea; the monitor holds the precision
    to the spread of three observations instead, which is no evidence either way."""
    ts = np.arange(0, 6 * 3600, 4) * 10**9
    y = np.zeros(len(ts), np.int64)
    p = np.full(len(ts), 0.05)
    p[(ts >= 3 * 3600 * 10**9) & (ts < 3 * 3600 * 10**9 + 124 * 10**9)] = 0.7
    ap = p >= 0.5
    b = Blocks(int(ts[0]), int(ts[-1]), 60.0, 1800.0)
    raw = b.precision_samples(ts, y, ap, 1)
    assert np.nanstd(raw) == 0
    cells = len(np.unique(ts[ap] // b.cell_ns))
    assert ap.sum() == 31 and cells == 3
    promised = {"precision": 0.569, "approvals": 211, "precision_n_eff": 150.0,
                "precision_se": 0.04, "expected_precision": 0.563}  # fmt: skip

    def judged(samples: np.ndarray) -> Judgement:
        scope = Scope("BTCUSDT", figures(y, p, ap), 0.5, *interval(samples, 0.95), samples)
        return judge_scope(scope, promised, 0.95, 30, 0, judged=5)

    assert judged(raw).degraded  # what the bootstrap alone concludes
    widened = at_least_cell_spread(raw, 0.0, cells, 2)
    assert not judged(widened).degraded and interval(widened, 0.95)[1] > 0.3
    # Approvals spread over the window keep their bootstrap: it already spreads more.
    spread = np.zeros(len(ts), bool)
    spread[::20] = True
    ys = np.random.default_rng(3).integers(0, 2, len(ts))
    samples = b.precision_samples(ts, ys, spread, 1)
    n_cells = len(np.unique(ts[spread] // b.cell_ns))
    assert at_least_cell_spread(samples, float(ys[spread].mean()), n_cells, 2) is samples
