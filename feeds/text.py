"""Text rules every input and output shares: ids, forbidden characters, white space, author
slugs, RFC 3339 instants, paragraphs as HTML or plain text, the blocks of text in an HTML body,
and summaries."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from html.parser import HTMLParser

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]*\Z")  # \Z: "$" would take a last "\n"

# Dropped: what XML 1.0 §2.2 forbids (C0 controls, U+FFFE, U+FFFF), what it discourages and
# feed validators reject (DEL and the C1 controls, in UTF-8 text only ever the debris of a
# wrong decoding), U+FFFD, the mark such a decoding left, and the Unicode noncharacters,
# which HTML parsers reject. Everything else is kept.
_NONCHARACTERS = "".join(
    chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17)
)
XML_FORBIDDEN = re.compile(
    f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffd{_NONCHARACTERS}]"
)
# A run of white space (but NBSP) that is not already one plain space: folded to one space.
_SPACES = re.compile(r"[^\S\u00a0 ][^\S\u00a0]*| [^\S\u00a0]+")


def drop_forbidden(text: str) -> str:
    """Drop the characters XML forbids and validators reject (see XML_FORBIDDEN)."""
    return XML_FORBIDDEN.sub("", text)


def fold_spaces(line: str) -> str:
    """Fold each run of white space into one plain space and trim both ends."""
    return _SPACES.sub(" ", line).strip(" \u00a0")


def clean_line(line: str) -> str:
    """Drop characters XML forbids, fold runs of white space, trim both ends."""
    return fold_spaces(drop_forbidden(line))


def slug(name: str) -> str:
    """A URL-safe name for an author: 'Zoë O'Brien' -> 'zoe-o-brien'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    made = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return made or "author-" + hashlib.sha256(name.encode()).hexdigest()[:12]


def rfc3339(moment: datetime) -> str:
    """An instant as RFC 3339 in UTC with a 'Z', e.g. 2020-01-04T18:09:00Z (microseconds
    only when there are any)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if utc.microsecond else "%Y-%m-%dT%H:%M:%SZ")


def paragraphs_html(paragraphs: tuple[str, ...]) -> str:
    """Plain-text paragraphs as HTML `<p>` elements; `<`, `>` and `&` are text, never markup."""
    return "\n".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)


def paragraphs_text(paragraphs: tuple[str, ...]) -> str:
    """Paragraphs as plain text, a blank line between each two."""
    return "\n\n".join(paragraphs)


# An HTML body's blocks of text: the elements whose text is a paragraph of its own (a <br>
# inside one starts a new line of text, which is stored as a paragraph of its own too).
BLOCKS = frozenset({"p", "li", "blockquote", "h2", "h3", "h4", "figcaption", "pre"})
HEADINGS = frozenset({"h2", "h3", "h4"})
# The longest summary, in characters, the ellipsis of a shortened one included.
SUMMARY_LENGTH = 500
ELLIPSIS = "\u2026"
_BEFORE_ELLIPSIS = " \u00a0,;:\u2013\u2014"  # dropped where a summary is cut


@dataclass(frozen=True)
class Block:
    """One line of text of an HTML body, with white space folded."""

    text: str
    within: tuple[str, ...]  # the BLOCKS elements around it, outermost first
    stretch: int  # lines of one element (split by <br>) share this; the next element does not


class _Found(Exception):
    """The first paragraph of text is complete: the rest need not be parsed."""


class _Blocks(HTMLParser):
    def __init__(self, stop_at_paragraph: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.current: list[str] = []
        self.within: list[str] = []
        self.stretch = 0
        self.stop_at_paragraph = stop_at_paragraph

    def flush(self) -> None:
        text = " ".join("".join(self.current).split())
        if text:
            self.blocks.append(Block(text, tuple(self.within), self.stretch))
        self.current = []

    def end_stretch(self) -> None:
        """A block starts or ends: the text before it is complete."""
        self.flush()
        if self.stop_at_paragraph and self.blocks:
            last = self.blocks[-1]
            if last.stretch == self.stretch and _is_paragraph(last):
                raise _Found
        self.stretch += 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self.end_stretch()
            self.within.append(tag)
        elif tag == "br":
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCKS:
            self.end_stretch()
            if tag in self.within:
                del self.within[len(self.within) - 1 - self.within[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        self.current.append(data)


# Characters that show nothing: white space, controls and format characters (U+200B, U+FEFF,
# U+202E). Alt text made only of them says nothing to who cannot see the image.
_INVISIBLE = ("Zs", "Zl", "Zp", "Cc", "Cf")


def visible(text: str) -> bool:
    """Whether `text` has a character that shows (not of an _INVISIBLE category)."""
    return any(unicodedata.category(c) not in _INVISIBLE for c in text)


class _FirstImage(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, str | int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "img" or self.found is not None:
            return
        named = {k: v for k, v in attrs if v is not None}
        src, alt = named.get("src", "").strip(), " ".join(named.get("alt", "").split())
        if not src.startswith(("http://", "https://")) or not visible(alt):
            return
        if len(src) > MAX_IMAGE_URL or len(alt) > MAX_IMAGE_ALT:
            return  # a lead image given so would be refused: not taken from the body either
        found: dict[str, str | int] = {"url": src, "alt": alt}
        for size in ("width", "height"):
            value = named.get(size, "").strip()
            if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_IMAGE_SIDE:
                found[size] = int(value)
        self.found = found
        raise _Found


MAX_IMAGE_SIDE = 100_000  # pixels: the largest width or height taken as an image's size
# Characters of a lead image's URL (absolute, percent-encoded: what every browser and CDN
# takes) and of its alt text, white space folded; each feed entry repeats them.
MAX_IMAGE_URL = 2000
MAX_IMAGE_ALT = 500


def first_image(html: str) -> dict[str, str | int] | None:
    """The url, alt text and (when given as whole numbers) width and height of the first
    <img> of an HTML body with an http(s) source and alt text that shows (`visible`), within
    the bounds a lead image given through the API keeps (MAX_IMAGE_URL, MAX_IMAGE_ALT); None
    when there is none."""
    if "<img" not in html:
        return None
    parser = _FirstImage()
    try:
        parser.feed(html)
        parser.close()
    except _Found:
        pass
    return parser.found


def _parse(html: str, stop_at_paragraph: bool) -> list[Block]:
    parser = _Blocks(stop_at_paragraph)
    try:
        parser.feed(html)
        parser.close()
        parser.end_stretch()
    except _Found:
        pass
    return parser.blocks


def _is_paragraph(block: Block) -> bool:
    """Text of a <p>, or outside every block: not a heading, list item, quote or caption."""
    return all(tag == "p" for tag in block.within)


def html_blocks(html: str) -> tuple[Block, ...]:
    """The lines of text of an HTML body, in order."""
    return tuple(_parse(html, stop_at_paragraph=False))


def first_paragraph(html: str) -> str | None:
    """The text of an HTML body's first paragraph of text (see _is_paragraph), its lines
    joined by spaces; failing that, of its first block that is not a heading; None when every
    block is a heading. Parsing stops at the end of that paragraph."""
    blocks = _parse(html, stop_at_paragraph=True)
    for fits in (_is_paragraph, lambda block: not HEADINGS.intersection(block.within)):
        first = next((block for block in blocks if fits(block)), None)
        if first is not None:
            return " ".join(block.text for block in blocks if block.stretch == first.stretch)
    return None


def shorten(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """`text` when it has at most `limit` characters; otherwise cut at the last word boundary
    (a space) that leaves room for an ellipsis, which is added. A first word too long for that
    is cut inside it, between two characters (never before a combining mark)."""
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    space = text.rfind(" ", 0, room + 1)
    if space > 0:
        kept = text[:space]
    else:
        end = room
        while end > 0 and unicodedata.category(text[end]).startswith("M"):
            end -= 1
        kept = text[:end]
    return kept.rstrip(_BEFORE_ELLIPSIS) + ELLIPSIS


_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def shown(value: object) -> str:
    """`value` as text for one field of one line: a backslash, and every character Python
    does not call printable (controls such as tab, line feed and escape; format characters
    such as the bidirectional controls; separators other than the space, U+2028 and U+2029
    among them; surrogates, private-use and unassigned code points) as a backslash escape,
    so that the text shown is the value's, whole and unambiguous. The bytes of a file name
    that is not UTF-8, which Python holds as lone surrogates, show as `\\xNN`."""
    text = str(value)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a name that is not UTF-8 (os.fsdecode)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
