"""gzip made of compressed parts: every client reads it, and it depends on the bytes alone."""

from __future__ import annotations

import gzip
import random
import shutil
import subprocess
import zlib

import pytest

from feeds.web.compression import CompressedParts


def feed(items: list[bytes], head: bytes = b"<rss><channel><title>t</title>") -> list[bytes]:
    """A document in parts: head, entries, tail."""
    return [head, *(b"<item>" + item + b"</item>\n" for item in items), b"</channel></rss>"]


def story(rng: random.Random, words: int = 400) -> bytes:
    vocabulary = "the minister said on tuesday that talks would resume in brussels".split()
    return " ".join(rng.choice(vocabulary) for _ in range(words)).encode()


def documents() -> list[list[bytes]]:
    rng = random.Random(3)
    found = [[], [b""], [b"", b""], [b"one part"], [b"a", b"", b"b"], [b"<item>"] * 5]
    found += [
        [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 3000))) for _ in range(n)]
        for n in range(1, 20)
    ]
    found += [feed([story(rng) for _ in range(n)]) for n in (1, 2, 50)]
    # Parts longer than deflate's window, before others that repeat their words.
    found.append(feed([rng.randbytes(70_000), story(rng)]))
    found.append(feed([story(rng, 15_000), story(rng), story(rng, 9_000), story(rng)]))
    return found


@pytest.mark.parametrize("budget", [1 << 20, 0])
def test_every_gzip_decompresses_to_its_document(budget: int) -> None:
    compressed = CompressedParts(budget)
    for parts in documents():
        body = b"".join(parts)
        data = compressed.gzip(parts)
        assert gzip.decompress(data) == body
        # A streaming decoder fed a few bytes at a time, as an HTTP client reads.
        decoder = zlib.decompressobj(wbits=31)
        out = b"".join(decoder.decompress(data[i : i + 7]) for i in range(0, len(data), 7))
        assert out + decoder.flush() == body and decoder.eof and not decoder.unused_data


def test_the_gzip_tool_reads_it_and_checks_its_crc() -> None:
    tool = shutil.which("gzip")
    if tool is None:
        pytest.skip("no gzip command")
    parts = feed([story(random.Random(n)) for n in range(50)])
    data = CompressedParts(1 << 20).gzip(parts)
    done = subprocess.run([tool, "-t"], input=data, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([tool, "-dc"], input=data, capture_output=True, check=True)
    assert done.stdout == b"".join(parts)


def test_the_gzip_depends_on_the_bytes_alone() -> None:
    rng = random.Random(9)
    parts = feed([story(rng) for _ in range(20)])
    fresh = CompressedParts(1 << 20).gzip(parts)
    busy = CompressedParts(1 << 20)
    for n in range(5):
        busy.gzip(feed([story(random.Random(n)) for _ in range(20)]))
    assert busy.gzip(parts) == fresh
    assert CompressedParts(0).gzip(parts) == fresh  # nothing kept at all


def test_a_changed_entry_costs_two_compressed_parts_and_the_rest_are_kept() -> None:
    rng = random.Random(5)
    items = [story(rng) for _ in range(50)]
    compressed = CompressedParts(1 << 22)
    first = compressed.gzip(feed(items))
    assert compressed.kept.misses == 51  # each entry and the tail; the head is not kept
    items[20] = story(rng)
    second = compressed.gzip(feed(items))
    assert compressed.kept.misses == 53  # the changed entry and the one after it
    assert gzip.decompress(second) == b"".join(feed(items)) and second != first
    # Whole-document compression at the same level is not much smaller (with real text,
    # whose entries share fewer words than these, within a tenth).
    whole = len(gzip.compress(b"".join(feed(items)), compresslevel=6, mtime=0))
    assert len(second) <= whole * 1.25


def test_compressed_parts_stay_within_their_budget() -> None:
    budget = 200_000
    compressed = CompressedParts(budget)
    for n in range(40):
        rng = random.Random(n)
        parts = feed([story(rng) for _ in range(10)])
        assert gzip.decompress(compressed.gzip(parts)) == b"".join(parts)
        assert compressed.kept.total <= budget
    assert compressed.kept.total > budget // 2  # it does keep what fits
