"""Reads one article file in the text layout (the README's "Article files").

`parse_article(data, path, ...)` returns a ParsedArticle or raises InvalidArticle naming the
file, the line where there is one, and what to do about it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from feeds.errors import InvalidArticle
from feeds.model import ParsedArticle
from feeds.text import ID_PATTERN, drop_forbidden

from . import limits

MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_SP = r"[ \u00a0]+"
_STAMP = rf"(\d{{1,2}}){_SP}([A-Za-z]+){_SP}(\d{{4}}),{_SP}(\d{{1,2}}):(\d{{2}})"
DATELINE = re.compile(rf"^{_STAMP}(?:{_SP}\|{_SP}Updated:{_SP}{_STAMP})?$", re.IGNORECASE)
EXPECTED = (
    "expected 'D Month YYYY, HH:MM', optionally followed by ' | Updated: D Month YYYY, HH:MM'"
)

# A feed carries at most FEEDS_PAGE_SIZE entries of at most this much text each.
MAX_ARTICLE_BYTES = 256 * 1024
# How far an Updated: time may lie after the published time of an article under embargo.
UPDATED_SLACK = timedelta(minutes=10)
# Feed readers and validators take earlier dates for mistakes.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
# No dateline is meant to be this late; past it, date arithmetic would leave the calendar.
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
# A date that starts a line but does not make a dateline: named when no dateline is found.
_NEAR_MISS = re.compile(rf"^\d{{1,2}}{_SP}[A-Za-z]+{_SP}\d{{4}}")


def decode(data: bytes, path: str) -> str:
    """UTF-8 with or without a byte-order mark; anything else is rejected."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidArticle(
            path,
            f"not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); save the file as UTF-8",
        ) from e


# White space as text.fold_spaces folds it, within lines: for a whole text at once.
_LINE_SPACES = re.compile(r"[^\S\n\u00a0 ][^\S\n\u00a0]*| [^\S\n\u00a0]+")
# Bytes that start nothing text.XML_FORBIDDEN matches: a file made only of these (most files)
# needs no search at all.
_PLAIN_BYTES = bytes(
    b
    for b in range(256)
    if not (b <= 0x1F and b not in (9, 10, 13) or b in (0x7F, 0xC2, 0xEF) or b >= 0xF0)
)
# Among the other bytes, the lead bytes of longer characters: what is left after deleting
# these too is a control character, forbidden for certain.
_LEAD_BYTES = bytes(range(0xC2, 0x100))
# What text.XML_FORBIDDEN matches beyond ASCII, as UTF-8 (which cannot carry surrogates), by
# lead byte: C1 controls; U+FDD0-U+FDEF, U+FFFD, U+FFFE, U+FFFF; the other planes'
# noncharacters. A pattern that starts with one byte is searched for quickly.
_FORBIDDEN_AFTER = {
    0xC2: re.compile(rb"\xc2[\x80-\x9f]"),
    0xEF: re.compile(rb"\xef(?:\xb7[\x90-\xaf]|\xbf[\xbd-\xbf])"),
    **{
        lead: re.compile(re.escape(bytes([lead])) + rb"[\x80-\xbf]\xbf[\xbe\xbf]")
        for lead in range(0xF0, 0xF5)
    },
}
# The white space _LINE_SPACES folds besides runs of plain spaces: in ASCII, and beyond it
# (none lies above U+3000).
_ASCII_SPACES = b"\t\x0b\x0c\r\x1c\x1d\x1e\x1f"
_NOT_ASCII_SPACES = bytes(b for b in range(256) if b not in _ASCII_SPACES)
_WIDER_SPACES = tuple(chr(c) for c in range(0x80, 0x3001) if chr(c).isspace() and c != 0xA0)


def wall_clock_to_utc(match: tuple[str, ...], zone: ZoneInfo) -> datetime:
    """Read D Month YYYY HH MM in `zone` (PEP 495 fold=0: first occurrence; in a gap, the
    offset before the change) and return the UTC instant. Raises ValueError if impossible."""
    day, month_name, year, hour, minute = match
    try:
        month = MONTHS.index(month_name.lower()) + 1
    except ValueError as e:
        raise ValueError(f"{month_name!r} is not an English month name") from e
    local = datetime(int(year), month, int(day), int(hour), int(minute), tzinfo=zone, fold=0)
    try:
        return local.astimezone(UTC)
    except OverflowError as e:  # year 1 or 9999 shifted out of range
        raise ValueError("the year is out of range") from e


def _parse_dateline(
    line: str, zone: ZoneInfo, path: str, number: int, not_after: datetime | None
) -> tuple[datetime, datetime]:
    m = DATELINE.match(line)
    assert m is not None
    groups = m.groups()
    try:
        published = wall_clock_to_utc(groups[:5], zone)
        updated = wall_clock_to_utc(groups[5:], zone) if groups[5] else published
    except ValueError as e:
        raise InvalidArticle(
            path, f"dateline {line!r} is not a real date ({e}; {EXPECTED})", number
        ) from e
    if updated < published:
        raise InvalidArticle(
            path,
            f"dateline {line!r}: the Updated: time is before the published time; "
            "correct one of them",
            number,
        )
    if updated >= LATEST:  # and so is the published time, when it is
        raise InvalidArticle(
            path, f"dateline {line!r} is after the year 8999; check the year", number
        )
    if published < EARLIEST:
        raise InvalidArticle(
            path,
            f"dateline {line!r} is before 1990, which feed readers reject as "
            "implausible; check the year",
            number,
        )
    # A future published time is an embargo; an Updated: time after both now and the
    # published time is a mistake that readers would show as an implausible date.
    if not_after is not None and updated > max(not_after, published + UPDATED_SLACK):
        raise InvalidArticle(
            path,
            f"dateline {line!r}: the Updated: time is in the future; correct it or leave it out",
            number,
        )
    return published, updated


def _no_dateline(path: str, lines: list[str]) -> InvalidArticle:
    near = next((i for i, line in enumerate(lines) if _NEAR_MISS.match(line)), None)
    if near is None:
        return InvalidArticle(path, f"no dateline found ({EXPECTED}) below the title")
    return InvalidArticle(path, f"{lines[near]!r} is not a dateline ({EXPECTED})", near + 1)


def parse_article(
    data: bytes,
    path: str,
    article_id: str,
    section: str | None,
    zone: ZoneInfo,
    not_after: datetime | None = None,
) -> ParsedArticle:
    """Parse the bytes of one article file; `path` is only used in error messages. An
    Updated: time after `not_after` is rejected unless the article is under embargo."""
    if not ID_PATTERN.match(article_id):
        raise InvalidArticle(
            path,
            f"the file name {article_id!r} cannot be an article id; "
            "use only letters, digits, '.', '_', '~' and '-'",
        )
    if problem := limits.identifier(article_id, "an article id"):
        raise InvalidArticle(path, f"the file name without its extension {problem}")
    if len(data) > MAX_ARTICLE_BYTES:
        raise InvalidArticle(
            path, f"the file is larger than {MAX_ARTICLE_BYTES // 1024} KiB; split it or shorten it"
        )
    text = decode(data, path)
    rare = data.translate(None, _PLAIN_BYTES)
    if rare and _has_forbidden(data, rare):
        text = drop_forbidden(text)  # NUL too: it is no text, and PostgreSQL refuses it
        folded = _LINE_SPACES.sub(" ", text)
    else:
        folded = _LINE_SPACES.sub(" ", text) if _needs_folding(data, text) else text
    lines = [line.strip(" \u00a0") for line in folded.split("\n")]
    if not any(lines):
        raise InvalidArticle(
            path,
            "the file is empty; an article needs a title, a dateline and at least one paragraph",
        )
    index = next((i for i, line in enumerate(lines) if DATELINE.match(line)), None)
    if index is None:
        raise _no_dateline(path, lines)
    number = index + 1
    published, updated = _parse_dateline(lines[index], zone, path, number, not_after)
    at = next((i for i in range(index - 1, -1, -1) if lines[i]), None)
    if at is None:
        raise InvalidArticle(path, "no title: put the title on the line above the dateline", number)
    if problem := limits.title(lines[at]):
        raise InvalidArticle(path, f"the title {problem}", at + 1)
    paragraphs = tuple(line for line in lines[index + 1 :] if line)
    if not paragraphs:
        raise InvalidArticle(path, "no body: add at least one paragraph below the dateline", number)
    if problem := limits.body(paragraphs):
        raise InvalidArticle(path, f"the body {problem}")
    return ParsedArticle(
        id=article_id,
        title=lines[at],
        published=published,
        updated=updated,
        paragraphs=paragraphs,
        section=section,
        source=text,
        folded="\u00a0" not in folded,  # lines are folded but for NBSP, which _fold takes too
    )


def _has_forbidden(data: bytes, rare: bytes) -> bool:
    """Whether the UTF-8 `data`, whose bytes outside _PLAIN_BYTES are `rare`, has any
    character text.XML_FORBIDDEN matches."""
    if rare.translate(None, _LEAD_BYTES):
        return True
    return any(_FORBIDDEN_AFTER[lead].search(data) for lead in set(rare))


def _needs_folding(data: bytes, text: str) -> bool:
    """Whether _LINE_SPACES would change `text`, the decoded `data`: a quick test."""
    if data.translate(None, _NOT_ASCII_SPACES) or b"  " in data:
        return True
    return not text.isascii() and any(space in text for space in _WIDER_SPACES)
