"""Skip one MessagePack object by its headers alone, in bounded memory.

Used for a message over the size limit: decoding it would buffer all of it
and decoding its remainder as fresh messages would turn its payload into
thousands of garbage messages. The headers say how long everything is, so the
skipper only counts: how many objects are still to come (an array of n adds
n, a map of n adds 2n) and how many payload bytes of the current str, bin,
ext, number are left. A 100 MB str costs one header parse and a few counter
updates per read. Every byte is some type byte, so the skip always ends.
"""

from __future__ import annotations

import re

_ONE_BYTE = re.compile(rb"[\x00-\x7f\xc0-\xc3\xe0-\xff]+")

# Types of a fixed size: payload bytes after the type byte.
_FIXED: dict[int, int] = {
    0xC0: 0, 0xC1: 0, 0xC2: 0, 0xC3: 0,
    0xCA: 4, 0xCB: 8,
    0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
    0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8,
    0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17,
}  # fmt: skip
# Types whose header carries a length (of payload bytes) or a count (of children).
_SIZED: dict[int, tuple[int, int, int]] = {
    # type: (length bytes, extra payload bytes, children per counted unit; 0 = bytes)
    0xC4: (1, 0, 0), 0xC5: (2, 0, 0), 0xC6: (4, 0, 0),  # bin
    0xC7: (1, 1, 0), 0xC8: (2, 1, 0), 0xC9: (4, 1, 0),  # ext: the type byte follows
    0xD9: (1, 0, 0), 0xDA: (2, 0, 0), 0xDB: (4, 0, 0),  # str
    0xDC: (2, 0, 1), 0xDD: (4, 0, 1),  # array
    0xDE: (2, 0, 2), 0xDF: (4, 0, 2),  # map
}  # fmt: skip


class Skipper:
    """Consumes the bytes of one MessagePack object, fed in pieces."""

    def __init__(self) -> None:
        self.objects = 1  # objects still to skip
        self.payload = 0  # bytes of the current object's payload still to skip
        self._header = b""  # a header split across feeds
        self.skipped = 0  # bytes consumed so far

    @property
    def done(self) -> bool:
        return self.objects == 0 and self.payload == 0

    def feed(self, data: bytes | memoryview) -> int:
        """Consume bytes of data up to the end of the object; return how many."""
        pos, end = 0, len(data)
        if self._header:
            # Finish a header split across feeds with the bytes it still needs.
            need = _header_len(self._header[0]) - len(self._header)
            take = bytes(data[:need])
            self._header += take
            pos = len(take)
            if len(take) < need:
                self.skipped += pos
                return pos
            head, self._header = self._header, b""
            self._parse(head, 0)
        objects, payload = self.objects, self.payload
        while pos < end:
            if payload:
                n = min(payload, end - pos)
                payload -= n
                pos += n
                continue
            if not objects:
                break
            b = data[pos]
            if b <= 0x7F or b >= 0xE0 or 0xC0 <= b <= 0xC3:
                # A run of one-byte objects (fixint, nil, bool) is counted in C:
                # an array of a million small integers is one match, not a loop.
                run = _ONE_BYTE.match(data, pos)
                n = min(run.end() - pos, objects) if run else 1
                objects -= n
                pos += n
            elif b <= 0x8F:  # fixmap
                objects += 2 * (b & 0x0F) - 1
                pos += 1
            elif b <= 0x9F:  # fixarray
                objects += (b & 0x0F) - 1
                pos += 1
            elif b <= 0xBF:  # fixstr
                objects -= 1
                payload = b & 0x1F
                pos += 1
            elif b in _FIXED:
                objects -= 1
                payload = _FIXED[b]
                pos += 1
            else:
                n = _header_len(b)
                if end - pos < n:
                    self._header = bytes(data[pos:end])
                    pos = end
                    break
                self.objects, self.payload = objects, payload
                self._parse(data, pos)
                objects, payload = self.objects, self.payload
                pos += n
        self.objects, self.payload = objects, payload
        self.skipped += pos
        return pos

    def _parse(self, data: bytes | memoryview, pos: int) -> None:
        """Account for the sized header (str/bin/ext/array/map) at data[pos]."""
        width, extra, per = _SIZED[data[pos]]
        size = int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
        self.objects -= 1
        if per:
            self.objects += per * size
        else:
            self.payload = size + extra


def _header_len(b: int) -> int:
    return 1 + _SIZED[b][0]
