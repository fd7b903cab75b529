"""report.md and its plots (placeholder until the plots land)."""
from __future__ import annotations
def write_report(out, man, ds, best, results) -> None:
    (out / "report.md").write_text(f"# Model {man['version']}\n", encoding="utf-8")
