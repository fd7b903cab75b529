"""The benchmark report: targets and ratios follow the measurements, and a
run with parts missing still renders, saying what was not measured."""

from __future__ import annotations

import sys
from pathlib import Path

from bench import families, proc, report, report_compare, report_pipe, report_training, summary


def result(target: str, conc: int, per_s: float, p50: float, failures: int = 0) -> dict:
    lat = {"p50": p50, "p90": p50 * 2, "p99": p50 * 3, "p999": p50 * 4, "max": p50 * 5}
    return {
        "target": target,
        "concurrency": conc,
        "calls": 1000,
        "failures": failures,
        "fallbacks": 0,
        "seconds": 1.0,
        "per_second": per_s,
        "latency_us": {**lat, "mean": p50},
    }


def test_targets_pass_and_fail_on_the_measured_figures():
    fast = [
        result("echo", 1, 100_000, 10.0),
        result("sigmagate", 1, 50_000, 19.0),
        result("sigmagate", 64, 250_000, 200.0),
        result("reference", 1, 5.0, 200_000.0),
    ]
    assert [c["pass"] for c in summary.targets(fast)] == [True, True, True]

    slow = [
        result("echo", 1, 100_000, 10.0),
        result("sigmagate", 1, 20_000, 21.0),
        result("sigmagate", 64, 250_000, 200.0, failures=1),
        result("reference", 1, 300.0, 3000.0),
    ]
    assert [c["pass"] for c in summary.targets(slow)] == [False, False, False]


def test_batching_targets_take_the_median_round_of_each_build():
    def rounds(build: str, conc: int, *rates: float) -> list[dict]:
        return [{"build": build, "concurrency": conc, "per_second": r} for r in rates]

    cmp = {
        "rounds": rounds("current", 1, 40_000, 50_000, 45_000)
        + rounds("current", 8, 60_000, 30_000, 55_000)  # median 55k: one slow round does not decide
        + rounds("current", 64, 150_000, 160_000, 140_000)
        + rounds("baseline", 64, 120_000, 170_000, 110_000)
        + rounds("onnxruntime", 64, 290_000, 300_000, 280_000)
    }
    checks = {c["target"].split(" (")[0]: c for c in summary.compare_targets(cmp)}
    assert checks["8 goroutines beat 1"]["pass"]
    assert "55,000 /s vs 45,000 /s" in checks["8 goroutines beat 1"]["measured"]
    assert checks["64 goroutines: at least the baseline commit"]["pass"]
    assert not checks["64 goroutines: at least onnxruntime in process, per row"]["pass"]
    assert (
        "150,000 /s vs 290,000 /s"
        in checks["64 goroutines: at least onnxruntime in process, per row"]["measured"]
    )
    assert summary.compare_targets(None) == []


def test_comparison_sets_the_sidecars_own_ceiling_beside_onnxruntime():
    def ort_round(rate: float) -> dict:
        return {"build": "onnxruntime", "concurrency": 64, "per_second": rate, "failures": 0,
                "latency_us": {"p50": 6.0}}  # fmt: skip

    cmp = {"rounds": [ort_round(r) for r in (210_000, 250_000, 230_000)]}
    pipe = {
        "throughput": [
            {"records_per_request": 1, "records_per_s": 170_000, "sidecar_cpu_share": 0.98},
            {"records_per_request": 256, "records_per_s": 297_000, "sidecar_cpu_share": 0.99},
            {"records_per_request": 16, "records_per_s": 270_000, "sidecar_cpu_share": 1.0},
        ]
    }
    text = "\n".join(report_compare.section(cmp, pipe))
    assert "at most 297,000 records/s (256 records per request, 99% of a core)" in text
    assert "against 170,000 with 1 record per request" in text
    assert "reached 230,000 decisions/s at 64 goroutines" in text
    # Without the pipe benchmark (or the onnxruntime rounds) the paragraph is left out.
    assert "How far batching can go" not in "\n".join(report_compare.section(cmp))
    assert "How far batching can go" not in "\n".join(report_compare.section({"rounds": []}, pipe))


def test_comparison_bounds_each_design_by_the_cpu_a_decision_costs():
    def rnd(build: str, rate: float, cpu: float | None, server: float | None) -> dict:
        r = {"build": build, "concurrency": 64, "per_second": rate, "failures": 0,
             "latency_us": {"p50": 400.0}, "mean_batch": 28.0}  # fmt: skip
        if cpu is not None:
            r["cpu_us_per_call"] = cpu
        if server is not None:
            r["server_cpu_us_per_call"] = server
        return r

    cmp = {
        "rounds": [
            rnd("current", 130_000, c, s) for c, s in ((15.0, 7.0), (14.0, 7.5), (16.0, 6.5))
        ]
        + [rnd("onnxruntime", 250_000, c, None) for c in (8.0, 7.0, 10.0)]
        + [rnd("baseline", 120_000, None, None)]
    }
    text = "\n".join(report_compare.section(cmp, None, 2))
    # Medians of the rounds: 15.0 µs in all, 7.0 in the sidecar; onnxruntime 8.0 µs.
    assert "| 15.0 µs (7.0 server) |" in text
    assert "| 8.0 µs |" in text
    assert "| — |" in text  # the baseline's gatebench did not measure CPU
    assert (
        "a decision cost 15.0 µs of CPU in this run "
        "(8.0 µs in the bot's process, 7.0 µs in the sidecar)" in text
    )
    assert "bounds it at 133,333 decisions/s" in text
    assert "cost 8.0 µs, a bound of 250,000" in text
    assert "at the 7.0 µs a decision cost it here" in text
    assert "could not pass 142,857 decisions/s" in text
    # Without the core count, or with a round that lacks the sidecar's part, no bound is drawn.
    assert "What bounds" not in "\n".join(report_compare.section(cmp))
    cmp["rounds"].append(rnd("current", 130_000, 15.0, None))
    assert "What bounds" not in "\n".join(report_compare.section(cmp, None, 2))


ROUNDS_OF_BATCH_COSTS = (
    {1: 6.0, 8: 3.3, 32: 2.9, 64: 3.1},
    {1: 5.5, 8: 3.5, 32: 2.7, 64: 3.0},
    {1: 6.4, 8: 3.2, 32: 3.0, 64: 3.2},
)


def test_comparison_says_how_much_of_a_decision_batching_can_spare():
    def batch(rnd: int, rows: int, us: float) -> dict:
        return {"round": rnd, "rows": rows, "calls": 1000, "us_per_row": us}

    def rnd(build: str, cpu: float, mean_batch: float | None) -> dict:
        r = {"build": build, "concurrency": 64, "per_second": 150_000, "failures": 0,
             "latency_us": {"p50": 300.0}, "cpu_us_per_call": cpu}  # fmt: skip
        if mean_batch is not None:
            r["mean_batch"] = mean_batch
        return r

    cmp = {
        "rounds": [rnd("current", c, b) for c, b in ((11.0, 27.0), (12.0, 29.0), (13.0, 28.0))]
        + [rnd("onnxruntime", c, None) for c in (6.0, 5.0, 7.0)],
        # Three rounds of four sizes; the medians are 6.0, 3.3, 2.9 and 3.1 µs a row.
        "onnxruntime_batches": [
            batch(i, n, us)
            for i, per_size in enumerate(ROUNDS_OF_BATCH_COSTS, start=1)
            for n, us in per_size.items()
        ],
    }
    text = "\n".join(report_compare.section(cmp, None, 2))
    assert "cost 6.0 µs a row with 1 row a call, 3.3 with 8, 2.9 with 32 and 3.1 with 64" in text
    assert "about 2.9 µs a row here, is the walk down every tree" in text
    # The mean batch's median, 28, is nearest to 32 rows a call.
    assert "held 28.0 records on average" in text
    assert "32 rows a call, the walk is 2.9 µs a row" in text
    assert "can spare at most 3.1 of the 6.0 µs of CPU in-process onnxruntime spent" in text
    assert "sidecar path spent 9.1 µs per decision besides the walk" in text
    # Without the CPU figures only the costs per row are given; without them, nothing.
    for r in cmp["rounds"]:
        del r["cpu_us_per_call"]
    text = "\n".join(report_compare.section(cmp, None, 2))
    assert "is the walk down every tree" in text and "can spare at most" not in text
    del cmp["onnxruntime_batches"]
    assert "What batching can spare" not in "\n".join(report_compare.section(cmp, None, 2))


def test_ratios_pair_designs_at_the_same_goroutine_count():
    rows = summary.ratios(
        [
            result("echo", 1, 100_000, 10.0),
            result("sigmagate", 1, 25_000, 30.0),
            result("sigmagate", 8, 80_000, 50.0),  # no echo at 8: no pair
        ]
    )
    assert len(rows) == 1
    assert rows[0]["pair"] == "sigmagate / floor"
    assert rows[0]["p50"] == 3.0
    assert rows[0]["throughput"] == 4.0


def test_report_with_parts_missing_says_what_was_not_measured():
    res = {
        "started": "2026-01-01 00:00 UTC",
        "total_s": 60.0,
        "budget": {"name": "quick", "warmup_s": 0.1, "duration_s": 0.5, "ref_calls": {1: 2}},
        "machine": {
            "cpu": "test cpu",
            "cores": 2,
            "memory_gib": 1.0,
            "kernel": "k",
            "os": "o",
            "loadavg_at_start": [0.0, 0.0, 0.0],
            "versions": {"python": "3", "go": "go1"},
            "git_commit": "abc",
            "git_dirty": False,
        },
        "skipped": {"decisions": "gatebench failed: boom"},
    }
    md = report.render(res, [], "benchmarks/")
    assert "test cpu, 2 cores" in md
    assert "No target could be checked" in md
    assert "gatebench failed: boom" in md
    assert "Quick run" in md


def test_run_kills_a_child_at_its_time_cap(tmp_path: Path):
    r = proc.run([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path, timeout_s=0.5)
    assert r.timed_out and r.returncode is None
    assert r.wall_s < 10


def test_run_reports_the_childs_own_peak_memory(tmp_path: Path):
    code = "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); print('ok')"
    r = proc.run([sys.executable, "-c", code], tmp_path, timeout_s=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok"
    assert r.max_rss_kib > 200 * 1024


def test_replica_section_shows_replica_next_to_sidecar_and_floor_with_its_targets():
    from bench import report_replica

    rows = [
        result("echo", 1, 100_000, 10.0),
        result("sigmagate", 1, 50_000, 19.0),
        result("replica", 1, 900_000, 1.1),
        result("replica", 64, 1_200_000, 1.4),
        result("replica-fallback", 1, 800_000, 1.3),
    ]
    text = "\n".join(report_replica.section(rows))
    for label in ("replica mode (in-process)", "replica fallback (sidecar down)", "echo floor"):
        assert label in text
    assert [c["pass"] for c in summary.replica_targets(summary.index(rows))] == [True, True]
    slow = [result("replica", 1, 300_000, 3.0), result("replica", 64, 500_000, 4.0)]
    assert [c["pass"] for c in summary.replica_targets(summary.index(slow))] == [False, False]
    assert report_replica.section([result("echo", 1, 100_000, 10.0)]) == []


def test_idle_cpu_table_shows_both_processes_per_phase_or_why_it_did_not_run() -> None:
    from bench import report_idle

    phase = {
        "name": "idle",
        "seconds": 30.0,
        "decisions": 0,
        "go_cpu_s": 0.0012,
        "go_core_pct": 0.004,
        "sidecar_cpu_s": 0.0003,
        "sidecar_core_pct": 0.001,
    }
    text = "\n".join(report_idle.render({"argv": ["idlecpu", "-idle", "30s"], "phases": [phase]}))
    assert "| idle | 30 s | 0 | 0.0012 s | 0.004 % | 0.0003 s | 0.001 % |" in text
    skipped = "\n".join(report_idle.render({"skipped": "go build failed"}))
    assert "Not run: go build failed." in skipped


def test_blocking_client_and_idle_cpu_targets_follow_the_measurements() -> None:
    def rtt(ratio: float) -> dict:
        return {
            "rtt": {
                "default_spin, blocking client": {
                    "sidecar": {"p50_us": 10.0 * ratio},
                    "echo": {"p50_us": 10.0},
                    "ratio_p50": ratio,
                }
            }
        }

    def idle(pct: float) -> dict:
        still = {"decisions": 0, "seconds": 30.0, "go_core_pct": 0.01, "sidecar_core_pct": pct}
        return {"phases": [still, {**still, "decisions": 300, "sidecar_core_pct": 50.0}]}

    assert [c["pass"] for c in summary.pipe_targets(rtt(1.8), idle(0.5))] == [True, True]
    assert [c["pass"] for c in summary.pipe_targets(rtt(2.4), idle(3.0))] == [False, False]
    assert summary.pipe_targets(None, None) == []


def test_monitor_target_reads_the_figure_its_benchmark_prints() -> None:
    def suites(line: str) -> list[dict]:
        out = ["..", line, "1 passed, 600 deselected in 40.00s"]
        go = {"suite": "go test -bench", "output": ["BenchmarkX 1 2 ns/op"]}
        return [go, {"suite": "pytest -m bench", "status": "ok", "wall_s": 50.0, "output": out}]

    (ok,) = summary.monitor_target(suites("train monitor: 1,000,000 records in 7.0 s (exit 0)"))
    assert ok["pass"] and ok["measured"] == "7.0 s for 1,000,000 records (healthy)"
    (slow,) = summary.monitor_target(suites("train monitor: 1,000,000 records in 61.2 s (exit 0)"))
    (alarm,) = summary.monitor_target(suites("train monitor: 1,000,000 records in 7.0 s (exit 3)"))
    assert not slow["pass"] and not alarm["pass"] and "exit 3" in alarm["measured"]
    assert summary.monitor_target(suites("1 failed")) == []
    assert summary.monitor_target(None) == []


def test_fit_target_sets_the_default_fit_beside_the_reference_of_the_same_run() -> None:
    def fit(wall: float, status: str = "done") -> list[dict]:
        small = {"rows": 100_000, "search": "fast", "status": "done", "wall_s": 1.0}
        big = {"rows": 1_000_000, "search": "fast", "status": status, "wall_s": wall}
        return [small, {**big, "family": "hgb"}]

    ref = {"rows": 1_000_000, "family": families.REFERENCE, "wall_s": 20.0, "status": "ok, fit 8 s"}
    other = {"rows": 100_000, "family": families.REFERENCE, "wall_s": 1.0, "status": "ok"}
    (ok,) = summary.fit_target(fit(55.0), [other, ref])
    assert ok["pass"] and ok["measured"] == "55 s (hgb, report included) vs 20 s: 2.8x"
    (slow,) = summary.fit_target(fit(95.0), [ref])  # over 90 s
    (far,) = summary.fit_target(fit(80.0), [{**ref, "wall_s": 15.0}])  # over 5x
    assert not slow["pass"] and not far["pass"]
    assert summary.fit_target(fit(55.0, "exit 1"), [ref]) == []
    assert summary.fit_target(fit(55.0), [other]) == []
    section = "\n".join(report_training.section({"fit": fit(55.0), "families": [ref]}, ""))
    assert "### Model families" in section and "| 1000000 | lgbm early-stopped" in section


def test_pipe_section_shows_the_range_of_round_p50s() -> None:
    def row(client: str, infer_rounds: list[float] | None) -> dict:
        r = {
            "client": client,
            "sidecar": {"p50_us": 12.0, "p99_us": 40.0},
            "echo": {"p50_us": 6.0, "p99_us": 9.0},
            "ratio_p50": 2.0,
        }
        if infer_rounds is not None:
            r |= {"sidecar_round_p50_us": infer_rounds, "echo_round_p50_us": [6.1, 6.1]}
        return r

    pipe = {
        "argv": ["python", "-m", "bench.sidecar_pipe"],
        "result": "{}",
        "json": {
            "rtt": {
                "default_spin": row("spinning", [11.8, 47.5, 12.2]),
                "default_spin, blocking client": row("blocking", None),
            },
            "throughput": [{"records_per_request": 1, "records_per_s": 2e5, "requests_per_s": 2e5}],
        },
    }
    text = "\n".join(report_pipe.section(pipe))
    assert "| default_spin | spinning | 12.0 µs | 40.0 µs | 6.0 µs | 9.0 µs | 2.00x | " in text
    assert "| 11.8 to 47.5 µs | 6.1 µs |" in text
    # An older results.json without round figures still renders, with dashes.
    assert "| 2.00x | — | — |" in text
