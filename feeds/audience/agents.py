"""What a feed reader's User-Agent says: which reader it is, how many subscribers it reports
for the feed (hosted aggregators do; self-hosted readers and desktop apps do not), and the
aggregator's own id of the feed when it sends one.

The forms are those aggregators send (tests/agents.txt holds real ones, with where each was
recorded); the generic `N subscribers`, `N readers` and `users N` forms catch the rest, from
a client whose name is a plausible product token. A figure past MAX_SUBSCRIBERS is no
count: it is made up, and stored it would overflow the column. A parse reads the first
MAX_AGENT characters in time proportional to them, and is cached per string: it runs on
every poll, and a feed's pollers send the same few strings again.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

MAX_AGENT = 512  # characters of a User-Agent read and kept; the rest is ignored
MAX_READER = 64  # characters of a reader's name (an unknown client's first product token)
MAX_KEY = 255  # characters of a reporting aggregator's key (audience_reporters.key)
# The most subscribers one report may claim: the largest aggregators report a few hundred
# thousand for the most followed feeds; a figure past this is no count (it would also
# overflow PostgreSQL's integer column past 2^31-1).
MAX_SUBSCRIBERS = 10_000_000

# Known readers, by a lowercase part of their User-Agent, in the order tried: Feedly says it
# is "like FeedFetcher-Google", so it comes before Google's own fetcher.
KNOWN = (
    ("feedly", "Feedly"),
    ("inoreader", "Inoreader"),
    ("newsblur", "NewsBlur"),
    ("theoldreader", "The Old Reader"),
    ("feedbin", "Feedbin"),
    ("bazqux", "BazQux"),
    ("netvibes", "Netvibes"),
    ("bloglovin", "Bloglovin"),
    ("feedfetcher-google", "Feedfetcher-Google"),
    ("overcast", "Overcast"),
    ("miniflux", "Miniflux"),
    ("freshrss", "FreshRSS"),
    ("tiny tiny rss", "Tiny Tiny RSS"),
    ("netnewswire", "NetNewsWire"),
    ("newsboat", "Newsboat"),
    ("thunderbird", "Thunderbird"),
    ("feedparser", "feedparser"),
    ("reeder", "Reeder"),
    ("commafeed", "CommaFeed"),
    ("nextcloud-news", "Nextcloud News"),
    ("selfoss", "selfoss"),
    ("liferea", "Liferea"),
    ("quiterss", "QuiteRSS"),
    ("rssowl", "RSSOwl"),
    ("feeder", "Feeder"),
    ("akregator", "Akregator"),
)
KNOWN_NAMES = frozenset(name for _, name in KNOWN)

# A count, with or without thousands separators (1,234 / 1.234 / 1 234), read backwards
# from its keyword: the keyword is found first, then the number just before it, in the few
# characters before (NUMBER_SPAN); a number that does not start within them is too long to
# be a count. So a parse takes time in proportion to the User-Agent's length.
NUMBER_SPAN = 24
_KEYWORD = re.compile(r"(?:subscribers?|readers?)\b", re.IGNORECASE)
_BEFORE = re.compile(r"(?<![\d.,])(\d{1,3}(?:[,. \u00a0]\d{3})+|\d+)\s*\Z")
_USERS = re.compile(  # Yahoo's `users N; views M`
    r"\busers\s{1,8}(\d{1,3}(?:[,. \u00a0]\d{3})+|\d+)(?![\d.,]\d)", re.IGNORECASE
)
# Per-feed ids: NewsBlur's permalink /site/<id>/, `feed-id=X` (The Old Reader, Google's
# fetcher, podcast apps), Feedbin's `feed-id:X`, Netvibes' `feedID: X`.
_IDS = (
    re.compile(r"/site/(\d+)"),
    re.compile(r"feed-?id\s*[=:]\s*([^\s;,)]+)", re.IGNORECASE),
)
_COMPATIBLE = re.compile(r"\(compatible;\s*([^;)]+)")
_PRODUCT = re.compile(r"[^\s/;()]+")
# Controls, and lone surrogates (which no database takes as text).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# A name an aggregator may go by in a generic `N subscribers` form: a product token
# (letters first) followed by its version ("Name/1.2") or a host name ("name.example").
_PLAUSIBLE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\Z")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class Agent:
    """One User-Agent read: `subscribers` is None for a client that reports none; `key`
    tells one reporting aggregator's subscription apart from another's for the same feed:
    its feed id when it sends one, else the reader's name for a known aggregator (its
    pollers' strings change, its figure is one), else the User-Agent with its digits
    masked. `digest` stands for the User-Agent where other clients are told apart, so that
    what is held of a client is small whatever it sends."""

    reader: str
    subscribers: int | None
    feed_id: str | None
    key: str
    digest: bytes


@functools.lru_cache(maxsize=4096)
def parse(user_agent: str) -> Agent:
    """What `user_agent` says, from its first MAX_AGENT characters (any string: nothing
    raises)."""
    cut = user_agent[:MAX_AGENT]
    digest = hashlib.blake2b(cut.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    text = _CONTROL.sub("", cut)
    feed_id = next((m.group(1) for p in _IDS if (m := p.search(text))), None)
    if feed_id is not None:
        feed_id = feed_id[:MAX_KEY]
    reader = _reader(text)
    subscribers, span = _count(text)
    if subscribers is not None and reader not in KNOWN_NAMES and not _plausible(reader, text):
        subscribers = None
    if subscribers is None:
        return Agent(reader, None, feed_id, "", digest)
    if feed_id is not None:
        key = feed_id
    elif reader in KNOWN_NAMES:
        key = reader
    else:
        key = _DIGITS.sub("#", text[: span[0]] + "#" + text[span[1] :])[:MAX_KEY]
    return Agent(reader, subscribers, feed_id, key, digest)


def _count(text: str) -> tuple[int | None, tuple[int, int]]:
    """The subscribers `text` reports (None past MAX_SUBSCRIBERS), and where the number
    is: the first `N subscribers` or `N readers`, else `users N`."""
    for keyword in _KEYWORD.finditer(text):
        start = max(0, keyword.start() - NUMBER_SPAN)
        # The look-behind sees before `start`: a number begun earlier does not match.
        match = _BEFORE.search(text, start, keyword.start())
        if match is not None:
            return _figure(match.group(1)), match.span(1)
    match = _USERS.search(text)
    if match is None:
        return None, (0, 0)
    return _figure(match.group(1)), match.span(1)


def _figure(number: str) -> int | None:
    digits = _DIGITS.findall(number)
    if sum(len(d) for d in digits) > len(str(MAX_SUBSCRIBERS)):
        return None
    n = int("".join(digits))
    return n if n <= MAX_SUBSCRIBERS else None


def _plausible(reader: str, text: str) -> bool:
    """Whether an unknown reader's name is one an aggregator would send: a product token
    with its version (`Name/1.2`) or a host name (`name.example`), not a browser's."""
    if reader == "Mozilla" or not _PLAUSIBLE.match(reader):
        return False
    if "." in reader:
        return True
    at = text.find(reader + "/")
    return at >= 0 and text[at + len(reader) + 1 : at + len(reader) + 2].isdigit()


def _reader(text: str) -> str:
    """The reader's name: a known one, else the first product token (the one after
    `compatible;` in a `Mozilla/5.0 (compatible; X)` string), cut to MAX_READER."""
    lowered = text.lower()
    for part, name in KNOWN:
        if part in lowered:
            return name
    compatible = _COMPATIBLE.search(text) if text.startswith("Mozilla/") else None
    if compatible is not None:
        token = _PRODUCT.search(compatible.group(1))
        if token is not None:
            return token.group(0)[:MAX_READER]
    token = _PRODUCT.search(text)
    return token.group(0)[:MAX_READER] if token is not None else "unknown"
