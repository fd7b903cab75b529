"""The status file a deploy script reads to see what is being served, by which process,
from which --model path."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write via a temporary file and rename, so readers never see half a file."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


log = logging.getLogger("infer")

# The --model path as given (absolute, links not resolved), set once at start: a deploy
# reads it to tell whether this sidecar serves its models directory, even when the
# pidfile that should name this process is missing.
_model_path: str | None = None


def set_model_path(model: str | os.PathLike[str]) -> None:
    global _model_path
    _model_path = os.path.abspath(model)


def write_status(
    path: str | os.PathLike[str], model_info: dict[str, Any] | None, last_error: str | None
) -> None:
    """Rewrite the status file; a failure is logged, never raised (serving goes on)."""
    status = {
        "version": model_info["version"] if model_info else None,
        "variant": model_info["variant"] if model_info else None,
        "loaded_at": model_info["loaded_at"] if model_info else None,
        "last_error": last_error,
        "pid": os.getpid(),
        "model": _model_path,
    }
    try:
        write_atomic(path, json.dumps(status) + "\n")
    except OSError as exc:
        log.error("cannot write the status file", extra={"path": str(path), "error": str(exc)})
