"""The "Scale" section of docs/BENCHMARKS.md, from docs/benchmarks/scale.json
(written by `python -m bench.scale`; `make bench` splices the stored section back in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.machine import mem_total_gib
from bench.markdown import table

BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"
SIZES = (1_000_000, 10_000_000, 50_000_000)
PATHS = {
    "jsonl:local:hgb": "JSON Lines, single process (hgb)",
    "parquet:local:hgb": "Parquet, single process (hgb)",
    "parquet:dask:xgb": "Parquet, Dask LocalCluster, 2 workers (xgb)",
}
EXTRA = {
    "parquet:local:xgb": "Parquet, single process (xgb)",
    "parquet:local:gbm": "Parquet, single process (gbm, exact GradientBoosting)",
}
HOUR_S = 3600.0


def _rows(n: int) -> str:
    return {1_000_000: "10⁶", 10_000_000: "10⁷", 50_000_000: "5·10⁷", 10**8: "10⁸"}.get(n, f"{n:,}")


def _status(r: dict[str, Any]) -> str:
    if r.get("timed_out"):
        return f"stopped at its {r['wall_s'] / 60:.0f} min cap"
    return "ok" if r.get("returncode") == 0 else f"exit {r.get('returncode')} (`{r.get('log')}`)"


def _fit_cell(r: dict[str, Any] | None) -> list[str]:
    if r is None:
        return ["not run", "", "", ""]
    auc = r.get("auc")
    return [
        f"{r['wall_s'] / 60:.1f} min",
        f"{r['peak_rss_mib']:,} MiB",
        "" if auc is None else f"{auc:.4f}",
        _status(r),
    ]


def _line(points: list[tuple[int, float]], target: int) -> float:
    """Value at target rows: a line through the two largest measurements (a fixed
    part such as imports and the search on 10⁵ rows, plus a part per row), or
    proportional to rows from a single one."""
    pts = sorted(points)[-2:]
    if len(pts) == 1 or pts[0][0] == pts[1][0]:
        n, v = pts[-1]
        return v * target / n
    (n0, v0), (n1, v1) = pts
    slope = max((v1 - v0) / (n1 - n0), 0.0)
    return v1 + slope * (target - n1)


def _ok(res: dict[str, Any], kind: str, suffix: str) -> list[dict[str, Any]]:
    return [
        r for k, r in res.items()
        if k.startswith(kind + "/") and k.endswith("/" + suffix) and r.get("returncode") == 0
    ]  # fmt: skip


def _estimate(res: dict[str, Any], spec: str, n: int) -> tuple[float, float] | None:
    """(wall s, peak MiB) of a fit at n rows from what was measured.

    Memory: the read + label + clean line (measured at more sizes) times the
    fit's measured overhead over it. Wall: the fit's line; a JSON Lines fit
    that was not run is the Parquet fit plus the extra time JSON parsing took.
    """
    fmt = spec.split(":")[0]
    fits, preps = _ok(res, "fit", spec), _ok(res, "prepare", fmt)
    if not fits and fmt == "jsonl":
        alt = _estimate(res, spec.replace("jsonl", "parquet", 1), n)
        pj, pp = preps, _ok(res, "prepare", "parquet")
        if alt is None or not pj or not pp:
            return None
        extra_s = _line([(r["rows"], r["wall_s"]) for r in pj], n) - _line(
            [(r["rows"], r["wall_s"]) for r in pp], n
        )
        mem = _line([(r["rows"], r["peak_rss_mib"]) for r in pj], n)
        return alt[0] + extra_s, max(mem, alt[1])
    if not fits:
        return None
    wall = _line([(r["rows"], r["wall_s"]) for r in fits], n)
    mem = _line([(r["rows"], r["peak_rss_mib"]) for r in fits], n)
    if preps and spec.split(":")[1] == "local":
        top = max(fits, key=lambda r: r["rows"])
        same = [p for p in preps if p["rows"] == top["rows"]]
        ratio = max(1.0, top["peak_rss_mib"] / same[0]["peak_rss_mib"]) if same else 1.0
        mem = _line([(r["rows"], r["peak_rss_mib"]) for r in preps], n) * ratio
    return wall, mem


def _extrapolate(res: dict[str, Any], spec: str, mem_gib: float) -> str:
    """Where a path stops on this machine: measured sizes, then estimates."""
    fits = [r for k, r in res.items() if k.startswith("fit/") and k.endswith("/" + spec)]
    done = [r for r in fits if r.get("returncode") == 0]
    largest = max((r["rows"] for r in done), default=0)
    parts = []
    for target in (*SIZES, 10**8):
        if target <= largest:
            continue
        est = _estimate(res, spec, target)
        if est is None:
            continue
        wall, mem = est[0], est[1] / 1024
        why = []
        if mem > 0.8 * mem_gib:
            why.append(f"memory: ~{mem:.0f} GiB of {mem_gib:.0f}")
        if wall > HOUR_S:
            why.append(f"time: ~{wall / HOUR_S:.1f} h")
        verdict = "stops here (" + ", ".join(why) + ")" if why else "within reach"
        parts.append(f"{_rows(target)} rows ~{wall / 60:.0f} min, ~{mem:.1f} GiB: {verdict}")
    sizes = ", ".join(_rows(r["rows"]) for r in sorted(done, key=lambda r: r["rows"]))
    head = f"fit measured at {sizes}" if sizes else "no fit measured"
    capped = [r for r in fits if r.get("timed_out")]
    if capped:
        head += "; stopped at the time cap at " + ", ".join(_rows(r["rows"]) for r in capped)
    return head + ("; estimated: " + "; ".join(parts) if parts else "")


def _comparisons(res: dict[str, Any]) -> list[str]:
    """Test-AUC differences on the same split (same data, same labels, same cuts)."""
    out = []
    pairs = [
        ("parquet:local:hgb", "parquet:local:gbm", "hgb (histogram) against gbm (exact)"),
        ("parquet:dask:xgb", "parquet:local:xgb", "xgb on Dask against xgb in one process"),
        ("parquet:local:hgb", "jsonl:local:hgb", "hgb from Parquet (float32) against JSON Lines"),
    ]
    for a, b, what in pairs:
        for n in SIZES:
            ra, rb = res.get(f"fit/{n}/{a}"), res.get(f"fit/{n}/{b}")
            if ra and rb and ra.get("auc") is not None and rb.get("auc") is not None:
                d = ra["auc"] - rb["auc"]
                out.append(
                    f"* {what}, {_rows(n)} rows: test AUC {ra['auc']:.4f} vs {rb['auc']:.4f} "
                    f"(Δ {d:+.4f}), {ra['wall_s'] / 60:.1f} vs {rb['wall_s'] / 60:.1f} min."
                )
    return ["", "Same split, same labels:", "", *out] if out else []


def render(res: dict[str, Any]) -> str:
    mem = mem_total_gib()
    lines = [
        "## Scale: 10⁶ … 5·10⁷ rows (`make bench-scale`)",
        "",
        "BoltDB (`gendb`, 20 symbols, a record every ~2 s per symbol, planted signal) → "
        "`go/cmd/export` → `train fit --search fast`. 5·10⁷ rows are the 10⁷ export five "
        "times with the symbols renamed (a 50 GB bbolt file was not written). Each run is a "
        "niced child process with a time cap; peak RSS is the sum over its process tree "
        "(Dask scheduler and workers included), sampled every 0.5 s. Measured on the shared "
        f"2-core, {mem:.0f} GiB machine while other work ran (load average between 1 and 12, "
        "varying from run to run): compare wall times loosely; memory is not affected. "
        "Raw figures and RSS-over-time curves: "
        "`docs/benchmarks/scale.json`.",
        "",
        "### Export and read",
        "",
    ]
    rows = []
    for n in SIZES:
        for fmt in ("jsonl", "parquet"):
            e = res.get(f"export/{n}/{fmt}")
            p = res.get(f"prepare/{n}/{fmt}")
            if not e and not p:
                continue
            read_s = total_s = ""
            if p and p.get("returncode") == 0 and p.get("stdout"):
                t_read, t_total, *_ = p["stdout"][-1].split()
                read_s, total_s = f"{float(t_read):.0f} s", f"{float(t_total):.0f} s"
            rows.append([
                _rows(n), "JSON Lines" if fmt == "jsonl" else "Parquet",
                f"{e['wall_s']:.0f} s" if e else "-",
                f"{e['bytes'] / 2**20:,.0f} MiB" if e and e.get("bytes") else "-",
                read_s or (_status(p) if p else "-"), total_s,
                f"{p['peak_rss_mib']:,} MiB" if p else "-",
            ])  # fmt: skip
    lines += table(
        ["rows", "format", "export", "file size", "read into train", "read + label + clean",
         "peak RSS (read + label + clean)"],
        rows,
    )  # fmt: skip
    lines += [
        "The export's own peak RSS (not shown) is dominated by the read-only mmap of the "
        "database (page cache), not by the heap: both writers stream. The last column is the "
        "peak RSS curve of the single-machine path against rows: `train.data.load.read_records` + "
        "`train.data.dataset.build_dataset` (labels, split, cleaning), features float32.",
        "",
        "### Fit: wall time, peak RSS, test AUC",
        "",
    ]
    rows = []
    for spec, name in {**PATHS, **EXTRA}.items():
        for n in SIZES:
            r = res.get(f"fit/{n}/{spec}")
            if r is None and spec in EXTRA:
                continue
            cells = _fit_cell(r)
            est = _estimate(res, spec, n) if r is None or r.get("returncode") != 0 else None
            if est is not None:
                cells[0] = f"~{est[0] / 60:.0f} min (estimate)"
                cells[1] = f"~{est[1] / 1024:.1f} GiB (estimate)"
                cells[3] = "not run: " + ("stopped at the cap" if r else "estimated, see below")
            rows.append([name, _rows(n), *cells])
    lines += table(["path", "rows", "wall", "peak RSS", "test AUC", "status"], rows)
    if (Path(__file__).resolve().parent.parent / "docs/benchmarks/scale_rss.png").exists():
        lines += ["![RSS over time of each run](benchmarks/scale_rss.png)"]
    lines += _comparisons(res)
    lines += ["", "### Where each path stops fitting on this machine", ""]
    for spec, name in PATHS.items():
        lines.append(f"* **{name}**: {_extrapolate(res, spec, mem)}.")
    notes = [
        "Estimates are lines through the two largest measurements (a fixed part: imports, "
        "the search on the most recent 10⁵ rows; plus a part per row), memory from the read "
        "+ label + clean runs, which were measured up to 5·10⁷ rows.",
        "A Dask LocalCluster worker gets half the machine's memory and spills to disk past "
        "60 % of it, so past ~10⁸ rows the Dask path slows down rather than failing; on a "
        "multi-machine cluster (docs/TRAINING.md) the rows spread over the workers' memory. "
        "The client still gathers validation and test (40 % of the rows, ~25 bytes each).",
        "JSON Lines and Parquet give the same labels; the training rows can differ by a few "
        "in 10⁶ because the 5-sigma outlier bounds are computed on float64 (JSON) or float32 "
        "(Parquet) features.",
        *(res.get("notes") or []),
    ]
    if notes:
        lines += ["", *[f"* {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], png: Path) -> bool:
    """Resident memory over time of every read + label + clean and fit run."""
    runs = [(k, r) for k, r in sorted(results.items()) if r.get("curve") and "/" in k]
    runs = [(k, r) for k, r in runs if k.split("/")[0] in ("prepare", "fit")]
    if not runs:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, kind in zip(axes, ("prepare", "fit"), strict=True):
        for k, r in runs:
            if k.startswith(kind + "/"):
                t, m = zip(*r["curve"], strict=True)
                ax.plot([x / 60 for x in t], [y / 1024 for y in m], label=k.split("/", 1)[1])
        ax.set_title("read + label + clean" if kind == "prepare" else "train fit")
        ax.set_xlabel("minutes")
        ax.set_ylabel("RSS of the process tree, GiB")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return True


def splice(md_path: Path, results: dict[str, Any]) -> None:
    """Replace the section between the markers, or append it."""
    text = md_path.read_text() if md_path.exists() else ""
    block = f"{BEGIN}\n{render(results)}{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    md_path.write_text(text)
