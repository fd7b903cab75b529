"""The usual alternative to a stdio sidecar: the model behind an HTTP+JSON service.

A deliberately ordinary service, as a team would first write it: Python's
standard ``ThreadingHTTPServer`` (one thread per keep-alive connection), JSON
in and out, one shared onnxruntime session. It binds to 127.0.0.1 only and
prints its URL on stdout once it is listening.

    python -m bench.http_service --model DIR [--port 0]
    POST /predict  {"records": [[tick_ratio, depth_ratio, price_dist], ...], "threshold": 0.65}
      -> {"p": [...], "approve": [...], "threshold": 0.65, "version": "..."}
"""

from __future__ import annotations

import argparse
import json
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort


class Model:
    """One model directory loaded per its manifest (docs/MODEL_FORMAT.md)."""

    def __init__(self, directory: Path) -> None:
        self.manifest = json.loads((directory / "manifest.json").read_text())
        variant = self.manifest["variants"][self.manifest["serve_variant"]]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(directory / variant["file"]), opts, providers=["CPUExecutionProvider"]
        )
        self.width = len(self.manifest["features"])

    def predict(self, body: dict[str, Any]) -> dict[str, Any]:
        x = np.asarray(body["records"], dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.width or not np.isfinite(x).all():
            raise ValueError(f"records must be finite [N, {self.width}] numbers")
        threshold = float(body.get("threshold", self.manifest["default_threshold"]))
        (p,) = self.session.run([self.manifest["output_name"]], {self.manifest["input_name"]: x})
        p = np.ravel(p).astype(np.float64)
        return {
            "p": p.tolist(),
            "approve": (p >= threshold).tolist(),
            "threshold": threshold,
            "version": self.manifest["version"],
        }


def handler_for(model: Model) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as any production client expects
        # Headers and body go out in two writes; with Nagle's algorithm on, the
        # second waits for the client's delayed ACK (~40 ms). Every serious
        # server sets TCP_NODELAY, so this one does too.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            if self.path != "/predict":
                self._send(HTTPStatus.NOT_FOUND, {"error": f"no route {self.path}"})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                answer = model.predict(json.loads(self.rfile.read(length)))
            except (ValueError, KeyError, TypeError) as e:
                self._send(HTTPStatus.BAD_REQUEST, {"error": str(e)})
                return
            self._send(HTTPStatus.OK, answer)

        def _send(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one stderr line per request would dominate the measurement

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A benchmark client drops its connections when a measurement window
        # closes; that is not an error worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=Path, help="model directory")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free)")
    args = ap.parse_args(argv)
    server = Server(("127.0.0.1", args.port), handler_for(Model(args.model)))
    host, port = server.server_address[:2]
    print(f"http://{host}:{port}/predict", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
