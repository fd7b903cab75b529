"""MessagePack-RPC framing: stream decoding with limits and resync, message shapes.

Pure logic, no I/O: the server feeds bytes in and gets messages and protocol
errors out. docs/PROTOCOL.md is the contract this module implements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

PROTOCOL_VERSION = 1

REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2
MAX_MSGID = 2**32

# One message may be at most this many bytes of MessagePack (PROTOCOL.md, Limits).
MAX_MESSAGE_BYTES = 1 << 20
MAX_RECORDS = 65_536

BAD_REQUEST = "bad_request"
BAD_FEATURES = "bad_features"
UNKNOWN_METHOD = "unknown_method"
NO_MODEL = "no_model"
RELOAD_FAILED = "reload_failed"
BAD_MESSAGE = "bad_message"
TOO_LARGE = "too_large"
BAD_OUTPUT = "bad_output"
INTERNAL = "internal"
ERROR_CODES = (
    BAD_REQUEST,
    BAD_FEATURES,
    UNKNOWN_METHOD,
    NO_MODEL,
    RELOAD_FAILED,
    BAD_MESSAGE,
    TOO_LARGE,
    BAD_OUTPUT,
    INTERNAL,
)


class RPCError(Exception):
    """An error that answers one request (or becomes an `error` notification)."""

    def __init__(
        self, code: str, message: str, record: int | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.record = record
        self.field = field

    def to_wire(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.record is not None:
            err["record"] = self.record
        if self.field is not None:
            err["field"] = self.field
        return err


@dataclass(frozen=True, slots=True)
class Request:
    msgid: int
    method: str
    params: list[Any]


def _describe(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


def classify(obj: Any) -> Request:
    """Turn one decoded object into a Request, or raise.

    Raises RPCError(bad_message) when there is no msgid to answer (the caller
    sends a notification), and an Answerable wrapping the error when there is.
    """
    if type(obj) is not list or not obj:
        raise RPCError(BAD_MESSAGE, f"not a msgpack-rpc array: {_describe(obj)}")
    kind = obj[0]
    if kind == REQUEST and type(kind) is int and len(obj) == 4:
        msgid = obj[1]
        if type(msgid) is not int or not 0 <= msgid < MAX_MSGID:
            raise RPCError(
                BAD_MESSAGE,
                f"request msgid must be an integer in [0, 2^32), got {_describe(msgid)}",
            )
        method, params = obj[2], obj[3]
        if type(method) is not str:
            raise Answerable(
                msgid, RPCError(BAD_REQUEST, f"method must be a string, got {_describe(method)}")
            )
        if type(params) is not list:
            raise Answerable(
                msgid, RPCError(BAD_REQUEST, f"params must be an array, got {_describe(params)}")
            )
        return Request(msgid, method, params)
    if kind == NOTIFICATION and type(kind) is int and len(obj) == 3:
        raise RPCError(
            BAD_MESSAGE, f"notifications from the client are not accepted: {_describe(obj[1])}"
        )
    if kind == RESPONSE and type(kind) is int and len(obj) == 4:
        raise RPCError(BAD_MESSAGE, "responses from the client are not accepted")
    raise RPCError(BAD_MESSAGE, f"not a msgpack-rpc request: {_describe(obj)}")


class Answerable(Exception):  # noqa: N818 - a carrier, not an error condition
    """A request bad enough to reject but with a msgid to answer."""

    def __init__(self, msgid: int, error: RPCError) -> None:
        super().__init__(error.message)
        self.msgid = msgid
        self.error = error


UNPACK_LIMITS: dict[str, Any] = {
    "raw": False,
    "strict_map_key": False,  # a non-str key is a bad feature name, not a broken stream
    "max_str_len": MAX_MESSAGE_BYTES,
    "max_bin_len": MAX_MESSAGE_BYTES,
    "max_ext_len": MAX_MESSAGE_BYTES,
    "max_array_len": MAX_MESSAGE_BYTES,
    "max_map_len": MAX_MESSAGE_BYTES,
}


def _new_unpacker() -> msgpack.Unpacker:
    # max_buffer_size is a safety net; the exact limit is checked in Decoder.
    return msgpack.Unpacker(max_buffer_size=4 * MAX_MESSAGE_BYTES, **UNPACK_LIMITS)


class Decoder:
    """Turns a byte stream into MessagePack objects, enforcing PROTOCOL.md's limits.

    feed() returns the complete objects and the stream errors found. A stream
    error (undecodable bytes, an over-limit message) discards everything
    buffered but not yet decoded; decoding restarts with the next bytes fed.
    """

    def __init__(self) -> None:
        self._unpacker = _new_unpacker()
        self._fed = 0  # bytes fed to the current unpacker
        self._mark = 0  # where the next, not yet complete, message starts
        # Whether reads look like one whole message each, so one unpackb() is
        # worth trying first; cleared when that fails, set again when the
        # stream decoder finds a read that held exactly one message.
        self._lone = True

    @property
    def pending(self) -> int:
        """Bytes buffered that do not yet form a complete message."""
        # tell() counts bytes a partial parse has consumed, so track our own mark.
        return self._fed - self._mark

    def reset(self) -> None:
        self._unpacker = _new_unpacker()
        self._fed = 0
        self._mark = 0

    def feed(self, data: bytes | memoryview) -> tuple[list[Any], list[RPCError]]:
        if self._lone and self.pending == 0 and len(data) <= MAX_MESSAGE_BYTES:
            # Common case: the read is exactly one whole message, which one
            # unpackb() decodes at less than half the cost of the stream decoder.
            # Anything else (several messages, a partial one, garbage) raises,
            # after decoding the first message in vain: a client that sends
            # batches skips this until a read holds one message again.
            try:
                return [msgpack.unpackb(data, **UNPACK_LIMITS)], []
            except Exception:
                self._lone = False
        objs: list[Any] = []
        errors: list[RPCError] = []
        unpacker = self._unpacker
        try:
            unpacker.feed(data)
        except msgpack.BufferFull:
            self.reset()
            return objs, [RPCError(TOO_LARGE, f"message over {MAX_MESSAGE_BYTES} bytes discarded")]
        self._fed += len(data)
        start = self._mark
        try:
            for obj in unpacker:
                end = unpacker.tell()
                if end - start > MAX_MESSAGE_BYTES:
                    errors.append(
                        RPCError(
                            TOO_LARGE,
                            f"message of {end - start} bytes > limit {MAX_MESSAGE_BYTES}",
                        )
                    )
                else:
                    objs.append(obj)
                start = self._mark = end
        except ValueError as exc:  # includes FormatError, StackError, over-limit headers
            self.reset()
            errors.append(
                RPCError(
                    BAD_MESSAGE,
                    f"undecodable MessagePack ({str(exc) or type(exc).__name__}); buffer discarded",
                )
            )
            return objs, errors
        except Exception as exc:  # e.g. TypeError: an unhashable map key
            self.reset()
            errors.append(
                RPCError(
                    BAD_MESSAGE,
                    f"undecodable MessagePack ({type(exc).__name__}: {exc}); buffer discarded",
                )
            )
            return objs, errors
        if self.pending > MAX_MESSAGE_BYTES:
            self.reset()
            errors.append(RPCError(TOO_LARGE, f"message over {MAX_MESSAGE_BYTES} bytes discarded"))
        self._lone = len(objs) == 1 and not errors and self.pending == 0
        return objs, errors

    def discard_incomplete(self) -> RPCError | None:
        """Drop a partial message (the idle-resync rule); say so if there was one."""
        n = self.pending
        if n == 0:
            return None
        self.reset()
        return RPCError(
            BAD_MESSAGE, f"incomplete message of {n} bytes discarded after an idle pause"
        )
