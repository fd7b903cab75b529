"""Regenerate tests/vectors/vectors.json (and, with --rebuild-model, tests/vectors/model/).

    python tests/vectors/generate.py [--rebuild-model]

Each case is a request written by hand (cases_predict.py, cases.py); its
expected output is what the real sidecar answers on the committed model,
checked against the case's stated intent (error code, or probabilities equal
to onnxruntime's) before it is written. Review the diff of vectors.json like
code: a changed byte is a protocol change. The format is documented in tests/vectors/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

# The generator's parts, all in tests/vectors/: cases_predict.py and cases.py (the cases),
# vector_model.py (model/), intent.py (the checks), document.py (record and write vectors.json).
from tests.vectors.document import (  # noqa: E402
    add_expectations,
    draft_document,
    record_outputs,
    write_document,
)
from tests.vectors.vector_model import MODEL_DIR, rebuild_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rebuild-model", action="store_true", help="rebuild tests/vectors/model too")
    args = ap.parse_args(argv)
    if args.rebuild_model or not MODEL_DIR.exists():
        rebuild_model()
    doc = draft_document()
    # Run the real sidecar to record what it answers, then check the intent.
    outputs = record_outputs(doc)
    add_expectations(doc, outputs)
    print(write_document(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
