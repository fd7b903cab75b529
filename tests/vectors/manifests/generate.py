"""Build the manifest conformance cases: cases.json + base.json -> built/ and index.json.

    .venv/bin/python tests/vectors/manifests/generate.py

A case is the base manifest with a patch applied (RFC 6902 `add` and `remove`
on JSON Pointer paths), or a hand-written file in raw/ when the fault is in the
text itself (a key given twice, NaN). Besides the cases written in cases.json,
one case per key modelformat types is derived here: that key in upper case
("SCHEMA", "variants.fp32.FILE"), which both readers must refuse. Every case's
bytes are written out, so Python and Go read exactly the same text.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from modelformat import manifest as mf  # noqa: E402
from modelformat.blocks import typed_names  # noqa: E402


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"JSON Pointer {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def apply(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 add/remove on objects: add replaces a present key in place."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, key = _pointer(op["path"])
        node = doc
        for p in parents:
            node = node[p]
        if op["op"] == "add":
            node[key] = op["value"]
        elif op["op"] == "remove":
            del node[key]
        else:
            raise ValueError(f"unsupported patch op {op['op']!r}")
    return doc


# Where each typed level sits in base.json, and the keys modelformat types there.
LEVELS: list[tuple[str, tuple[str, ...]]] = [
    ("", typed_names(mf.Manifest)),
    ("variants.fp32.", typed_names(mf.Variant)),
    ("check_vectors.", typed_names(mf.FileRef)),
    ("reference.", typed_names(mf.Reference)),
    ("reference.features.tick_ratio.", typed_names(mf.Bins)),
    ("feature_stats.tick_ratio.", mf.STATS_KEYS),
    ("label.", mf.LABEL_KEYS),
]


def twin_cases(base: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for at, keys in LEVELS:
        node = base
        for p in at.rstrip(".").split(".") if at else []:
            node = node[p]
        for key in keys:
            twin = key.upper()
            pointer = "/" + "/".join([*at.rstrip(".").split("."), twin] if at else [twin])
            out.append({
                "name": f"known_key_upper_{(at + key).replace('.', '_')}",
                "description": f"{at + twin!r} is the known key {at + key!r} in another case",
                "verdict": "invalid",
                "field": at + twin,
                "patch": [{"op": "add", "path": pointer, "value": node.get(key, 0)}],
            })  # fmt: skip
    return out


def build() -> dict[str, bytes]:
    """Every file this generator writes, by path relative to HERE."""
    spec = json.loads((HERE / "cases.json").read_text())
    base = json.loads((HERE / spec["base"]).read_text())
    cases = spec["cases"] + twin_cases(base)
    files: dict[str, bytes] = {}
    index = []
    for c in cases:
        if "raw" in c:
            file = c["raw"]
        else:
            file = f"built/{c['name']}.json"
            doc = apply(base, c["patch"])
            files[file] = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
        entry = {"name": c["name"], "description": c["description"], "file": file}
        entry["verdict"] = c["verdict"]
        if c["verdict"] == "invalid":
            entry["field"] = c["field"]
        index.append(entry)
    lines = ["{", '  "cases": [']
    lines += [
        "    " + json.dumps(e, ensure_ascii=False) + ("," if i < len(index) - 1 else "")
        for i, e in enumerate(index)
    ]
    files["index.json"] = ("\n".join([*lines, "  ]", "}"]) + "\n").encode()
    return files


def main() -> int:
    files = build()
    built = HERE / "built"
    built.mkdir(exist_ok=True)
    for stale in built.glob("*.json"):
        if f"built/{stale.name}" not in files:
            stale.unlink()
    for rel, data in files.items():
        (HERE / rel).write_bytes(data)
    print(f"{len(files) - 1} built cases, index.json written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
