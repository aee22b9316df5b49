"""What the feeds server answers: checks of status and encoding, the history links and items
of its RSS, and the check of the documents wrk will ask for."""

from __future__ import annotations

import gzip
import re
from urllib.parse import urlsplit

from .. import servers
from ..servers import Answer
from .run import Bench, BenchError, say

FEED = "/feeds/rss.xml"
SECTION = "world"
GZIP = {"Accept-Encoding": "gzip"}


def gunzip(answer: Answer) -> bytes:
    if answer.header("Content-Encoding") == "gzip":
        return gzip.decompress(answer.body)
    return answer.body


_LINK_ELEMENT = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?link\b([^>]*?)/?>")
_ATTRIBUTE = re.compile(r'([\w:.-]+)="([^"]*)"')
_ITEM_LINK = re.compile(r"<link>[^<]*/articles/([^<]+)</link>")


def history_link(xml: str, rel: str) -> str | None:
    """The path of the RFC 5005 link `rel` (e.g. prev-archive) of an RSS document."""
    for element in _LINK_ELEMENT.finditer(xml):
        attributes: dict[str, str] = dict(_ATTRIBUTE.findall(element.group(1)))
        if attributes.get("rel") == rel and "href" in attributes:
            return urlsplit(attributes["href"].replace("&amp;", "&")).path
    return None


def item_ids(xml: str) -> list[str]:
    """The article ids of an RSS document's items, in document order."""
    return _ITEM_LINK.findall(xml)


def expect(answer: Answer, status: int, what: str, gzipped: bool | None = None) -> Answer:
    if answer.status != status:
        raise BenchError(f"{what}: expected {status}, got {answer.status}")
    encoding = answer.header("Content-Encoding")
    if gzipped is True and encoding != "gzip":
        raise BenchError(f"{what}: expected Content-Encoding: gzip, got {encoding!r}")
    if gzipped is False and encoding is not None:
        raise BenchError(f"{what}: expected no Content-Encoding, got {encoding!r}")
    return answer


def check_feeds(bench: Bench, port: int, label: str) -> dict[str, str]:
    """Check what wrk will ask for, and find the archive and the validators to use."""
    first = expect(servers.get(port, FEED, GZIP), 200, f"{FEED} with gzip", gzipped=True)
    etag = first.header("ETag")
    if not etag:
        raise BenchError(f"{FEED} has no ETag")
    xml = gunzip(first).decode()
    ids = item_ids(xml)
    say(f"{FEED}: {len(first.body):,} bytes gzipped, {len(xml):,} plain, {len(ids)} items")
    plain = expect(servers.get(port, FEED), 200, f"{FEED} without gzip", gzipped=False)
    if plain.body.decode() != xml:
        bench.notes.append(f"{label}: the plain and gzipped site feeds differ (a change?)")
    not_modified = servers.get(port, FEED, GZIP | {"If-None-Match": etag})
    expect(not_modified, 304, f"{FEED} with If-None-Match: {etag}")
    section = f"/feeds/{SECTION}/rss.xml"
    expect(servers.get(port, section, GZIP), 200, section, gzipped=True)
    archive = history_link(xml, "prev-archive")
    if archive is None:
        raise BenchError(f"{FEED} has no atom:link rel=prev-archive")
    expect(servers.get(port, archive, GZIP), 200, archive, gzipped=True)
    return {
        "etag": etag,
        "section": section,
        "archive": archive,
        "feed_ids": ",".join(ids),
        "gzip_bytes": str(len(first.body)),
        "plain_bytes": str(len(xml.encode())),
    }
