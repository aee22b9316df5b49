"""HTML article bodies from the API (the only module that uses nh3): sanitised to an
allow-list fit for news, links and images made absolute, and the plain text of each block for
summaries and content_text."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

import nh3

TAGS = {
    "p",
    "a",
    "em",
    "strong",
    "b",
    "i",
    "u",
    "s",
    "sub",
    "sup",
    "br",
    "ul",
    "ol",
    "li",
    "blockquote",
    "q",
    "cite",
    "h2",
    "h3",
    "h4",
    "img",
    "figure",
    "figcaption",
    "code",
    "pre",
    "abbr",
    "time",
    "small",
    "mark",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "abbr": {"title"},
    "time": {"datetime"},
    "blockquote": {"cite"},
    "q": {"cite"},
}
SCHEMES = {"http", "https", "mailto"}
_HEADING = re.compile(r"<(/?)h([1-6])\b", re.IGNORECASE)
_LEVELS = {"1": "2", "2": "2", "3": "3", "4": "4", "5": "4", "6": "4"}
URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
# An <img> lacking a non-blank alt, or lacking a src, after sanitising (nh3 quotes with ").
_BLIND_IMAGE = re.compile(r'<img(?![^>]*\salt="[^"]*[^"\s])[^>]*>|<img(?![^>]*\ssrc=")[^>]*>')
BLOCKS = {"p", "li", "blockquote", "h2", "h3", "h4", "figcaption", "pre"}


def sanitize(html: str, base_url: str) -> str:
    """Keep only TAGS and ATTRIBUTES; no script, style, event handler, iframe, object,
    javascript: or data: URL survives; relative links and sources become absolute (and
    percent-encoded); images without a source or alt text are dropped."""

    def absolute(element: str, attribute: str, value: str) -> str | None:
        if attribute in ("href", "src", "cite"):
            joined = quote(urljoin(base_url + "/", value.strip()), safe=URL_SAFE)
            return joined if urlsplit(joined).scheme in SCHEMES else None
        return value

    # Headings outside the allowed h2-h4 become the nearest allowed level, not bare text.
    html = _HEADING.sub(lambda m: f"<{m[1]}h{_LEVELS[m[2]]}", html)
    cleaned: str = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=SCHEMES,
        attribute_filter=absolute,
        link_rel="noopener noreferrer",
    )
    return _BLIND_IMAGE.sub("", cleaned).strip()


class _Blocks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.current: list[str] = []

    def _flush(self) -> None:
        text = " ".join("".join(self.current).split())
        if text:
            self.blocks.append(text)
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS or tag == "br":
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        self.current.append(data)


def text_blocks(html: str) -> tuple[str, ...]:
    """The plain text of each block of sanitised HTML, in order."""
    parser = _Blocks()
    parser.feed(html)
    parser.close()
    parser._flush()
    return tuple(parser.blocks)
