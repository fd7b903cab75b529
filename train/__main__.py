"""`python -m train` and the `train` console script."""

from __future__ import annotations

import sys

from train.cli import main as _main


def main() -> None:
    sys.exit(_main())


if __name__ == "__main__":
    main()
