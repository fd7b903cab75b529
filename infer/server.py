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

import msgpack
import numpy as np

from infer import protocol as proto
from infer.model import Model
from infer.records import flatten, parse_threshold, raise_first_bad
from infer.reload import Attempt, Reloader
from infer.stats import Stats
from infer.status import write_status
from infer.transport import Stdio

_NUMBERS = {float, int}
_MAX_MSGID = proto.MAX_MSGID
# At most this many `error` notifications per turn; the rest are summarised in
# one more, so random bytes cannot flood the client.
MAX_NOTIFICATIONS_PER_TURN = 16

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
        self._out_fd = io.out_fd
        self.model = model
        self.load_error = load_error
        self.reloader = reloader_factory(io.wake)
        self.status_file = status_file
        self.resync_s = resync_s
        self.stats = Stats()
        self.decoder = proto.Decoder()
        self.packer = msgpack.Packer(autoreset=False)
        self.stopping = False
        self.hup = False
        self._waiters: list[tuple[int, int]] = []  # (msgid, reload attempt number)
        self._last_data = time.monotonic()
        self._notes = 0
        self._suppressed = 0
        self._single: proto.SinglePredict | None = None

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
        self.packer.pack([proto.NOTIFICATION, "ready", [self.info()]])
        self._flush()
        io = self.io
        while True:
            if self.hup:
                self.hup = False
                self.reloader.request()
            if self.reloader.results:
                self._apply_reloads()
            if self.stopping:
                self._handle(io.read_available())
                break
            timeout = None
            if self.decoder.pending:
                timeout = max(0.0, self._last_data + self.resync_s - time.monotonic())
            data = io.read(timeout, self._interrupted)
            if data is None:
                if self.decoder.pending and time.monotonic() - self._last_data >= self.resync_s:
                    err = self.decoder.discard_incomplete()
                    if err:
                        self._notify_error(err)
                        self._flush()
                continue
            if not data:  # EOF
                if self.decoder.pending:
                    self._notify_error(
                        proto.RPCError(
                            proto.BAD_MESSAGE,
                            f"stdin closed inside a message of {self.decoder.pending} bytes",
                        )
                    )
                    self._flush()
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
        if self.decoder.pending == 0:
            # Commonest case: the Go predictor's one-record request, matched
            # from its bytes (protocol.SinglePredict).
            model = self.model
            if model is not None:
                single = self._single
                if single is None or single.width != len(model.features):
                    single = self._single = proto.SinglePredict(len(model.features))
                req = single.match(data)
                if req is not None:
                    scored = model.scorer.one32(req[1])
                    if scored is not None:
                        self._answer_one(model, req[0], scored, model.threshold, t0)
                        return
            # Common case: the read holds exactly one whole request. Decoding it
            # directly skips the stream decoder; anything else (several
            # messages, a partial one, garbage) goes through the decoder.
            # unpackb's own limits derive from len(data) <= READ_CHUNK, inside ours.
            try:
                obj = msgpack.unpackb(data, strict_map_key=False)
            except Exception:
                objs, stream_errors = self.decoder.feed(data)
            else:
                if self._predict_one(obj, t0):
                    return
                objs, stream_errors = [obj], []
        else:
            objs, stream_errors = self.decoder.feed(data)
        self._notes = 0
        self._suppressed = 0
        requests = self._dispatch(objs)
        for err in stream_errors:
            self._notify_error(err)
        if self._suppressed:
            note = {"code": proto.BAD_MESSAGE, "message": f"{self._suppressed} more bad messages"}
            self.packer.pack([proto.NOTIFICATION, "error", [note]])
        self._flush()
        self.stats.requests += requests
        self.stats.observe(time.perf_counter_ns() - t0, requests)

    def _predict_one(self, obj: Any, t0: int) -> bool:
        """Answer a lone predict request with one valid array record; False if it is not one."""
        model = self.model
        if (
            model is None
            or type(obj) is not list
            or len(obj) != 4
            or obj[2] != "predict"
            or obj[0] != 0
            or type(obj[0]) is not int
        ):
            return False
        msgid, params = obj[1], obj[3]
        if type(msgid) is not int or not 0 <= msgid < _MAX_MSGID or type(params) is not list:
            return False
        if len(params) == 1:
            t = model.threshold
        elif len(params) == 2 and type(params[1]) is float and 0.0 <= params[1] <= 1.0:
            t = params[1]
        elif len(params) == 2 and params[1] is None:
            t = model.threshold
        else:
            return False
        records = params[0]
        if type(records) is not list or len(records) != 1 or type(records[0]) is not list:
            return False
        scored = model.scorer.one(records[0])
        if scored is None:
            return False
        self._answer_one(model, msgid, scored, t, t0)
        return True

    def _answer_one(
        self, model: Model, msgid: int, scored: tuple[float, bool | None], t: float, t0: int
    ) -> None:
        p, ood = scored
        payload = model.one_result.encode(msgid, p, t, ood)
        try:
            n = os.write(self._out_fd, payload)  # the common case, without the wrapper
        except (BlockingIOError, InterruptedError):
            n = 0
        if n != len(payload):
            self.io.write_rest(memoryview(payload)[n:])
        stats = self.stats
        stats.singles += 1
        stats.observe_one(time.perf_counter_ns() - t0)

    def _dispatch(self, objs: list[Any]) -> int:
        """Answer every message of one read; score all predict records in one batch."""
        pack = self.packer.pack
        model = self.model
        width = len(model.features) if model else 0
        default_t = model.threshold if model else 0.0
        batch: list[tuple[int, list[Any], int, float]] = []  # msgid, records, n, threshold
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
                    self._notify_error(err)
                    continue
                except proto.Answerable as a:
                    requests += 1
                    self._answer_error(a.msgid, a.error)
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
                    batch.append((msgid, records, len(records), t))
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
                        f"unknown method {method!r} (predict, info, stats, reload)",
                    )
            except proto.RPCError as err:
                self._answer_error(msgid, err)
            except Exception as exc:  # a bug answers one request, never kills the loop
                log.exception("internal error", extra={"method": method})
                self._answer_error(
                    msgid, proto.RPCError(proto.INTERNAL, f"{type(exc).__name__}: {exc}")
                )
        if batch and model is not None:
            self._score(model, batch, flat)
        return requests

    def _score(
        self, model: Model, batch: list[tuple[int, list[Any], int, float]], flat: list[float | int]
    ) -> None:
        width = len(model.features)
        with np.errstate(over="ignore"):  # overflow to ±Inf is handled just below
            rows = np.array(flat, dtype=np.float32).reshape(-1, width)
        if not np.isfinite(rows).all():
            batch, rows = self._drop_float32_overflow(model, batch, rows)
            if not batch:
                return
        try:
            p = model.predict(rows)
        except Exception as exc:
            log.exception("onnxruntime failed", extra={"rows": len(rows)})
            for msgid, *_ in batch:
                self._answer_error(
                    msgid, proto.RPCError(proto.INTERNAL, f"onnxruntime failed: {exc}")
                )
            return
        if not (p.min() >= 0.0 and p.max() <= 1.0):  # a NaN makes min() NaN
            batch, rows, p = self._drop_bad_output(model, batch, rows, p)
            if not batch:
                return
        ps = p.tolist()
        ood = model.ood(rows)
        version = model.version
        pack = self.packer.pack
        start = 0
        for msgid, _, n, t in batch:
            if n == 1:
                x = ps[start]
                pack(
                    [
                        proto.RESPONSE,
                        msgid,
                        None,
                        {
                            "p": [x],
                            "approve": [x >= t],
                            "threshold": t,
                            "version": version,
                            "ood": None if ood is None else [ood[start]],
                        },
                    ]
                )
                start += 1
                continue
            end = start + n
            pslice = ps[start:end]
            pack(
                [
                    proto.RESPONSE,
                    msgid,
                    None,
                    {
                        "p": pslice,
                        "approve": [x >= t for x in pslice],
                        "threshold": t,
                        "version": version,
                        "ood": None if ood is None else ood[start:end],
                    },
                ]
            )
            start = end
        self.stats.records += start
        self.stats.batches += 1

    def _drop_requests(
        self,
        batch: list[tuple[int, list[Any], int, float]],
        row_ok: np.ndarray,
        error_for: Callable[[tuple[int, list[Any], int, float], int, int], proto.RPCError],
    ) -> tuple[list[tuple[int, list[Any], int, float]], np.ndarray]:
        """Answer error_for(request, its first row, index of its first bad row)
        to every request with a row that is not row_ok; return the other
        requests and the mask of their rows."""
        kept_rows = np.ones(len(row_ok), dtype=bool)
        keep, start = [], 0
        for item in batch:
            end = start + item[2]
            bad = np.flatnonzero(~row_ok[start:end])
            if len(bad):
                kept_rows[start:end] = False
                self._answer_error(item[0], error_for(item, start, int(bad[0])))
            else:
                keep.append(item)
            start = end
        return keep, kept_rows

    def _drop_float32_overflow(
        self, model: Model, batch: list[tuple[int, list[Any], int, float]], rows: np.ndarray
    ) -> tuple[list[tuple[int, list[Any], int, float]], np.ndarray]:
        """Answer requests holding values too big for float32; keep the others."""

        def error_for(item: tuple[int, list[Any], int, float], _: int, __: int) -> proto.RPCError:
            try:
                raise_first_bad(item[1], model.features)
            except proto.RPCError as exc:
                return exc
            return proto.RPCError(proto.BAD_FEATURES, "a value is not a finite float32")

        keep, kept_rows = self._drop_requests(batch, np.isfinite(rows).all(axis=1), error_for)
        return keep, rows[kept_rows]

    def _drop_bad_output(
        self,
        model: Model,
        batch: list[tuple[int, list[Any], int, float]],
        rows: np.ndarray,
        p: np.ndarray,
    ) -> tuple[list[tuple[int, list[Any], int, float]], np.ndarray, np.ndarray]:
        """Answer bad_output to requests with a record the model scored outside
        [0, 1] or NaN (no decision is made on it); keep the others."""

        def error_for(_: tuple[int, list[Any], int, float], start: int, i: int) -> proto.RPCError:
            value = float(p[start + i])
            log.error(
                "model output is not a probability",
                extra={"version": model.version, "record": i, "p": repr(value)},
            )
            return proto.RPCError(
                proto.BAD_OUTPUT,
                f"model {model.version} scored record {i} as {value!r}, "
                "not a probability in [0, 1]; no decision was made",
                record=i,
            )

        keep, kept_rows = self._drop_requests(batch, (p >= 0.0) & (p <= 1.0), error_for)
        return keep, rows[kept_rows], p[kept_rows]

    # --- responses ----------------------------------------------------------------

    @staticmethod
    def _no_params(method: str, params: list[Any]) -> None:
        if params:
            raise proto.RPCError(proto.BAD_REQUEST, f"{method} takes no params, got {len(params)}")

    def _answer_error(self, msgid: int, err: proto.RPCError) -> None:
        self.stats.errors[err.code] += 1
        log.debug("request failed", extra={"msgid": msgid, "code": err.code, "error": err.message})
        self.packer.pack([proto.RESPONSE, msgid, err.to_wire(), None])

    def _notify_error(self, err: proto.RPCError) -> None:
        self.stats.errors[err.code] += 1
        if self._notes >= MAX_NOTIFICATIONS_PER_TURN:
            self._suppressed += 1
            return
        self._notes += 1
        log.warning("bad input", extra={"code": err.code, "error": err.message})
        self.packer.pack([proto.NOTIFICATION, "error", [err.to_wire()]])

    def _flush(self) -> None:
        buf = self.packer.getbuffer()
        if len(buf):
            self.io.write(buf)
        del buf  # release the export before reset() may resize the buffer
        self.packer.reset()

    def _stats(self) -> dict[str, Any]:
        snap = self.stats.snapshot(self.model.loaded_mono if self.model else None)
        snap["spin_pauses"] = self.io.spin_pauses
        return snap

    # --- reloads --------------------------------------------------------------------

    def _apply_reloads(self) -> None:
        for attempt in self.reloader.finished():
            self._apply(attempt)
        self._flush()

    def _apply(self, attempt: Attempt) -> None:
        pack = self.packer.pack
        if attempt.model is not None:
            old = self.model.version if self.model else None
            self.model = attempt.model
            self.load_error = None
            self.stats.reloads += 1
            info = self.info()
            pack([proto.NOTIFICATION, "model_loaded", [info]])
            self._write_status(None)
            log.info(
                "model loaded",
                extra={"old": old, "new": attempt.model.version, "path": attempt.path},
            )
            result: dict[str, Any] | None = info
            error = None
        else:
            self.stats.failed_reloads += 1
            pack(
                [
                    proto.NOTIFICATION,
                    "reload_failed",
                    [{"error": attempt.error, "path": attempt.path}],
                ]
            )
            self._write_status(attempt.error)
            log.warning(
                "reload failed; keeping the old model",
                extra={"error": attempt.error, "path": attempt.path},
            )
            result = None
            error = proto.RPCError(proto.RELOAD_FAILED, str(attempt.error))
        still = []
        for msgid, number in self._waiters:
            if number > attempt.number:
                still.append((msgid, number))
            elif error is None:
                pack([proto.RESPONSE, msgid, None, result])
            else:
                self._answer_error(msgid, error)
        self._waiters = still

    def _finish_reloads(self) -> None:
        """At exit, let an in-flight reload finish so `reload` callers get an answer."""
        if self._waiters:
            self.reloader.join(timeout=30)
            self._apply_reloads()
            for msgid, _ in self._waiters:
                self._answer_error(
                    msgid,
                    proto.RPCError(proto.RELOAD_FAILED, "shutting down before the reload finished"),
                )
            self._waiters = []
            self._flush()

    def _write_status(self, last_error: str | None) -> None:
        if not self.status_file:
            return
        try:
            write_status(self.status_file, self.model.info() if self.model else None, last_error)
        except OSError as exc:
            log.error(
                "cannot write the status file", extra={"path": self.status_file, "error": str(exc)}
            )
