"""RSS 2.0 with content:encoded, atom:link self and atom:updated per item."""

from __future__ import annotations

from feeds.model import FeedDocument

from .xmlfeed import RENDER_LOCK, XmlFormat, build

_CDATA = b"<![CDATA["


class Rss(XmlFormat):
    NAME = "rss"
    FILENAME = "rss.xml"
    MEDIA_TYPE = "application/rss+xml; charset=utf-8"
    LABEL = "RSS"

    def serialize(self, doc: FeedDocument, media: bool | None = None) -> bytes:
        """The whole document from feedgen, every entry rendered (what `parts` cuts up)."""
        generator = build(doc, self.NAME, media)
        with RENDER_LOCK:
            data: bytes = generator.rss_str(pretty=True, encoding="UTF-8")
        # RSS Best Practices Profile: '&' and '<' in character data as hexadecimal
        # references, which tells validators and readers the text was escaped on purpose.
        # Same XML infoset. CDATA sections (content:encoded) hold HTML as it is, and are
        # left alone.
        head, *sections = data.split(_CDATA)
        out = [_hex_references(head)]
        for section in sections:
            inside, end, after = section.partition(b"]]>")
            out += [_CDATA, inside, end, _hex_references(after)]
        return b"".join(out)


def _hex_references(data: bytes) -> bytes:
    return data.replace(b"&lt;", b"&#x3C;").replace(b"&amp;", b"&#x26;")
