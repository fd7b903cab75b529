"""Build vectors.json: draft the cases, record the real sidecar's answers, check, write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.vectors.cases import CASES, FILL
from tests.vectors.intent import check_intent
from tests.vectors.runner import Case, Session, load_cases

HERE = Path(__file__).resolve().parent


def draft_document() -> dict[str, Any]:
    """The document with its sessions and every case's request, but no expectations yet."""
    doc: dict[str, Any] = {
        "protocol": 2,
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
    return doc


def record_outputs(doc: dict[str, Any]) -> dict[str, bytes]:
    """What the real sidecar answers to each case, one sidecar per session."""
    outputs: dict[str, bytes] = {}
    for session_name in doc["sessions"]:
        cases = [Case.from_json(c) for c in doc["cases"] if c["session"] == session_name]
        with Session(HERE, doc["sessions"][session_name]) as sess:
            for case in cases:
                outputs[case.name] = sess.capture(case)
    return outputs


def add_expectations(doc: dict[str, Any], outputs: dict[str, bytes]) -> None:
    """Check each recorded answer against its case's intent and store it as the expectation."""
    for (name, _, _, _, mode, intent), case in zip(CASES, doc["cases"], strict=True):
        out = outputs[name]
        check_intent(name, out, intent)
        if mode == "code":
            case["expect_code"] = intent[1]
            case["expect"] = ""
        else:
            case["expect"] = out.hex()


def write_document(doc: dict[str, Any]) -> Path:
    """Write vectors.json and return its path."""
    path = HERE / "vectors.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    load_cases(path)  # the file we wrote must load
    return path
