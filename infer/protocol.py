"""MessagePack-RPC framing: stream decoding with limits and resync, message shapes.

Pure logic, no I/O: the server feeds bytes in and gets messages and protocol
errors out. docs/PROTOCOL.md is the contract this module implements.
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass
from typing import Any

import msgpack

from infer.skip import Skipper

# 2: a response's error is an array [code, message, details?], no longer a map.
PROTOCOL_VERSION = 2

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
# Every code the sidecar sends; docs/PROTOCOL.md's table is checked against it.
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

    def to_wire(self) -> list[Any]:
        """The error element of a response: [code, message] or, with details,
        [code, message, {"record": int, "field": str}] (docs/PROTOCOL.md, Errors).
        An array because that is what msgpack-rpc clients (pynvim, neovim's Go
        client) read: element 1 is the message."""
        details: dict[str, Any] = {}
        if self.record is not None:
            details["record"] = self.record
        if self.field is not None:
            details["field"] = self.field
        return [self.code, self.message, details] if details else [self.code, self.message]

    @classmethod
    def from_wire(cls, err: Any) -> RPCError:
        """The error element of a response as an RPCError: the array of
        to_wire(), a protocol 1 map, or another server's bare value."""
        if type(err) is list and err:
            code = err[0] if type(err[0]) is str else str(err[0])
            message = err[1] if len(err) > 1 and type(err[1]) is str else ""
            details = err[2] if len(err) > 2 and type(err[2]) is dict else {}
            return cls(code, message, details.get("record"), details.get("field"))
        if type(err) is dict:
            return cls(
                str(err.get("code", INTERNAL)),
                str(err.get("message", "")),
                err.get("record"),
                err.get("field"),
            )
        return cls(INTERNAL, str(err))

    def __str__(self) -> str:
        where = "" if self.record is None else f" (record {self.record}"
        if where and self.field is not None:
            where += f", field {self.field}"
        return f"{self.code}: {self.message}{where + ')' if where else ''}"

    def to_map(self) -> dict[str, Any]:
        """The param of an `error` notification: {"code": str, "message": str}."""
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Request:
    msgid: int
    method: str
    params: list[Any]


# Describes a bad value in an error message. reprlib stops at maxlevel, so a
# message nested thousands of levels deep costs a few lines, not a RecursionError.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 3, 4, 4
_REPR.maxstring = _REPR.maxother = 40


def describe(obj: Any) -> str:
    text = _REPR.repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


def classify(obj: Any) -> Request:
    """Turn one decoded object into a Request, or raise.

    Raises RPCError(bad_message) when there is no msgid to answer (the caller
    sends a notification), and an Answerable wrapping the error when there is.
    """
    if type(obj) is not list or not obj:
        raise RPCError(BAD_MESSAGE, f"not a msgpack-rpc array: {describe(obj)}")
    kind = obj[0]
    if kind == REQUEST and type(kind) is int and len(obj) == 4:
        msgid = obj[1]
        if type(msgid) is not int or not 0 <= msgid < MAX_MSGID:
            raise RPCError(
                BAD_MESSAGE,
                f"request msgid must be an integer in [0, 2^32), got {describe(msgid)}",
            )
        method, params = obj[2], obj[3]
        if type(method) is not str:
            raise Answerable(
                msgid, RPCError(BAD_REQUEST, f"method must be a string, got {describe(method)}")
            )
        if type(params) is not list:
            raise Answerable(
                msgid, RPCError(BAD_REQUEST, f"params must be an array, got {describe(params)}")
            )
        return Request(msgid, method, params)
    if kind == NOTIFICATION and type(kind) is int and len(obj) == 3:
        raise RPCError(
            BAD_MESSAGE, f"notifications from the client are not accepted: {describe(obj[1])}"
        )
    if kind == RESPONSE and type(kind) is int and len(obj) == 4:
        raise RPCError(
            BAD_MESSAGE, f"responses from the client are not accepted: {describe(obj[1])}"
        )
    raise RPCError(BAD_MESSAGE, f"not a msgpack-rpc request: {describe(obj)}")


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


# How msgpack words a header over one of UNPACK_LIMITS' max_*_len.
_OVER_LIMIT = re.compile(r"exceeds max_(str|bin|ext|array|map)_len")


class Decoder:
    """Turns a byte stream into MessagePack objects, enforcing PROTOCOL.md's limits.

    feed() returns the complete objects and the stream errors found. A message
    over the size limit is reported once and skipped by the lengths its headers
    declare (infer/skip.py), however many bytes it has. Other undecodable
    bytes discard everything buffered but not yet decoded; decoding restarts
    with the next bytes fed.
    """

    def __init__(self) -> None:
        self._unpacker = _new_unpacker()
        self._fed = 0  # bytes fed to the current unpacker
        self._mark = 0  # where the next, not yet complete, message starts
        # The bytes of that incomplete message: what the skipper walks if it
        # turns out too large (the unpacker does not give its buffer back).
        self._tail = bytearray()
        self._skip: Skipper | None = None  # skipping the rest of a too-large message
        # Whether reads look like one whole message each, so one unpackb() is
        # worth trying first; cleared when that fails, set again when the
        # stream decoder finds a read that held exactly one message.
        self._lone = True

    @property
    def pending(self) -> int:
        """Bytes buffered (or skipped) that do not yet form a complete message."""
        if self._skip is not None:
            return max(1, self._skip.skipped)
        # tell() counts bytes a partial parse has consumed, so track our own mark.
        return self._fed - self._mark

    def reset(self) -> None:
        self._unpacker = _new_unpacker()
        self._fed = 0
        self._mark = 0
        self._tail = bytearray()
        self._skip = None

    def feed(self, data: bytes | memoryview) -> tuple[list[Any], list[RPCError]]:
        objs: list[Any] = []
        errors: list[RPCError] = []
        # The unpacker holds a few messages' worth (max_buffer_size), and a
        # read can hold far more (a shutdown drains the pipe in one): feed it
        # a piece at a time.
        pieces: list[bytes | memoryview] = [data]
        if len(data) > MAX_MESSAGE_BYTES:
            view, step = memoryview(data), MAX_MESSAGE_BYTES
            pieces = [view[i : i + step] for i in range(0, len(view), step)]
        for piece in pieces:
            rest: bytes | memoryview | None = piece
            while rest is not None:
                rest = self._feed(rest, objs, errors)
        return objs, errors

    def _feed(
        self, data: bytes | memoryview, objs: list[Any], errors: list[RPCError]
    ) -> bytes | memoryview | None:
        """Decode data (at most MAX_MESSAGE_BYTES) into objs and errors; what
        is left to decode afresh after a skipped message, else None. A loop,
        not recursion, goes through a read of many skipped messages."""
        if self._skip is not None:
            n = self._skip.feed(data)
            if not self._skip.done:
                return None
            self._skip = None
            data = data[n:]
            if not data:
                return None
        if self._lone and self.pending == 0:
            # Common case: the read is exactly one whole message, which one
            # unpackb() decodes at less than half the cost of the stream decoder.
            # Anything else (several messages, a partial one, garbage) raises,
            # after decoding the first message in vain: a client that sends
            # batches skips this until a read holds one message again.
            try:
                objs.append(msgpack.unpackb(data, **UNPACK_LIMITS))
                return None
            except Exception:
                self._lone = False
        n_objs, n_errors = len(objs), len(errors)
        unpacker = self._unpacker
        fed_before = self._fed
        try:
            unpacker.feed(data)
        except msgpack.BufferFull:
            return self._skip_message(self._from_mark(fed_before, data), errors)
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
        except msgpack.StackError:
            # Nested deeper than msgpack's fixed stack (1024 levels; it has no
            # option for it): skip the message by its headers, which needs no
            # stack, so requests after it in the same read are still answered.
            err = RPCError(BAD_MESSAGE, "message nested over 1024 levels deep skipped")
            return self._skip_message(self._from_mark(fed_before, data), errors, err)
        except ValueError as exc:  # includes FormatError, over-limit headers
            if _OVER_LIMIT.search(str(exc)):
                # A header declaring more than the limit: the message is too
                # large by its own account, so skip it whole rather than
                # decoding its payload as messages.
                return self._skip_message(self._from_mark(fed_before, data), errors)
            self.reset()
            errors.append(
                RPCError(
                    BAD_MESSAGE,
                    f"undecodable MessagePack ({str(exc) or type(exc).__name__}); buffer discarded",
                )
            )
            return None
        except Exception as exc:  # e.g. TypeError: an unhashable map key
            self.reset()
            errors.append(
                RPCError(
                    BAD_MESSAGE,
                    f"undecodable MessagePack ({type(exc).__name__}: {exc}); buffer discarded",
                )
            )
            return None
        if self.pending > MAX_MESSAGE_BYTES:
            return self._skip_message(self._from_mark(fed_before, data), errors)
        if self.pending:
            self._keep_tail(fed_before, data)
        else:
            self._tail = bytearray()
        self._lone = len(objs) - n_objs == 1 and len(errors) == n_errors and self.pending == 0
        return None

    def _from_mark(self, fed_before: int, data: bytes | memoryview) -> bytes | memoryview:
        """The bytes of the incomplete message that starts at _mark, data included."""
        if self._mark >= fed_before:
            return memoryview(data)[self._mark - fed_before :]
        return bytes(self._tail) + bytes(data)

    def _keep_tail(self, fed_before: int, data: bytes | memoryview) -> None:
        if self._mark <= fed_before:  # the same message as before this feed goes on
            self._tail += data
        else:
            self._tail = bytearray(memoryview(data)[self._mark - fed_before :])

    def _skip_message(
        self,
        message: bytes | memoryview,
        errors: list[RPCError],
        error: RPCError | None = None,
    ) -> bytes | memoryview | None:
        """Report the message that starts `message` (once; too_large unless
        `error` says otherwise) and skip it; the bytes after its end, if
        already here, are returned to be decoded afresh."""
        self.reset()
        skipper = Skipper()
        n = skipper.feed(message)
        errors.append(
            error
            or RPCError(
                TOO_LARGE,
                f"message over {MAX_MESSAGE_BYTES} bytes skipped by its declared length",
            )
        )
        if not skipper.done:
            self._skip = skipper
            return None
        return message[n:] or None

    def discard_incomplete(self) -> RPCError | None:
        """Drop a partial message (the idle-resync rule); say so if there was one."""
        n = self.pending
        if n == 0:
            return None
        if self._skip is not None:  # reported as too_large already
            self.reset()
            return None
        self.reset()
        return RPCError(
            BAD_MESSAGE, f"incomplete message of {n} bytes discarded after an idle pause"
        )
