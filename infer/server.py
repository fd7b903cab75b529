"""The serving loop: read what is available, answer it as one batch, one write.

Each turn of the loop decodes every complete message read, answers non-predict
requests directly, scores the records of all `predict` requests with a single
onnxruntime call, and writes every response and notification with one write.
Model swaps from the reloader happen only between turns.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from infer import batch
from infer import protocol as proto
from infer.model import Model
from infer.outbox import Outbox
from infer.records import flatten, parse_threshold
from infer.reload import Attempt, Reloader, settle
from infer.single import SinglePath
from infer.stats import Stats
from infer.status import write_status
from infer.transport import Stdio

_NUMBERS = {float, int}
# At a signal, at most this much of what waits in stdin is read and answered
# (docs/PROTOCOL.md, Shutdown).
SHUTDOWN_READ_LIMIT = 16 * proto.MAX_MESSAGE_BYTES
log = logging.getLogger("infer")


class Server:
    def __init__(
        self,
        io: Stdio,
        model: Model | None,
        load_error: str | None,
        reloader_factory: Callable[[Callable[[], None]], Reloader],
        status_file: str | None = None,
        resync_s: float = 0.5,
    ) -> None:
        self.io = io
        self.model = model
        self.load_error = load_error
        self.reloader = reloader_factory(io.wake)
        self.status_file = status_file
        self.resync_s = resync_s
        self.stats = Stats()
        self.decoder = proto.Decoder()
        self.out = Outbox(io, self.stats.errors)
        self.stopping = False
        self.hup = False
        self._waiters: list[tuple[int, int]] = []  # (msgid, reload attempt number)
        self._last_data = time.monotonic()
        self._single = SinglePath()

    # --- signals (handlers only set flags; the loop acts on them) -------------

    def on_hup(self) -> None:
        self.hup = True

    def on_stop(self) -> None:
        self.stopping = True

    def _interrupted(self) -> bool:
        return self.stopping or self.hup or self.reloader.results != []

    # --- the loop --------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        m = self.model
        return {
            "protocol": proto.PROTOCOL_VERSION,
            "pid": os.getpid(),
            "model": m.info() if m else None,
            "error": None if m else self.load_error,
        }

    def run(self) -> int:
        self._write_status(self.load_error)
        self.out.pack([proto.NOTIFICATION, "ready", [self.info()]])
        self.out.flush()
        io = self.io
        while True:
            if self.hup:
                self.hup = False
                self.reloader.request()
            if self.reloader.results:
                self._apply_reloads()
            if self.stopping:
                self._handle(io.read_available(SHUTDOWN_READ_LIMIT))
                break
            timeout = None
            if self.decoder.pending:
                timeout = max(0.0, self._last_data + self.resync_s - time.monotonic())
            data = io.read(timeout, self._interrupted)
            if data is None:
                if self.decoder.pending and time.monotonic() - self._last_data >= self.resync_s:
                    err = self.decoder.discard_incomplete()
                    if err:
                        self.out.notify_error(err)
                        self.out.flush()
                continue
            if not data:  # EOF
                if self.decoder.pending:
                    self.out.notify_error(
                        proto.RPCError(
                            proto.BAD_MESSAGE,
                            f"stdin closed inside a message of {self.decoder.pending} bytes",
                        )
                    )
                    self.out.flush()
                break
            self._handle(data)
            if self.decoder.pending:  # the idle-resync clock runs from the last bytes read
                self._last_data = time.monotonic()
        self._finish_reloads()
        snap = self.stats.snapshot(None)
        log.info(
            "exiting",
            extra={
                "requests": snap["requests"],
                "records": snap["records"],
                "spin_pauses": self.io.spin_pauses,
            },
        )
        return 0

    def _handle(self, data: bytes | memoryview) -> None:
        if not data:
            return
        t0 = time.perf_counter_ns()
        model = self.model
        if self.decoder.pending == 0 and model is not None:
            answered = self._single.answer(model, data)
            if answered is not None:
                payload, records = answered
                self.io.write(payload, ping=True)
                stats = self.stats
                if records == 1:
                    stats.singles += 1
                else:
                    stats.requests += 1
                    stats.records += records
                    stats.batches += 1
                stats.observe_one(time.perf_counter_ns() - t0)
                return
        objs, stream_errors = self.decoder.feed(data)
        requests = self._dispatch(objs)
        for err in stream_errors:
            self.out.notify_error(err)
        self.out.flush(ping=requests == 1 and not stream_errors)
        self.stats.requests += requests
        self.stats.observe(time.perf_counter_ns() - t0, requests)

    def _dispatch(self, objs: list[Any]) -> int:
        """Answer every message of one read; score all predict records in one batch."""
        pack = self.out.pack
        model = self.model
        width = len(model.features) if model else 0
        default_t = model.threshold if model else 0.0
        predicts: list[batch.Request] = []
        flat: list[float | int] = []
        requests = 0
        for obj in objs:
            if (
                type(obj) is list
                and len(obj) == 4
                and obj[0] == 0
                and type(obj[0]) is int
                and type(obj[1]) is int
                and 0 <= obj[1] < proto.MAX_MSGID
                and type(obj[2]) is str
                and type(obj[3]) is list
            ):
                _, msgid, method, params = obj
            else:
                try:
                    req = proto.classify(obj)
                except proto.RPCError as err:
                    self.out.notify_error(err)
                    continue
                except proto.Answerable as a:
                    requests += 1
                    self.out.fail(a.msgid, a.error)
                    continue
                msgid, method, params = req.msgid, req.method, req.params
            requests += 1
            try:
                if method == "predict":
                    if len(params) == 1:
                        t = default_t
                    else:
                        t = parse_threshold(params)
                        t = default_t if t is None else t
                    records = params[0]
                    if model is None:
                        parse_threshold(params)
                        raise proto.RPCError(
                            proto.NO_MODEL, f"no model is loaded: {self.load_error}"
                        )
                    if (
                        type(records) is list
                        and len(records) == 1
                        and type(records[0]) is list
                        and len(records[0]) == width
                        and set(map(type, records[0])) <= _NUMBERS
                    ):
                        flat.extend(records[0])  # finiteness is checked for the whole batch
                    else:
                        parse_threshold(params)
                        flat.extend(flatten(records, model.features))
                    predicts.append((msgid, records, len(records), t))
                elif method == "info":
                    self._no_params(method, params)
                    pack([proto.RESPONSE, msgid, None, self.info()])
                elif method == "stats":
                    self._no_params(method, params)
                    pack([proto.RESPONSE, msgid, None, self._stats()])
                elif method == "reload":
                    self._no_params(method, params)
                    self._waiters.append((msgid, self.reloader.request()))
                else:
                    raise proto.RPCError(
                        proto.UNKNOWN_METHOD,
                        f"unknown method {proto.describe(method)} (predict, info, stats, reload)",
                    )
            except proto.RPCError as err:
                self.out.fail(msgid, err)
            except Exception as exc:  # a bug answers one request, never kills the loop
                log.exception("internal error", extra={"method": method})
                self.out.fail(msgid, proto.RPCError(proto.INTERNAL, f"{type(exc).__name__}: {exc}"))
        if predicts and model is not None:
            self._score(model, predicts, flat)
        return requests

    def _score(self, model: Model, requests: list[batch.Request], flat: list[float | int]) -> None:
        scored = batch.score(model, requests, flat)
        for msgid, err in scored.errors:
            self.out.fail(msgid, err)
        pack = self.out.pack
        for msgid, result in scored.results:
            pack([proto.RESPONSE, msgid, None, result])
        self.stats.records += scored.records
        self.stats.batches += 1

    # --- responses ----------------------------------------------------------------

    @staticmethod
    def _no_params(method: str, params: list[Any]) -> None:
        if params:
            raise proto.RPCError(proto.BAD_REQUEST, f"{method} takes no params, got {len(params)}")

    def _stats(self) -> dict[str, Any]:
        snap = self.stats.snapshot(self.model.loaded_mono if self.model else None)
        return snap | self.io.spin_stats()

    # --- reloads --------------------------------------------------------------------

    def _apply_reloads(self) -> None:
        for attempt in self.reloader.finished():
            self._apply(attempt)
        self.out.flush()

    def _apply(self, attempt: Attempt) -> None:
        done, self._waiters = settle(self._waiters, attempt.number)
        if attempt.model is not None:
            old = self.model.version if self.model else None
            self.model, self.load_error = attempt.model, None
            self.stats.reloads += 1
            info = self.info()
            self.out.notify("model_loaded", info)
            for msgid in done:
                self.out.respond(msgid, info)
            log.info(
                "model loaded",
                extra={"old": old, "new": attempt.model.version, "path": attempt.path},
            )
        else:
            self.stats.failed_reloads += 1
            self.out.notify("reload_failed", {"error": attempt.error, "path": attempt.path})
            for msgid in done:
                self.out.fail(msgid, proto.RPCError(proto.RELOAD_FAILED, str(attempt.error)))
            log.warning(
                "reload failed; keeping the old model"
                if self.model
                else "reload failed; no model is loaded, so predictions keep failing",
                extra={"error": attempt.error, "path": attempt.path},
            )
        self._write_status(attempt.error)

    def _finish_reloads(self) -> None:
        """At exit, let an in-flight reload finish so `reload` callers get an answer."""
        if self._waiters:
            self.reloader.join(timeout=30)
            self._apply_reloads()
            for msgid, _ in self._waiters:
                self.out.fail(
                    msgid,
                    proto.RPCError(proto.RELOAD_FAILED, "shutting down before the reload finished"),
                )
            self._waiters = []
            self.out.flush()

    def _write_status(self, last_error: str | None) -> None:
        if self.status_file:
            write_status(self.status_file, self.model.info() if self.model else None, last_error)
