"""`python -m modelformat defaults [--shell | --get NAME]`: the project's defaults.

JSON on stdout by default; --shell prints NAME=value lines a bash script can
eval (lists comma-separated, as `train fit --features` takes them); --get
prints one value as --shell would, without the name.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from modelformat import defaults


def _shell(v: Any) -> str:
    return ",".join(v) if isinstance(v, list) else json.dumps(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m modelformat", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("defaults", help="print the project's defaults")
    how = d.add_mutually_exclusive_group()
    how.add_argument("--shell", action="store_true", help="NAME=value lines for bash")
    how.add_argument("--get", metavar="NAME", help="one value, e.g. DEFAULT_THRESHOLD")
    a = ap.parse_args(argv)
    values = defaults.as_dict()
    if a.get is not None:
        name = a.get.upper()
        if name not in values:
            print(f"error: no default {a.get!r}; known: {', '.join(values)}", file=sys.stderr)
            return 2
        print(_shell(values[name]))
    elif a.shell:
        for name, v in values.items():
            print(f"{name}={shlex.quote(_shell(v))}")
    else:
        print(json.dumps(values, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
