"""gzip of documents, entry by entry: an entry compressed once is not compressed again.

A feed document is cut before each entry (at its format's `PIECE` marker). Each piece is
compressed on its own as raw deflate ending on a byte boundary (a sync flush), with the entry
before it as its preset dictionary, which is exactly what a decoder has just inflated; so
the pieces in order, an empty final block and the gzip trailer (CRC-32 and length of the
whole) make one ordinary gzip member that every client reads. The result depends only on the
document's bytes, never on what was kept: the same document gives the same gzip in every
worker.

After one article changes, a rebuild compresses that entry, the one after it and the head
(whose dates change), and takes the other compressed entries from the pieces kept here: least
recently used first out, bounded by their size in bytes.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections import OrderedDict

# zlib's default level; each piece is compressed once, so the time matters less than the size.
LEVEL = 6
WINDOW = 32 * 1024  # deflate reaches back this far: the most of a dictionary that is used
# Member header: deflate, no name, time 0, no extra flags, operating system "unknown".
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_FINAL = zlib.compressobj(LEVEL, zlib.DEFLATED, -15).flush()  # an empty last block
_OVERHEAD = 200  # bytes a kept piece costs besides its contents


def cut(body: bytes, marker: bytes | None) -> list[bytes]:
    """`body` cut before each occurrence of `marker` (joined, the pieces are `body`)."""
    if not marker:
        return [body]
    pieces = []
    start = 0
    at = body.find(marker, 1)
    while at != -1:
        pieces.append(body[start:at])
        start = at
        at = body.find(marker, at + 1)
    pieces.append(body[start:])
    return pieces


def deflate(piece: bytes, before: bytes) -> bytes:
    """`piece` as raw deflate blocks, not the last, ending on a byte boundary, for a stream
    whose output so far ends with `before`."""
    if before:
        compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15, zdict=before[-WINDOW:])
    else:
        compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)


class Pieces:
    """Compressed pieces by (the piece before, the piece), for one worker process."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.total = 0
        self.compressed = 0  # pieces compressed so far (the others were found kept)
        self._kept: OrderedDict[tuple[bytes, bytes], tuple[bytes, int]] = OrderedDict()
        self._lock = threading.Lock()

    def gzip(self, body: bytes, marker: bytes | None) -> bytes:
        """`body` as one gzip member, cut at `marker` (None: compressed whole)."""
        parts = [_HEADER]
        pieces = cut(body, marker)
        if len(pieces) == 1:  # nothing to share with another document: not kept
            parts.append(deflate(body, b""))
        else:
            # The head changes with every build (its dates): it is not kept, and the first
            # entry does without it as a dictionary, so is not compressed again each time.
            parts.append(deflate(pieces[0], b""))
            before = b""
            for piece in pieces[1:]:
                parts.append(self._deflated(before, piece))
                before = piece
        parts.append(_FINAL)
        parts.append(struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF))
        return b"".join(parts)

    def _deflated(self, before: bytes, piece: bytes) -> bytes:
        key = (before, piece)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept[0]
        data = deflate(piece, before)
        size = len(before) + len(piece) + len(data) + _OVERHEAD
        with self._lock:
            self.compressed += 1
            if key not in self._kept and size <= self.max_bytes // 4:
                self._kept[key] = (data, size)
                self.total += size
                while self.total > self.max_bytes:
                    _, (_, evicted) = self._kept.popitem(last=False)
                    self.total -= evicted
        return data
