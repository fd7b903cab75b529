"""What the serving loop writes: responses and notifications, packed into one
buffer per turn and sent with one write.

Bad input that has no msgid to answer becomes an `error` notification; at
most MAX_NOTIFICATIONS_PER_TURN of them per turn, the rest summed up in one
more, so random bytes cannot flood the client.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import msgpack

from infer import protocol as proto
from infer.transport import Stdio

MAX_NOTIFICATIONS_PER_TURN = 16

log = logging.getLogger("infer")


class Outbox:
    def __init__(self, io: Stdio, errors: Counter[str]) -> None:
        self._io = io
        self._errors = errors  # counts every error answered or notified, by code
        self._packer = msgpack.Packer(autoreset=False)
        self.pack = self._packer.pack
        self._notes = 0
        self._suppressed = 0

    def respond(self, msgid: int, result: Any) -> None:
        self.pack([proto.RESPONSE, msgid, None, result])

    def notify(self, method: str, payload: Any) -> None:
        self.pack([proto.NOTIFICATION, method, [payload]])

    def fail(self, msgid: int, err: proto.RPCError) -> None:
        self._errors[err.code] += 1
        log.debug("request failed", extra={"msgid": msgid, "code": err.code, "error": err.message})
        self.pack([proto.RESPONSE, msgid, err.to_wire(), None])

    def notify_error(self, err: proto.RPCError) -> None:
        self._errors[err.code] += 1
        if self._notes >= MAX_NOTIFICATIONS_PER_TURN:
            self._suppressed += 1
            return
        self._notes += 1
        log.warning("bad input", extra={"code": err.code, "error": err.message})
        self.notify("error", err.to_map())

    def flush(self, ping: bool = False) -> None:
        """Write everything packed since the last flush; a new turn starts.
        ping: this answers a read that held one request (Stdio.write)."""
        if self._suppressed:
            msg = f"{self._suppressed} more bad messages"
            self.notify("error", {"code": proto.BAD_MESSAGE, "message": msg})
        self._notes = self._suppressed = 0
        buf = self._packer.getbuffer()
        if len(buf):
            self._io.write(buf, ping)
        del buf  # release the export before reset() may resize the buffer
        self._packer.reset()
