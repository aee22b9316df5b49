"""gzip of documents, part by part: an entry (or tail) compressed once is not compressed again.

A feed document comes in parts (see formats: a head, one part per entry, a tail). Each part
is compressed on its own as raw deflate ending on a byte boundary (a sync flush), with the
part before it as its preset dictionary, which is exactly what a decoder has just inflated;
so the parts in order, an empty final block and the gzip trailer (CRC-32 and length of the
whole) make one ordinary gzip member that every client reads. The result depends only on the
parts, never on what was kept: the same document gives the same gzip in every worker.

After one article changes, a rebuild compresses that entry, the one after it and the head
(whose dates change), and takes the other compressed parts from an LRU bounded by their size
in bytes.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

from feeds.lru import ByteLRU

# zlib's default level; each part is compressed once, so the time matters less than the size.
LEVEL = 6
WINDOW = 32 * 1024  # deflate reaches back this far: the most of a dictionary that is used
# Member header: deflate, no name, time 0, no extra flags, operating system "unknown".
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_FINAL = zlib.compressobj(LEVEL, zlib.DEFLATED, -15).flush()  # an empty last block
_OVERHEAD = 200  # bytes a kept part costs besides its contents


def deflate(part: bytes, before: bytes) -> bytes:
    """`part` as raw deflate blocks, not the last, ending on a byte boundary, for a stream
    whose output so far ends with `before`."""
    if before:
        compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15, zdict=before[-WINDOW:])
    else:
        compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return compressor.compress(part) + compressor.flush(zlib.Z_SYNC_FLUSH)


class CompressedParts:
    """Compressed parts by (the part before, the part), for one worker process."""

    def __init__(self, max_bytes: int) -> None:
        # Its misses count the parts compressed (the others were found kept).
        self.kept: ByteLRU[tuple[bytes, bytes], bytes] = ByteLRU(max_bytes)

    def gzip(self, parts: Sequence[bytes]) -> bytes:
        """The document made of `parts` as one gzip member."""
        out = [_HEADER]
        if len(parts) == 1:  # nothing to share with another document: not kept
            out.append(deflate(parts[0], b""))
        elif parts:
            # The head changes with every build (its dates): it is not kept, and the first
            # entry does without it as a dictionary, so is not compressed again each time.
            out.append(deflate(parts[0], b""))
            before = b""
            for part in parts[1:]:
                out.append(self._deflated(before, part))
                before = part
        out.append(_FINAL)
        crc, length = 0, 0
        for part in parts:
            crc = zlib.crc32(part, crc)
            length += len(part)
        out.append(struct.pack("<II", crc, length & 0xFFFFFFFF))
        return b"".join(out)

    def _deflated(self, before: bytes, part: bytes) -> bytes:
        key = (before, part)
        data = self.kept.get(key)
        if data is None:
            data = deflate(part, before)
            self.kept.put(key, data, len(before) + len(part) + len(data) + _OVERHEAD)
        return data
