"""Check a recorded sidecar answer against its case's stated intent (cases_predict.CaseSpec)."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

from tests.vectors.vector_model import MODEL_DIR


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
        err = first[2]  # [code, message] or [code, message, details]
        assert type(err) is list and err[0] == code and type(err[1]) is str, f"{name}: {first}"
        details = err[2] if len(err) == 3 else {}
        assert details.get("record") == record and details.get("field") == field, f"{name}: {err}"
    else:
        assert first[:2] == [2, "error"] and first[2][0]["code"] == intent[1], f"{name}: {first}"
