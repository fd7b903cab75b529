"""Regenerate tests/vectors/vectors.json (and, with --rebuild-model, tests/vectors/model/).

    python tests/vectors/generate.py [--rebuild-model]

Each case is a request written by hand here; its expected output is what the
real sidecar answers on the committed model, checked against the case's
stated intent (error code, or probabilities equal to onnxruntime's) before it
is written. Review the diff of vectors.json like code: a changed byte is a
protocol change. The format is documented in tests/vectors/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from tests.vectors.runner import Case, Session, load_cases  # noqa: E402

MODEL_DIR = HERE / "model"
VERSION = "vectors-1"

R0 = [0.1, 0.2, 0.3]
R1 = [0.5, -0.5, -2.0]
R2 = [-1.0, -1.0, 3.0]
NAMES = ["tick_ratio", "depth_ratio", "price_dist"]


def req(msgid: int, method: Any, params: Any) -> bytes:
    return msgpack.packb([0, msgid, method, params])


def m(rec: list[float]) -> dict[str, float]:
    return dict(zip(NAMES, rec, strict=True))


# (name, description, session, request bytes, mode, intent) — intent is checked at generation:
#   ("p", records, threshold) the result's p equals onnxruntime's and approve uses threshold
#   ("error", code, record, field) a response error; ("note", code) an error notification
CASES: list[tuple[str, str, str, bytes, str, tuple[Any, ...]]] = [
    (
        "predict_array_one",
        "one array record, default threshold",
        "model",
        req(1, "predict", [[R0]]),
        "bytes",
        ("p", [R0], 0.65),
    ),
    (
        "predict_array_batch",
        "three array records in one request",
        "model",
        req(2, "predict", [[R0, R1, R2]]),
        "bytes",
        ("p", [R0, R1, R2], 0.65),
    ),
    (
        "predict_map_one",
        "one map record keyed by feature name",
        "model",
        req(3, "predict", [[m(R1)]]),
        "bytes",
        ("p", [R1], 0.65),
    ),
    (
        "predict_map_reordered",
        "map keys in another order than the manifest",
        "model",
        req(4, "predict", [[{"price_dist": -2.0, "tick_ratio": 0.5, "depth_ratio": -0.5}]]),
        "bytes",
        ("p", [R1], 0.65),
    ),
    (
        "predict_mixed",
        "array and map records mixed in one request",
        "model",
        req(5, "predict", [[R0, m(R2)]]),
        "bytes",
        ("p", [R0, R2], 0.65),
    ),
    (
        "predict_threshold",
        "explicit threshold 0.3",
        "model",
        req(6, "predict", [[R0, R1, R2], 0.3]),
        "bytes",
        ("p", [R0, R1, R2], 0.3),
    ),
    (
        "predict_threshold_int",
        "integer threshold 1 (approves only p == 1)",
        "model",
        req(7, "predict", [[R0], 1]),
        "bytes",
        ("p", [R0], 1.0),
    ),
    (
        "predict_threshold_nil",
        "nil threshold means the default",
        "model",
        req(8, "predict", [[R0], None]),
        "bytes",
        ("p", [R0], 0.65),
    ),
    (
        "predict_ints_and_float32",
        "integer and float 32 feature values",
        "model",
        msgpack.packb([0, 9, "predict", [[[1, -1, 0.25]]]], use_single_float=True),
        "bytes",
        ("p", [[1.0, -1.0, 0.25]], 0.65),
    ),
    (
        "predict_ood",
        "a price_dist far outside the training range is flagged",
        "model",
        req(10, "predict", [[R0, [0.1, 0.2, 50.0]]]),
        "bytes",
        ("p", [R0, [0.1, 0.2, 50.0]], 0.65),
    ),
    (
        "predict_max_msgid",
        "msgid 2^32-1 is echoed",
        "model",
        req(2**32 - 1, "predict", [[R0]]),
        "bytes",
        ("p", [R0], 0.65),
    ),
    (
        "bad_request_no_params",
        "predict with empty params",
        "model",
        req(20, "predict", []),
        "bytes",
        ("error", "bad_request", None, None),
    ),
    (
        "bad_request_empty_records",
        "predict with no records",
        "model",
        req(21, "predict", [[]]),
        "bytes",
        ("error", "bad_request", None, None),
    ),
    (
        "bad_request_threshold",
        "threshold outside [0, 1]",
        "model",
        req(22, "predict", [[R0], 1.5]),
        "bytes",
        ("error", "bad_request", None, None),
    ),
    (
        "bad_request_records_not_array",
        "records is a map",
        "model",
        req(23, "predict", [m(R0)]),
        "bytes",
        ("error", "bad_request", None, None),
    ),
    (
        "bad_request_params_not_array",
        "params is not an array",
        "model",
        req(24, "predict", "x"),
        "bytes",
        ("error", "bad_request", None, None),
    ),
    (
        "bad_request_method_not_str",
        "method is an integer",
        "model",
        req(25, 7, []),
        "bytes",
        ("error", "bad_request", None, None),
    ),
    (
        "bad_request_info_params",
        "info takes no params",
        "model",
        req(26, "info", [1]),
        "bytes",
        ("error", "bad_request", None, None),
    ),
    (
        "bad_features_nan",
        "NaN in record 1, field depth_ratio",
        "model",
        req(30, "predict", [[R0, [0.5, float("nan"), 1.0]]]),
        "bytes",
        ("error", "bad_features", 1, "depth_ratio"),
    ),
    (
        "bad_features_inf",
        "+Inf in record 0, field price_dist",
        "model",
        req(31, "predict", [[[0.5, 0.1, float("inf")]]]),
        "bytes",
        ("error", "bad_features", 0, "price_dist"),
    ),
    (
        "bad_features_count",
        "record 0 has 2 numbers instead of 3",
        "model",
        req(32, "predict", [[[0.5, 0.1]]]),
        "bytes",
        ("error", "bad_features", 0, None),
    ),
    (
        "bad_features_missing",
        "map record 0 lacks price_dist",
        "model",
        req(33, "predict", [[{"tick_ratio": 0.1, "depth_ratio": 0.2}]]),
        "bytes",
        ("error", "bad_features", 0, "price_dist"),
    ),
    (
        "bad_features_unknown",
        "map record 1 has an unknown name",
        "model",
        req(34, "predict", [[R0, {**m(R0), "volume": 1.0}]]),
        "bytes",
        ("error", "bad_features", 1, "volume"),
    ),
    (
        "bad_features_type",
        "a string where a number belongs",
        "model",
        req(35, "predict", [[["0.1", 0.2, 0.3]]]),
        "bytes",
        ("error", "bad_features", 0, "tick_ratio"),
    ),
    (
        "bad_features_bool",
        "a boolean is not a number",
        "model",
        req(36, "predict", [[[0.1, 0.2, True]]]),
        "bytes",
        ("error", "bad_features", 0, "price_dist"),
    ),
    (
        "unknown_method",
        "no such method",
        "model",
        req(40, "explain", []),
        "bytes",
        ("error", "unknown_method", None, None),
    ),
    (
        "bad_message_not_array",
        "a bare integer is not a request",
        "model",
        msgpack.packb(5),
        "bytes",
        ("note", "bad_message"),
    ),
    (
        "bad_message_client_notification",
        "notifications from the client are refused",
        "model",
        msgpack.packb([2, "hello", []]),
        "bytes",
        ("note", "bad_message"),
    ),
    (
        "bad_message_bad_msgid",
        "a negative msgid cannot be answered",
        "model",
        msgpack.packb([0, -1, "info", []]),
        "bytes",
        ("note", "bad_message"),
    ),
    (
        "bad_message_undecodable",
        "0xc1 is never valid MessagePack; the decoder resyncs",
        "model",
        b"\xc1",
        "bytes",
        ("note", "bad_message"),
    ),
    (
        "after_resync",
        "a request right after the bad byte is answered",
        "model",
        req(50, "predict", [[R2]]),
        "bytes",
        ("p", [R2], 0.65),
    ),
    (
        "no_model_predict",
        "predict with no model loaded (message names the path)",
        "no_model",
        req(60, "predict", [[R0]]),
        "code",
        ("error", "no_model", None, None),
    ),
    (
        "no_model_bad_request_first",
        "params are checked before the model",
        "no_model",
        req(61, "predict", []),
        "bytes",
        ("error", "bad_request", None, None),
    ),
    (
        "reload_failed",
        "reload with still no model (message names the path)",
        "no_model",
        req(62, "reload", []),
        "code",
        ("error", "reload_failed", None, None),
    ),
    (
        "too_large",
        "a 1,048,584-byte request: a bin of 1,048,570 zero bytes in params",
        "too_large",
        b"\x94\x00\x46\xa4info\x91\xc6\x00\x0f\xff\xfa",
        "prefix",
        ("note", "too_large"),
    ),
]
FILL = {"too_large": {"byte": "00", "count": 1_048_570}}


def rebuild_model() -> None:
    from tests.fixtures.tiny_model import build_model_dir

    with tempfile.TemporaryDirectory() as tmp:
        built = build_model_dir(tmp, VERSION, seed=42, fp16=False, n_estimators=6)
        shutil.rmtree(MODEL_DIR, ignore_errors=True)
        shutil.copytree(built, MODEL_DIR)


def direct_p(rows: list[list[float]]) -> list[float]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(MODEL_DIR / "model.onnx"), providers=["CPUExecutionProvider"])
    return sess.run(["probability"], {"features": np.array(rows, dtype=np.float32)})[0].tolist()


def check_intent(name: str, out: bytes, intent: tuple[Any, ...]) -> None:
    msg = msgpack.Unpacker(raw=False)
    msg.feed(out)
    first = next(iter(msg))
    kind = intent[0]
    if kind == "p":
        _, rows, t = intent
        assert first[2] is None, f"{name}: {first}"
        res = first[3]
        assert res["p"] == direct_p(rows), f"{name}: {res}"
        assert res["approve"] == [p >= t for p in res["p"]] and res["threshold"] == t, name
    elif kind == "error":
        _, code, record, field = intent
        err = first[2]
        assert err is not None and err["code"] == code, f"{name}: {first}"
        assert err.get("record") == record and err.get("field") == field, f"{name}: {err}"
    else:
        assert first[:2] == [2, "error"] and first[2][0]["code"] == intent[1], f"{name}: {first}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rebuild-model", action="store_true", help="rebuild tests/vectors/model too")
    args = ap.parse_args(argv)
    if args.rebuild_model or not MODEL_DIR.exists():
        rebuild_model()
    doc: dict[str, Any] = {
        "protocol": 1,
        "about": "Byte-exact msgpack-rpc examples for the infer sidecar; see README.md.",
        "sessions": {
            "model": {"model": "model", "args": []},
            "no_model": {"model": "no-such-model", "args": []},
            "too_large": {"model": "model", "args": []},
        },
        "cases": [],
    }
    draft = []
    for name, desc, session, request, mode, _ in CASES:
        case: dict[str, Any] = {
            "name": name,
            "description": desc,
            "session": session,
            "request": request.hex(),
            "mode": mode,
        }
        if name in FILL:
            case["request_fill"] = FILL[name]
        draft.append(case)
    doc["cases"] = draft
    # Run the real sidecar to record what it answers, then check the intent.
    outputs: dict[str, bytes] = {}
    for session_name in doc["sessions"]:
        cases = [Case.from_json(c) for c in draft if c["session"] == session_name]
        with Session(HERE, doc["sessions"][session_name]) as sess:
            for case in cases:
                outputs[case.name] = sess.capture(case)
    for (name, _, _, _, mode, intent), case in zip(CASES, draft, strict=True):
        out = outputs[name]
        check_intent(name, out, intent)
        if mode == "code":
            case["expect_code"] = intent[1]
            case["expect"] = ""
        else:
            case["expect"] = out.hex()
    (HERE / "vectors.json").write_text(json.dumps(doc, indent=1) + "\n")
    load_cases(HERE / "vectors.json")  # the file we wrote must load
    print(HERE / "vectors.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
