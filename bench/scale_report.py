"""The "Scale" section of docs/BENCHMARKS.md, from docs/benchmarks/scale.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"


def render(results: dict[str, Any]) -> str:
    return "## Scale\n\n(results pending)\n"


def splice(md_path: Path, results: dict[str, Any]) -> None:
    """Replace the section between the markers, or append it."""
    text = md_path.read_text() if md_path.exists() else ""
    block = f"{BEGIN}\n{render(results)}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    md_path.write_text(text)
