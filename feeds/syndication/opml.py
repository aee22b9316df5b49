"""The feed directory: an OPML 2.0 document listing every feed in every format."""

from __future__ import annotations

import hashlib
from datetime import datetime
from xml.etree import ElementTree as ET

from feeds.config import Settings
from feeds.model import Validators
from feeds.store import Reader, Scope

from .urls import feed_links, feed_title, home_path
from .validators import EPOCH, fingerprint

MEDIA_TYPE = "text/x-opml; charset=utf-8"


def validators(
    reader: Reader, settings: Settings, sections: list[str], now: datetime
) -> Validators:
    """The directory changes with the list of sections; Last-Modified follows the store."""
    digest = hashlib.sha256(fingerprint(settings))
    digest.update(("opml\n" + "\n".join(sections)).encode())
    moments = [reader.latest_visible_modified(now), reader.latest_departure(Scope(None, now), None)]
    return Validators(digest.hexdigest()[:32], max((m for m in moments if m), default=EPOCH))


def render(settings: Settings, sections: list[str]) -> bytes:
    """OPML 2.0 (http://opml.org/spec2.opml): one group per feed, one outline per format."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = f"{settings.title}: feeds"
    ET.SubElement(head, "ownerName").text = settings.author
    ET.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ET.SubElement(root, "body")
    for section in [None, *sections]:
        title = feed_title(settings, section)
        home = settings.url(home_path(section))
        group = ET.SubElement(body, "outline", text=title, title=title)
        for link in feed_links(settings, section):
            ET.SubElement(
                group,
                "outline",
                type="rss",
                text=link.title,
                title=link.title,
                xmlUrl=link.url,
                htmlUrl=home,
            )
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"
