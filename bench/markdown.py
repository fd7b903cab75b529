"""Markdown pieces shared by the BENCHMARKS.md sections."""

from __future__ import annotations

from typing import Any


def rate(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.2f}"


def mib(kib: float | None) -> str:
    return f"{kib / 1024:.1f} MiB" if kib else "—"


def fmt_us(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.2f} s"
    if v >= 1e3:
        return f"{v / 1e3:.2f} ms"
    return f"{v:.1f} µs"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*out, ""]
