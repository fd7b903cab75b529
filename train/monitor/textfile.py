"""The Prometheus text exposition format, for node_exporter's textfile collector.

Written by hand rather than with prometheus_client: a dozen gauges in a
format that has not changed in years (HELP, TYPE, one `name{labels} value`
line per sample) do not justify a new dependency in the training install;
the test suite checks the output strictly. The file is written to a
temporary name in the same directory and renamed over the target, so the
collector never reads a half-written file.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Gauge:
    name: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float | None, **labels: str) -> None:
        self.samples.append((labels, math.nan if value is None else float(value)))


def _escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def render(gauges: list[Gauge]) -> str:
    out = []
    for g in gauges:
        out.append(f"# HELP {g.name} {g.help.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}")
        out.append(f"# TYPE {g.name} gauge")
        for labels, v in g.samples:
            lab = ",".join(f'{k}="{_escape_label(x)}"' for k, x in labels.items())
            out.append(f"{g.name}{{{lab}}} {_value(v)}" if lab else f"{g.name} {_value(v)}")
    return "\n".join(out) + "\n"


def write_atomically(path: Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # node_exporter runs as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
