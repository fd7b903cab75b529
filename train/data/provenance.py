"""Where the training data came from: a simulator or a real bot's recording.

Simulated data marks itself: go/cmd/gendb and `train sample` set `"simulated": true`
on every record they make up (go/featurestore.FeatureRecord.Simulated), the exporter
carries the field into JSON Lines and Parquet, and a real bot never sets it. A file
holding any marked record is "simulated" (a mix is no more real than its made-up part);
one without is "exported". The manifest records the answer as `data.provenance`, and
scripts/deploy_model.sh refuses to put a simulated-data model into a models directory
that serves a real bot.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

SIMULATED = "simulated"
EXPORTED = "exported"
FIELD = "simulated"

# JSON allows blanks around the colon; the writers here emit none.
_MARK = re.compile(rb'"simulated"\s*:\s*true')
_CHUNK = 1 << 20


def _count_jsonl(path: Path) -> int:
    """Records marked simulated, by a byte scan (no JSON parse: one pass at disk speed)."""
    n = 0
    carry = b""
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            buf = carry + chunk
            cut = buf.rfind(b"\n") + 1  # scan whole lines only; a mark never spans lines
            n += len(_MARK.findall(buf, 0, cut))
            carry = buf[cut:]
    return n + len(_MARK.findall(carry))


def _count_parquet(path: Path) -> int:
    import pyarrow.compute as pc

    from train.data.parquet import open_dataset

    dset = open_dataset(path)
    if FIELD not in dset.schema.names:
        return 0
    col = dset.to_table(columns=[FIELD]).column(FIELD)
    return int(pc.sum(pc.cast(col, "int64")).as_py() or 0)


def detect(path: Path) -> dict[str, Any]:
    """{"provenance": "simulated"|"exported", "simulated_records": N} for a data file/dir."""
    from train.data.parquet import is_parquet

    n = _count_parquet(path) if is_parquet(path) else _count_jsonl(path)
    return {"provenance": SIMULATED if n else EXPORTED, "simulated_records": n}
