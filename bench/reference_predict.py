"""The reference design sigmagate replaces: one Python process per prediction.

The seed's bot ran a script like this for every candidate trade: start Python,
import onnxruntime, load the model, score one record, print the class-1
probability, exit. gatebench spawns it once per decision to measure what that
costs.

    python bench/reference_predict.py --model DIR -- TICK_RATIO DEPTH_RATIO PRICE_DIST
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model directory (docs/MODEL_FORMAT.md)")
    ap.add_argument("features", nargs="+", type=float, help="feature values in manifest order")
    args = ap.parse_args(argv)

    # Imported here, as the seed did, so the process pays for it on every call.
    import numpy as np
    import onnxruntime as ort

    model = Path(args.model)
    manifest = json.loads((model / "manifest.json").read_text())
    if len(args.features) != len(manifest["features"]):
        print(
            f"{model / 'manifest.json'}: model wants {len(manifest['features'])} features "
            f"({', '.join(manifest['features'])}), got {len(args.features)}",
            file=sys.stderr,
        )
        return 2
    variant = manifest["variants"][manifest["serve_variant"]]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(
        str(model / variant["file"]), opts, providers=["CPUExecutionProvider"]
    )
    x = np.asarray([args.features], dtype=np.float32)
    (p,) = sess.run([manifest["output_name"]], {manifest["input_name"]: x})
    print(float(np.ravel(p)[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
