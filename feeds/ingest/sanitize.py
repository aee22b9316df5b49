"""HTML article bodies from the API (the only module that uses nh3): sanitised to an
allow-list fit for news, links and images made absolute, and the plain text of each block: the
article's stored paragraphs (content_text)."""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import quote, urljoin, urlsplit

import nh3

from feeds.text import drop_forbidden, html_blocks

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


def absolute_url(value: str, base_url: str, schemes: Collection[str] = SCHEMES) -> str | None:
    """`value` made absolute against `base_url` and percent-encoded (URL_SAFE kept as
    written); None when it is no URL (`http://[x`) or its scheme is not one of `schemes`."""
    try:
        joined = quote(urljoin(base_url + "/", value.strip()), safe=URL_SAFE)
        scheme = urlsplit(joined).scheme
    except ValueError:  # also a lone surrogate, which has no UTF-8 to percent-encode
        return None
    return joined if scheme in schemes else None


def sanitize(html: str, base_url: str) -> str:
    """Keep only TAGS and ATTRIBUTES; no script, style, event handler, iframe, object,
    javascript: or data: URL survives; relative links and sources become absolute (and
    percent-encoded); images without a source or alt text are dropped, and so are the
    characters feeds.text.XML_FORBIDDEN names, written or referenced (`&#1;`).
    What it returns parses back, by the HTML standard, into the tree it was written from."""

    def absolute(element: str, attribute: str, value: str) -> str | None:
        if attribute in ("href", "src", "cite"):  # no URL at all is dropped, as nh3 drops others
            return absolute_url(value, base_url)
        return value

    def clean(html: str) -> str:
        cleaned: str = nh3.clean(
            html,
            tags=TAGS,
            attributes=ATTRIBUTES,
            url_schemes=SCHEMES,
            attribute_filter=absolute,
            link_rel="noopener noreferrer",
        )
        return cleaned

    # Headings outside the allowed h2-h4 become the nearest allowed level, not bare text;
    # nh3 cannot read lone surrogates, which a JSON string can hold.
    html = _HEADING.sub(lambda m: f"<{m[1]}h{_LEVELS[m[2]]}", drop_forbidden(html))
    # A dropped element leaves its children where it was, which can nest what HTML cannot
    # (`<h2><x><h4>` leaves an h4 inside an h2): parsers read that as another tree, and
    # strict ones, as feed validators use, refuse it. nh3 writes what it parsed, so its
    # output cleaned once more is written as the tree any parser reads from it.
    cleaned = clean(clean(html))
    # nh3 writes out what a character reference stands for: `&#1;` becomes a control
    # character that XML forbids, so what it writes is cleaned as text is.
    return _BLIND_IMAGE.sub("", drop_forbidden(cleaned)).strip()


def text_blocks(html: str) -> tuple[str, ...]:
    """The plain text of each block of sanitised HTML, in order (see feeds.text.BLOCKS)."""
    return tuple(block.text for block in html_blocks(html))
