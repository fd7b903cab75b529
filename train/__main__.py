"""`python -m train` and the `train` console script.

An exception no subcommand handles is a crash, not a verdict: its traceback goes to
stderr and the exit status is EXIT_CRASH, which no subcommand gives a result (fit 1
is a failed quality gate, monitor and compare 3 a degraded or worse model)."""

from __future__ import annotations

import sys
import traceback

from train.cli import EXIT_CRASH
from train.cli import main as _main


def main() -> None:
    try:
        code = _main()
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        print(
            f"train: crashed ({type(e).__name__}: {e}); the traceback is above. This is an "
            f"error in train or its environment, not a verdict on the data (exit {EXIT_CRASH})",
            file=sys.stderr,
        )
        code = EXIT_CRASH
    sys.exit(code)


if __name__ == "__main__":
    main()
