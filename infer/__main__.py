"""`infer` command line: serve a model over MessagePack-RPC on stdin/stdout."""

from __future__ import annotations

import signal

# Signals that arrive before serving starts are remembered, not fatal: SIGHUP's
# default action would kill a sidecar reloaded during start-up.
_early: list[int] = []


def _remember_signals() -> None:
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: _early.append(signum))


if __name__ == "__main__":  # `python -m infer`: before the imports below take
    _remember_signals()  # a quarter of a second (onnxruntime, numpy)

import argparse  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from types import FrameType  # noqa: E402

from infer import logs  # noqa: E402
from infer.model import Model, ModelError, load  # noqa: E402
from infer.pidfile import Pidfile, PidfileError  # noqa: E402
from infer.reload import Reloader  # noqa: E402
from infer.server import Server  # noqa: E402
from infer.status import set_model_path  # noqa: E402
from infer.transport import Stdio  # noqa: E402

DEFAULT_SPIN_US = 50.0


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"threshold must be in [0, 1], got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="infer",
        description="Serve a sigmagate model over MessagePack-RPC on stdin/stdout.",
    )
    ap.add_argument(
        "--model", required=True, help="model directory or a symlink to one (re-resolved on reload)"
    )
    ap.add_argument(
        "--variant", help="variant to serve (fp32|fp16|int8); default: the manifest's serve_variant"
    )
    ap.add_argument(
        "--threshold", type=_threshold, help="default approve threshold; default: the manifest's"
    )
    ap.add_argument(
        "--pidfile",
        help="write the process id here and hold it locked; refused if a live sidecar holds it",
    )
    ap.add_argument(
        "--status-file", help="JSON status rewritten atomically on every load and reload"
    )
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    ap.add_argument(
        "--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)"
    )
    ap.add_argument(
        "--spin-us",
        type=float,
        default=DEFAULT_SPIN_US,
        help=(
            "after each batch, poll stdin up to this long before blocking (default %(default)s), "
            "while the client's turnarounds show it pays. Saves the wake-up when the next "
            "request follows quickly; costs up to this much CPU per batch (at most 5%% of a "
            "core at 1000 isolated requests/s). 0 disables."
        ),
    )
    ap.add_argument(
        "--resync-ms",
        type=float,
        default=500.0,
        help="drop an incomplete message after this long without new bytes (default %(default)s)",
    )
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error("--threads must be at least 1")
    if args.spin_us < 0 or args.resync_ms <= 0:
        ap.error("--spin-us must be >= 0 and --resync-ms > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The protocol gets a private copy of stdout; fd 1 then points at stderr, so a
    # library that prints can never corrupt the stream.
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    log = logs.setup(args.log_level)
    _remember_signals()  # again, for a main() not run as `python -m infer`
    early = _early  # acted on once serving starts

    pidfile = Pidfile(args.pidfile) if args.pidfile else None
    if pidfile is not None:
        # Before the model loads: a clash fails fast, and a deploy that signals this
        # pid during the load is answered with a reload once it is done.
        try:
            pidfile.acquire()
        except PidfileError as exc:
            log.error("refusing to start", extra={"error": str(exc)})
            return 1
    set_model_path(args.model)

    def load_model() -> Model:
        return load(args.model, args.variant, args.threshold, args.threads)

    model: Model | None = None
    error: str | None = None
    try:
        model = load_model()
        log.info(
            "model loaded",
            extra={"version": model.version, "variant": model.variant, "path": model.path},
        )
    except ModelError as exc:
        error = str(exc)
        log.error(
            "no usable model; serving no_model until a reload succeeds", extra={"error": error}
        )

    io = Stdio(0, proto_fd, args.spin_us / 1e6)
    server = Server(
        io,
        model,
        error,
        lambda wake: Reloader(load_model, lambda: os.path.realpath(args.model), wake),
        status_file=args.status_file,
        resync_s=args.resync_ms / 1000.0,
    )

    def on_hup(_sig: int, _frame: FrameType | None) -> None:
        server.on_hup()

    def on_stop(_sig: int, _frame: FrameType | None) -> None:
        server.on_stop()

    # Everything loaded so far lives for the whole run: keep the cyclic GC from
    # rescanning it on every young-generation pass (it shows up in p99).
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    # A signal during a blocking poll() writes to this fd, so the loop wakes up.
    signal.set_wakeup_fd(io.wake_w, warn_on_full_buffer=False)
    for signum in early:
        (server.on_hup if signum == signal.SIGHUP else server.on_stop)()
    try:
        return server.run()
    except BrokenPipeError:
        log.warning("stdout closed by the reader; exiting")
        return 0
    finally:
        signal.set_wakeup_fd(-1)
        io.close()
        if pidfile is not None:
            pidfile.release()


if __name__ == "__main__":
    sys.exit(main())
