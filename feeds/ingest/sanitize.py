"""HTML article bodies from the API (the only module that uses nh3): sanitised to an
allow-list fit for news, links and images made absolute, and the plain text of each block: the
article's stored paragraphs (content_text)."""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import idna
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
# What RFC 3986 lets a path, and a query or fragment, hold as written (besides letters,
# digits and "-._~"): everything else is percent-encoded, "[" and "]" too (only an IPv6 host
# would hold them), and "%" unless it begins an escape.
_PATH_SAFE = "!$&'()*+,;=:@/%"
_QUERY_SAFE = _PATH_SAFE + "?"
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# A host name's label (RFC 1123 §2.1) once IDNA-encoded: letters, digits and inner hyphens.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_EXAMPLE = "https://images.example.com/photo.jpg"
_WEB = ("http", "https")  # schemes whose URLs name a host
# An <img> lacking a non-blank alt, or lacking a src, after sanitising (nh3 quotes with ").
_BLIND_IMAGE = re.compile(r'<img(?![^>]*\salt="[^"]*[^"\s])[^>]*>|<img(?![^>]*\ssrc=")[^>]*>')


class BadURL(ValueError):
    """Why a URL cannot be made valid: a phrase that completes "the URL ..."."""


def _encode(part: str, safe: str) -> str:
    return quote(_LONE_PERCENT.sub("%25", part), safe=safe)


def _host(value: str) -> str:
    """A host name IDNA-encoded and in lower case, as browsers send it: by UTS 46,
    non-transitional (`bücher.example` is `xn--bcher-kva.example`, `faß.de` is
    `xn--fa-hia.de`; the standard library's IDNA 2003 makes that `fass.de`, another
    domain). A name IDNA refuses (a joiner out of context, a malformed `xn--` label) is
    not valid; an ASCII name passes on the label rule alone, as browsers let it
    (`r4---sn-x.example` has hyphens where IDNA forbids them in a name it encodes)."""
    name = unquote(value, errors="strict")
    try:
        # idna also bounds each label's length.
        encoded = idna.encode(name, uts46=True).decode("ascii") if name else ""
    except UnicodeError:  # idna.IDNAError is one
        plain = name.isascii() and not any(
            label.lower().startswith("xn--") for label in name.split(".")
        )
        encoded = name.lower() if plain else ""
    # A last dot names the root, as DNS does: the same host, which feed validators refuse
    # written so.
    encoded = encoded.removesuffix(".")
    if not all(_LABEL.match(label) for label in encoded.split(".")) or len(encoded) > 253:
        raise BadURL(
            f"has a host name that is not valid ({value!r}): letters, digits and hyphens "
            f"between dots, as in {_EXAMPLE}"
        )
    return encoded


def _port(value: str) -> str:
    if value and (not value.isascii() or not value.isdigit() or not 0 < int(value) < 65536):
        raise BadURL(f"has a port that is not valid ({value!r}): give a number from 1 to 65535")
    return f":{value}" if value else ""


def normal_url(value: str, base_url: str, schemes: Collection[str] = SCHEMES) -> str:
    """`value` made absolute against `base_url`, with what can be made valid without loss
    made so (an IDNA host name in lower case, characters percent-encoded), as feed
    validators want it. Raises BadURL when that cannot be done: no URL at all (`http://[x`),
    no host where one is due (`//`, `https:`), a scheme not in `schemes`, a web URL without
    a valid host name of two labels or more (besides the site's own) or port, or with a
    user name or password (which public feeds would show)."""
    *others, last = sorted(schemes)
    kinds = f"{', '.join(others)} or {last}" if others else last
    no_url = BadURL(f"must be an {kinds} URL (or one relative to the site's), such as {_EXAMPLE}")
    try:
        given = urlsplit(value.strip())
        joined = urljoin(base_url + "/", value.strip())
        parts = urlsplit(joined)
    except ValueError:
        raise no_url from None
    # `//`, `https:` and `https://?x` give no host, and urljoin takes the site's for it:
    # what was meant is not known, and the site's home page is not an image.
    if not given.netloc and (given.scheme.lower() in _WEB or value.strip().startswith("//")):
        raise BadURL(
            f"has no host name: give one, as in {_EXAMPLE}, or a path on the site, as /photo.jpg"
        )
    scheme = parts.scheme.lower()
    if scheme not in schemes or (scheme in _WEB and not parts.netloc):
        raise no_url
    try:
        if scheme not in _WEB:
            # mailto: and the like have no host: what follows the scheme is kept whole
            # (urlsplit would read `mailto://a//b` as a host and a path, and the host is
            # lost), so that a URL made valid is made so again unchanged.
            rest, _, fragment = joined.partition(":")[2].partition("#")
            ending = f"#{_encode(fragment, _QUERY_SAFE)}" if fragment else ""
            return f"{scheme}:{_encode(rest, _QUERY_SAFE)}{ending}"
        if "@" in parts.netloc:
            raise BadURL("has a user name or password, which feeds would show: leave them out")
        if parts.netloc.startswith("["):  # an IPv6 address: feed validators refuse it
            raise BadURL("has an IP address for its host: give the host's name")
        host, _, port = parts.netloc.partition(":")
        name = _host(host)
        # A name of one label (localhost, com) is no host a reader can reach, and feed
        # validators refuse it; an IPv4 address has four. The site's own host is
        # whatever FEEDS_BASE_URL names.
        if "." not in name and name != urlsplit(base_url).hostname:
            raise BadURL(
                f"has a host name of one label ({host!r}), which no reader can reach: "
                f"give the host's full name, as in {_EXAMPLE}"
            )
        netloc = name + _port(port)
        path = _encode(parts.path, _PATH_SAFE)
        query, fragment = (_encode(p, _QUERY_SAFE) for p in (parts.query, parts.fragment))
    except UnicodeError:  # a lone surrogate, which has no UTF-8 to percent-encode
        raise BadURL("is not a URL: it holds a character that is not text") from None
    return urlunsplit((scheme, netloc, path, query, fragment))


def absolute_url(value: str, base_url: str, schemes: Collection[str] = SCHEMES) -> str | None:
    """normal_url's URL, or None when there is none."""
    try:
        return normal_url(value, base_url, schemes)
    except BadURL:
        return None


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
