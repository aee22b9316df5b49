"""Interoperability: feed clients besides feedparser and reader subscribed to one real gunicorn
(`feeds serve`) over real HTTP, on a store with hostile titles, datelines on both sides of
both summer-time changes in Europe/London, small pages (so archives exist), corrections,
a late article, a withdrawal and an embargo:

- newsboat (Debian's package), run non-interactively (`newsboat -x reload`) with urls,
  cache and config files of its own, and read back from its SQLite cache (what its article
  list shows);
- rss-parser and @extractus/feed-extractor, the JavaScript parsers in tests/interop/,
  through tests/interop/read.mjs;
- fastfeedparser, a Python parser.

The store is polled three times (`Story`): after the first import, after the changes, and
after the embargo's release; each poll records what every client made of the subscription
documents and of every document on the prev-archive chain, and the tests compare that with
the articles. Where a client has a bug of its own (the README's "Notes on clients"), its
tests assert what it shows. A client that is not installed skips its tests with the package
to install, except in CI (the CI variable set), where that is a failure.
"""

from __future__ import annotations

import dataclasses
import html
import importlib
import importlib.util
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.support import (
    ROOT,
    Content,
    Served,
    article_text,
    clean_environment,
    fetch,
    start_server,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
INTEROP = ROOT / "tests" / "interop"
TAG = "tag:127.0.0.1,2026-01-15:"  # every article here is first stored on NOW's day
ATOM = "{http://www.w3.org/2005/Atom}"
AT = "{http://purl.org/atompub/tombstones/1.0}"
FORMATS = {"rss": "rss.xml", "atom": "atom.xml", "json": "feed.json"}

NEWSBOAT = "newsboat"
RSS_PARSER = "rss-parser"
FEED_EXTRACTOR = "feed-extractor"
FASTFEEDPARSER = "fastfeedparser"
PARSERS = {  # the parsers read documents; newsboat keeps a cache of items
    RSS_PARSER: ("rss", "atom"),
    FEED_EXTRACTOR: ("rss", "atom", "json"),
    FASTFEEDPARSER: ("rss", "atom", "json"),
}
NO_JSON_FEED = (NEWSBOAT, RSS_PARSER)  # they read RSS and Atom only


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Article:
    """An article file, and the instants its dateline stands for."""

    id: str
    section: str
    title: str
    dateline: str
    published: datetime
    updated: datetime
    # The service sends titles holding an end tag or a character reference as Atom
    # type="html" (escaped HTML), the others as type="text".
    atom_html: bool = False
    corrected: bool = False

    @property
    def entry_id(self) -> str:
        return TAG + self.id

    @property
    def path(self) -> str:
        return f"{self.section}/{self.id}.txt" if self.section else f"{self.id}.txt"

    @property
    def paragraphs(self) -> tuple[str, ...]:
        first = f"{'Corrected: the' if self.corrected else 'The'} first paragraph of {self.id}."
        return first, "Plain text: <b>not bold</b> & AT&amp;T."

    @property
    def html(self) -> str:
        """The article's text as the HTML paragraphs the service sends."""
        return "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in self.paragraphs)

    def text(self) -> str:
        return article_text(title=self.title, dateline=self.dateline, paragraphs=self.paragraphs)

    def correct(self, title: str, updated: datetime) -> Article:
        """The article after a correction of its title and text imported at `updated`."""
        return dataclasses.replace(self, title=title, updated=updated, corrected=True)


def article(
    article_id: str,
    section: str,
    title: str,
    dateline: str,
    published: datetime,
    updated: datetime | None = None,
    *,
    atom_html: bool = False,
) -> Article:
    return Article(article_id, section, title, dateline, published, updated or published, atom_html)


# Published in this order, which is also the order of their update markers. London's clocks
# went back at 02:00 BST on 27 October 2019 (01:30 came twice: the first is read) and forward
# at 01:00 GMT on 29 March 2020 (01:30 did not exist: read with the offset before).
CORPUS = (
    article("plain", "sport", "Plain title", "12 October 2019, 09:00", utc(2019, 10, 12, 8, 0)),
    article(
        "quotes",
        "world",
        "\"Double\" and 'single' quotes",
        "26 October 2019, 12:00",
        utc(2019, 10, 26, 11, 0),
    ),
    article(
        "less", "world", "Less < more > equal", "27 October 2019, 01:30", utc(2019, 10, 27, 0, 30)
    ),
    article("cdata", "", "CDATA ]]> end", "27 October 2019, 03:00", utc(2019, 10, 27, 3, 0)),
    article("br", "uk", "<br> line", "2 November 2019, 10:00", utc(2019, 11, 2, 10, 0)),
    article("cafe", "uk", "Zoë’s café — “quoted”", "28 March 2020, 18:00", utc(2020, 3, 28, 18, 0)),
    article(
        "emoji",
        "sport",
        "Launch 🚀 day 👩\u200d🚀",
        "29 March 2020, 00:30",
        utc(2020, 3, 29, 0, 30),
    ),
    article(
        "numref",
        "",
        "Copyright &#169; sign",
        "29 March 2020, 01:30",
        utc(2020, 3, 29, 1, 30),
        atom_html=True,
    ),
    # The newest four: the first subscription document.
    article(
        "amp",
        "world",
        "AT&T <i>italic</i> & more",
        "29 March 2020, 03:00",
        utc(2020, 3, 29, 2, 0),
        atom_html=True,
    ),
    article(
        "ent",
        "uk",
        "&amp; literal",
        "29 March 2020, 09:00 | Updated: 29 March 2020, 10:30",
        utc(2020, 3, 29, 8, 0),
        utc(2020, 3, 29, 9, 30),
        atom_html=True,
    ),
    article(
        "img",
        "world",
        "<img src=x onerror=alert(1)>",
        "30 March 2020, 10:00",
        utc(2020, 3, 30, 9, 0),
    ),
    article("endp", "uk", "a </p> b", "1 April 2020, 09:00", utc(2020, 4, 1, 8, 0), atom_html=True),
)
FIRST = {a.id: a for a in CORPUS}
PAGE = ("endp", "img", "ent", "amp")  # the first subscription document
# The changes, an hour apart on the store's clock: a correction of an article in the
# subscription document and of one already in an archive, a late article with an old dateline
# (in the repeated hour), then a withdrawal and an embargoed article.
IN_PAGE = FIRST["img"].correct("<img src=x onerror=alert(1)> corrected", utc(2026, 1, 15, 13, 0))
ARCHIVED = FIRST["quotes"].correct(
    "\"Double\" and 'single' quotes, corrected", utc(2026, 1, 15, 14, 0)
)
LATE = article(
    "late",
    "world",
    "Late <late> & “early” filing",
    "27 October 2019, 01:59",
    utc(2019, 10, 27, 0, 59),
)
WITHDRAWN = "amp"
EMBARGO = article(
    "embargo",
    "sport",
    "Embargo 🔒 until <17:00>",
    "15 January 2026, 17:00",
    utc(2026, 1, 15, 17, 0),
)
CHANGED = {a.id: a for a in CORPUS if a.id != WITHDRAWN} | {
    a.id: a for a in (IN_PAGE, ARCHIVED, LATE)
}
RELEASED = CHANGED | {EMBARGO.id: EMBARGO}
# The subscription documents: the articles that changed most recently, the latest first.
CHANGED_PAGE = ("late", "quotes", "img", "endp")
RELEASED_PAGE = ("embargo", "late", "quotes", "img")


# ---------------------------------------------------------------------------------------------
# What a client shows.


@dataclass(frozen=True)
class Shown:
    """One entry of a document as a client shows it."""

    id: str
    title: str
    published: datetime | None
    updated: datetime | None  # None where the client gives no update time
    content: str


@dataclass(frozen=True)
class Document:
    """What a parser made of one document: its entries, or the error it gave."""

    url: str
    entries: tuple[Shown, ...] = ()
    error: str = ""

    def entry(self, article_id: str) -> Shown:
        (found,) = [e for e in self.entries if e.id == TAG + article_id]
        return found

    def ids(self) -> list[str]:
        return [e.id.removeprefix(TAG) for e in self.entries]


@dataclass(frozen=True)
class Row:
    """One item of newsboat's cache (its rss_item table), as its article list shows it."""

    rowid: int
    guid: str
    title: str
    published: datetime
    content: str
    feedurl: str
    deleted: bool


def instant(value: object) -> datetime | None:
    """An RFC 3339 string as a parser gave it, as an aware datetime; None when absent."""
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.tzinfo is not None, value
    return moment


def from_rss_parser(url: str, result: dict[str, Any]) -> Document:
    # rss-parser: RSS guid or Atom id; isoDate is RSS pubDate or Atom published; RSS
    # content:encoded or Atom content. It gives no update time.
    if "error" in result:
        return Document(url, error=result["error"])
    entries = tuple(
        Shown(
            id=item.get("guid") or item.get("id", ""),
            title=item.get("title", ""),
            published=instant(item.get("isoDate")),
            updated=None,
            content=item.get("content:encoded") or item.get("content", ""),
        )
        for item in result["items"]
    )
    return Document(url, entries)


def from_feed_extractor(url: str, result: dict[str, Any]) -> Document:
    # feed-extractor normalises every format to id, title, link, published, description (the
    # text without tags). It gives no update time.
    if "error" in result:
        return Document(url, error=result["error"])
    entries = tuple(
        Shown(
            id=entry["id"],
            title=entry["title"],
            published=instant(entry["published"]),
            updated=None,
            content=entry["description"],
        )
        for entry in result["entries"]
    )
    return Document(url, entries)


def read_with_node(parser: str, urls: list[str]) -> dict[str, Document]:
    """What `parser` (rss-parser, feed-extractor) made of each URL, read by one Node process."""
    done = subprocess.run(
        ["node", str(INTEROP / "read.mjs"), parser, *urls],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_environment(),
        check=True,
    )
    results = json.loads(done.stdout)
    assert results["parser"] == parser
    convert = from_rss_parser if parser == RSS_PARSER else from_feed_extractor
    return {url: convert(url, result) for url, result in results["documents"].items()}


def read_with_fastfeedparser(urls: list[str]) -> dict[str, Document]:
    # fastfeedparser fetches the URL itself; published and updated are RFC 3339 strings.
    parser: Any = importlib.import_module("fastfeedparser")
    documents = {}
    for url in urls:
        try:
            parsed = parser.parse(url)
        except Exception as e:  # a parser's refusal is what it shows
            documents[url] = Document(url, error=f"{type(e).__name__}: {e}")
            continue
        entries = tuple(
            Shown(
                id=entry.get("id", ""),
                title=entry.get("title", ""),
                published=instant(entry.get("published")),
                updated=instant(entry.get("updated")),
                content=(entry.get("content") or [{}])[0].get("value", ""),
            )
            for entry in parsed.entries
        )
        documents[url] = Document(url, entries)
    return documents


@dataclass
class Newsboat:
    """A newsboat of its own: urls, config and cache files in `folder`."""

    folder: Path

    def reload(self, urls: list[str]) -> tuple[list[Row], str]:
        """`newsboat -x reload` of `urls`: every item of the cache, and the errors it logged."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "urls").write_text("".join(url + "\n" for url in urls))
        (self.folder / "config").write_text("")  # the defaults
        log = self.folder / "errors.log"
        log.unlink(missing_ok=True)
        subprocess.run(
            [
                NEWSBOAT,
                *("-x", "reload"),
                *("-u", str(self.folder / "urls")),
                *("-c", str(self.folder / "cache.db")),
                *("-C", str(self.folder / "config")),
                *("-l", "1", "-d", str(log)),  # user errors only
            ],
            env=clean_environment({"HOME": str(self.folder), "LANG": "C.UTF-8"}),
            capture_output=True,
            timeout=60,
            check=True,
        )
        with closing(sqlite3.connect(self.folder / "cache.db")) as cache:
            rows = [
                Row(rowid, guid, title, datetime.fromtimestamp(at, UTC), content, feed, deleted)
                for rowid, guid, title, at, content, feed, deleted in cache.execute(
                    "SELECT id, guid, title, pubDate, content, feedurl, deleted FROM rss_item "
                    "ORDER BY id"
                )
            ]
        return rows, log.read_text() if log.exists() else ""


# ---------------------------------------------------------------------------------------------
# The store, its clients and the three polls.


def missing_clients() -> dict[str, str]:
    """Each client that is not installed, with what to install."""
    missing = {}
    if shutil.which(NEWSBOAT) is None:
        missing[NEWSBOAT] = "newsboat is not installed (apt-get install newsboat)"
    node_packages = {RSS_PARSER: "rss-parser", FEED_EXTRACTOR: "@extractus/feed-extractor"}
    for client, package in node_packages.items():
        if shutil.which("node") is None:
            missing[client] = (
                f"{package} needs Node.js and npm (apt-get install nodejs npm; make test then "
                "installs the packages of tests/interop/)"
            )
        elif not (INTEROP / "node_modules" / package / "package.json").exists():
            missing[client] = (
                f"{package} is not installed (npm ci --prefix tests/interop, which make test "
                "runs where npm is installed)"
            )
    if importlib.util.find_spec("fastfeedparser") is None:
        missing[FASTFEEDPARSER] = "fastfeedparser is not installed (pip install -e '.[test]')"
    return missing


@dataclass
class Poll:
    """What every installed client showed at one moment."""

    chains: dict[str, list[str]]  # format -> the subscription document and its archives
    raw: dict[str, bytes]  # URL -> the document as served
    documents: dict[str, dict[str, Document]] = field(default_factory=dict)  # parser -> URL ->
    subscribed: dict[str, list[Row]] = field(default_factory=dict)  # format -> newsboat's cache
    subscribed_errors: dict[str, str] = field(default_factory=dict)
    archived: dict[str, list[Row]] = field(default_factory=dict)  # format -> a fresh newsboat
    # subscribed to the whole chain
    both: list[Row] = field(default_factory=list)  # a fresh newsboat subscribed to the RSS
    # and the Atom subscription documents, in that order

    def subscription(self, parser: str, fmt: str) -> Document:
        return self.documents[parser][self.chains[fmt][0]]

    def chain(self, parser: str, fmt: str) -> list[Document]:
        return [self.documents[parser][url] for url in self.chains[fmt]]


@dataclass
class Story:
    """The store and what its clients showed when polled after each step."""

    missing: dict[str, str]
    first: Poll
    changed: Poll
    released: Poll
    reloads: list[list[str]]  # access log lines of newsboat's second and third reloads


def archive_chain(server: Served, fmt: str) -> tuple[list[str], dict[str, bytes]]:
    """The subscription document of `fmt` and every archive reached from it along
    prev-archive (next_url in JSON Feed), with their bytes."""
    url = server.url("/feeds/" + FORMATS[fmt])
    urls: list[str] = []
    raw: dict[str, bytes] = {}
    while url:
        assert len(urls) < 30, "the chain does not end"
        status, _, body = fetch(url)
        assert status == 200, url
        urls.append(url)
        raw[url] = body
        if fmt == "json":
            url = json.loads(body).get("next_url", "")
            continue
        root = etree.fromstring(body)
        links = root.iter(f"{ATOM}link")
        url = next(
            (str(link.get("href")) for link in links if link.get("rel") == "prev-archive"), ""
        )
    return urls, raw


def poll(server: Served, missing: dict[str, str], folder: Path, subscriber: Path) -> Poll:
    """What every installed client makes of the feeds now; newsboat's subscriber keeps its
    cache in `subscriber` from poll to poll, and a fresh newsboat in `folder` reads the
    chains."""
    chains: dict[str, list[str]] = {}
    raw: dict[str, bytes] = {}
    for fmt in FORMATS:
        chains[fmt], documents = archive_chain(server, fmt)
        raw |= documents
    seen = Poll(chains, raw)
    for parser, formats in PARSERS.items():
        if parser in missing:
            continue
        urls = [url for fmt in formats for url in chains[fmt]]
        if parser in NO_JSON_FEED:
            urls.append(chains["json"][0])
        if parser == FASTFEEDPARSER:
            seen.documents[parser] = read_with_fastfeedparser(urls)
        else:
            seen.documents[parser] = read_with_node(parser, urls)
    if NEWSBOAT not in missing:
        for fmt in FORMATS:
            reader = Newsboat(subscriber / fmt)
            seen.subscribed[fmt], seen.subscribed_errors[fmt] = reader.reload([chains[fmt][0]])
        for fmt in ("rss", "atom"):
            seen.archived[fmt], _ = Newsboat(folder / fmt).reload(chains[fmt])
        both = [chains["rss"][0], chains["atom"][0]]
        seen.both, _ = Newsboat(folder / "both").reload(both)
    return seen


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """One real server for the module (pages of 4, archive parts of 3, max-age 0, a clock of
    its own), the corpus imported, polled, changed, polled, released and polled again."""
    folder = tmp_path_factory.mktemp("interop")
    content = Content(folder / "content")
    clock = folder / "clock"
    subscriber = folder / "newsboat"

    def at(moment: datetime) -> None:
        clock.write_text(moment.isoformat())

    at(NOW)
    server = start_server(
        folder,
        {
            "FEEDS_PAGE_SIZE": "4",
            "FEEDS_ARCHIVE_SIZE": "3",
            "FEEDS_MAX_AGE": "0",
            "FEEDS_CONTENT": str(content.root),
            "FEEDS_CLOCK": str(clock),
        },
    )

    def run(*args: str) -> str:
        result = server.feeds(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def write(*articles: Article) -> list[str]:
        return [str(content.write(a.path, a.text())) for a in articles]

    def newsboat_reload() -> list[str]:
        """The subscriber's reload of the subscription documents: its requests."""
        before = len(server.access_log())
        for fmt in FORMATS:
            Newsboat(subscriber / fmt).reload([server.url("/feeds/" + FORMATS[fmt])])
        deadline = time.monotonic() + 10  # the workers log a request once it is answered
        while len(server.access_log()) < before + len(FORMATS) and time.monotonic() < deadline:
            time.sleep(0.05)
        return server.access_log()[before:]

    try:
        missing = missing_clients()
        # The older articles in one import, then the newest four one by one, a minute apart.
        assert "8 added" in run("import", *write(*CORPUS[:8]))
        for minute, newest in enumerate(CORPUS[8:], start=1):
            at(NOW.replace(minute=minute))
            assert "1 added" in run("import", *write(newest))
        first = poll(server, missing, folder / "archives-first", subscriber)
        # Two more reloads of the subscriber, nothing changed.
        reloads = [newsboat_reload() for _ in range(2 if NEWSBOAT not in missing else 0)]

        at(IN_PAGE.updated)
        assert "1 updated" in run("import", *write(IN_PAGE))
        at(ARCHIVED.updated)
        assert "1 updated" in run("import", *write(ARCHIVED))
        at(utc(2026, 1, 15, 15, 0))
        assert "1 added" in run("import", *write(LATE))
        at(utc(2026, 1, 15, 16, 0))
        run("delete", WITHDRAWN)
        assert "1 added" in run("import", *write(EMBARGO))
        changed = poll(server, missing, folder / "archives-changed", subscriber)

        at(EMBARGO.published)
        released = poll(server, missing, folder / "archives-released", subscriber)
        yield Story(missing, first, changed, released, reloads)
    finally:
        server.stop()


def need(story: Story, client: str) -> None:
    """Skip (fail in CI) unless `client` is installed."""
    reason = story.missing.get(client)
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: .ci/run installs every client")
    pytest.skip(reason)


# ---------------------------------------------------------------------------------------------
# What each client should show, bugs included (README, "Notes on clients").


def title_sources(body: bytes, fmt: str) -> dict[str, str]:
    """Entry id -> its title element's text exactly as written in the document's source."""
    text = body.decode()
    if fmt == "json":
        return {item["id"]: item["title"] for item in json.loads(text)["items"]}
    entry, key = ("item", "guid") if fmt == "rss" else ("entry", "id")
    sources = {}
    for block in re.findall(rf"<{entry}>(.*?)</{entry}>", text, re.DOTALL):
        entry_id = re.search(rf"<{key}[^>]*>(.*?)</{key}>", block, re.DOTALL)
        title = re.search(r"<title[^>]*>(.*?)</title>", block, re.DOTALL)
        assert entry_id and title, block
        sources[entry_id[1]] = title[1]
    return sources


XML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
HTML_NAMED = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'"}
HTML_NAMED |= {"&apos;": "'", "&nbsp;": "\xa0"}


def feed_extractor_text(source: str) -> str:
    """The text feed-extractor 8 shows for an RSS or Atom text element written as `source`:
    fast-xml-parser decodes the five named XML entities but leaves character references as
    they are; feed-extractor then unescapes the result as HTML, in passes: the named entities,
    then decimal references, then hexadecimal ones."""
    text = re.sub(r"&(lt|gt|amp|quot|apos);", lambda m: XML_NAMED[m[1]], source).strip()
    text = re.sub("|".join(map(re.escape, HTML_NAMED)), lambda m: HTML_NAMED[m[0]], text)
    text = re.sub(r"&#([0-9]+);", lambda m: chr(int(m[1])), text)
    return re.sub(r"&#x([0-9A-Fa-f]+);", lambda m: chr(int(m[1], 16)), text)


def expected_title(client: str, fmt: str, article: Article, source: str) -> str:
    """The title `client` shows for `article` read from `fmt`, whose title element is written
    `source` in the document."""
    if client == FEED_EXTRACTOR and fmt != "json":
        return feed_extractor_text(source)
    if client in (RSS_PARSER, FASTFEEDPARSER) and fmt == "atom" and article.atom_html:
        return html.escape(article.title, quote=False)  # the HTML, not the text it stands for
    return article.title


def expected_instants(client: str, fmt: str, article: Article) -> tuple[datetime, datetime | None]:
    """(published, updated) as `client` shows them; None where it gives no update time."""
    if client == FASTFEEDPARSER:
        return article.published, article.updated
    if client == FEED_EXTRACTOR and fmt == "atom":
        return article.updated, None  # its "published" is Atom's updated
    return article.published, None


def content_seen(client: str, article: Article) -> str:
    """What of the article's text `client` is checked to show."""
    if client == FEED_EXTRACTOR:  # its description is the text without tags, HTML-decoded
        return article.paragraphs[0]
    return article.html


PARSER_CASES = [
    pytest.param(p, f, id=f"{p}-{f}") for p, formats in PARSERS.items() for f in formats
]


def chain_entries(seen: Poll, parser: str, fmt: str) -> list[tuple[Document, Shown]]:
    return [(doc, entry) for doc in seen.chain(parser, fmt) for entry in doc.entries]


def check_entry(
    seen: Poll, parser: str, fmt: str, doc: Document, entry: Shown, article: Article
) -> None:
    source = title_sources(seen.raw[doc.url], fmt)[article.entry_id]
    assert entry.title == expected_title(parser, fmt, article, source), (doc.url, source)
    published, updated = expected_instants(parser, fmt, article)
    assert (entry.published, entry.updated) == (published, updated), (doc.url, article.id)
    assert content_seen(parser, article) in entry.content, (doc.url, entry.content)


# ---------------------------------------------------------------------------------------------
# The parsers: every document of the chain, polled three times.


@pytest.mark.parametrize(("parser", "fmt"), PARSER_CASES)
def test_parsers_read_every_document_without_error(story: Story, parser: str, fmt: str) -> None:
    need(story, parser)
    for seen in (story.first, story.changed, story.released):
        for doc in seen.chain(parser, fmt):
            assert not doc.error, (doc.url, doc.error)


@pytest.mark.parametrize(("parser", "fmt"), PARSER_CASES)
def test_parsers_show_every_title_and_instant_exactly(story: Story, parser: str, fmt: str) -> None:
    need(story, parser)
    entries = chain_entries(story.first, parser, fmt)
    subscription, *archives = story.first.chain(parser, fmt)
    archived = [entry.id for doc in archives for entry in doc.entries]
    assert sorted(archived) == sorted(a.entry_id for a in CORPUS)  # each article archived once
    assert {entry.id for entry in subscription.entries} <= set(archived)
    for doc, entry in entries:
        check_entry(story.first, parser, fmt, doc, entry, FIRST[entry.id.removeprefix(TAG)])


@pytest.mark.parametrize("parser", [RSS_PARSER, FASTFEEDPARSER])
def test_rss_titles_are_the_articles_text_to_plain_text_clients(story: Story, parser: str) -> None:
    # Clients that take an RSS title as plain text show exactly the article's title.
    need(story, parser)
    shown = {e.id: e.title for _, e in chain_entries(story.first, parser, "rss")}
    assert shown == {a.entry_id: a.title for a in CORPUS}


def test_feed_extractor_shows_rss_titles_without_ampersands_exactly(story: Story) -> None:
    # feed-extractor decodes twice (see feed_extractor_text), which only a "&" can tell.
    need(story, FEED_EXTRACTOR)
    shown = {e.id: e.title for _, e in chain_entries(story.first, FEED_EXTRACTOR, "rss")}
    plain = {a.entry_id: a.title for a in CORPUS if "&" not in a.title}
    assert {i: t for i, t in shown.items() if i in plain} == plain


@pytest.mark.parametrize(("parser", "fmt"), PARSER_CASES)
def test_parsers_see_one_entry_per_article_along_the_chain(
    story: Story, parser: str, fmt: str
) -> None:
    need(story, parser)
    for seen, visible in (
        (story.first, FIRST),
        (story.changed, CHANGED),
        (story.released, RELEASED),
    ):
        documents = seen.chain(parser, fmt)
        for doc in documents:
            assert len(set(doc.ids())) == len(doc.ids()), doc.url
        archived = Counter(i for doc in documents[1:] for i in doc.ids())
        assert max(archived.values()) == 1, archived  # each article in one archive at most
        assert {i for doc in documents for i in doc.ids()} == set(visible)


@pytest.mark.parametrize(("parser", "fmt"), PARSER_CASES)
def test_parsers_see_the_latest_version_everywhere(story: Story, parser: str, fmt: str) -> None:
    need(story, parser)
    for seen, visible in ((story.changed, CHANGED), (story.released, RELEASED)):
        for doc, entry in chain_entries(seen, parser, fmt):
            check_entry(seen, parser, fmt, doc, entry, visible[entry.id.removeprefix(TAG)])


@pytest.mark.parametrize(("parser", "fmt"), PARSER_CASES)
def test_parsers_see_a_correction_in_the_subscription_document(
    story: Story, parser: str, fmt: str
) -> None:
    need(story, parser)
    before = story.first.subscription(parser, fmt).entry(IN_PAGE.id)
    after = story.changed.subscription(parser, fmt).entry(IN_PAGE.id)
    assert before.title != after.title
    check_entry(story.changed, parser, fmt, story.changed.subscription(parser, fmt), after, IN_PAGE)


@pytest.mark.parametrize(("parser", "fmt"), PARSER_CASES)
def test_parsers_see_a_correction_of_an_archived_article_on_the_next_poll(
    story: Story, parser: str, fmt: str
) -> None:
    need(story, parser)
    assert ARCHIVED.id not in story.first.subscription(parser, fmt).ids()
    document = story.changed.subscription(parser, fmt)
    assert ARCHIVED.id in document.ids(), document.ids()
    check_entry(story.changed, parser, fmt, document, document.entry(ARCHIVED.id), ARCHIVED)


@pytest.mark.parametrize(("parser", "fmt"), PARSER_CASES)
def test_parsers_see_a_late_article_at_the_top(story: Story, parser: str, fmt: str) -> None:
    need(story, parser)
    document = story.changed.subscription(parser, fmt)
    assert document.ids()[0] == LATE.id, document.ids()
    check_entry(story.changed, parser, fmt, document, document.entries[0], LATE)


@pytest.mark.parametrize(("parser", "fmt"), PARSER_CASES)
def test_parsers_see_the_latest_changes_first(story: Story, parser: str, fmt: str) -> None:
    need(story, parser)
    assert story.first.subscription(parser, fmt).ids() == list(PAGE)
    assert story.changed.subscription(parser, fmt).ids() == list(CHANGED_PAGE)
    assert story.released.subscription(parser, fmt).ids() == list(RELEASED_PAGE)


@pytest.mark.parametrize(("parser", "fmt"), PARSER_CASES)
def test_parsers_no_longer_see_a_withdrawn_article(story: Story, parser: str, fmt: str) -> None:
    need(story, parser)
    assert WITHDRAWN in story.first.subscription(parser, fmt).ids()
    for seen in (story.changed, story.released):
        assert all(WITHDRAWN not in doc.ids() for doc in seen.chain(parser, fmt))


@pytest.mark.parametrize(("parser", "fmt"), PARSER_CASES)
def test_parsers_see_an_embargoed_article_at_its_release(
    story: Story, parser: str, fmt: str
) -> None:
    need(story, parser)
    assert all(EMBARGO.id not in doc.ids() for doc in story.changed.chain(parser, fmt))
    document = story.released.subscription(parser, fmt)
    assert document.ids()[0] == EMBARGO.id
    check_entry(story.released, parser, fmt, document, document.entries[0], EMBARGO)


@pytest.mark.parametrize("client", NO_JSON_FEED)
def test_clients_without_json_feed_read_nothing_from_it(story: Story, client: str) -> None:
    need(story, client)
    if client == NEWSBOAT:
        assert story.first.subscribed["json"] == []
        assert "XML root node is NULL" in story.first.subscribed_errors["json"]
        return
    document = story.first.subscription(client, "json")
    assert document.entries == () and "Non-whitespace before first tag" in document.error


# ---------------------------------------------------------------------------------------------
# newsboat: a subscriber to each subscription document, reloaded at every poll, and a fresh
# newsboat subscribed to every document of the chain at each poll.

NEWSBOAT_FORMATS = ("rss", "atom")


def newsboat_rows(rows: list[Row]) -> dict[str, Row]:
    """newsboat's items by article id; every guid once."""
    by_id = {row.guid.removeprefix(TAG): row for row in rows}
    assert len(by_id) == len(rows), [row.guid for row in rows]
    return by_id


def check_row(row: Row, article: Article) -> None:
    # newsboat shows the title as text (Atom type="html" rendered), the published instant
    # (RSS pubDate, Atom published), and keeps the HTML of the text.
    assert (row.guid, row.title, row.published) == (
        article.entry_id,
        article.title,
        article.published,
    )
    assert row.content == article.html
    assert not row.deleted


@pytest.mark.parametrize("fmt", NEWSBOAT_FORMATS)
def test_newsboat_shows_every_title_and_instant_exactly(story: Story, fmt: str) -> None:
    need(story, NEWSBOAT)
    rows = newsboat_rows(story.first.archived[fmt])
    assert sorted(rows) == sorted(FIRST)
    for article_id, row in rows.items():
        check_row(row, FIRST[article_id])
    assert not story.first.subscribed_errors[fmt]


@pytest.mark.parametrize("fmt", NEWSBOAT_FORMATS)
def test_newsboat_revalidates_from_its_third_reload(story: Story, fmt: str) -> None:
    # newsboat 2.21 drops the validators of a feed's first download (README, "Notes on
    # clients"): its second reload asks again without them, its third gets a 304.
    need(story, NEWSBOAT)
    request = f'"GET /feeds/{FORMATS[fmt]} HTTP/1.1"'
    second, third = (
        [line.split(request, 1)[1].split()[0] for line in reload if request in line]
        for reload in story.reloads
    )
    assert (second, third) == (["200"], ["304"])
    assert all("newsboat/2.21" in line for reload in story.reloads for line in reload)


@pytest.mark.parametrize("fmt", NEWSBOAT_FORMATS)
def test_newsboat_updates_a_corrected_item_in_place(story: Story, fmt: str) -> None:
    need(story, NEWSBOAT)
    before = newsboat_rows(story.first.subscribed[fmt])
    after = newsboat_rows(story.changed.subscribed[fmt])
    assert after[IN_PAGE.id].rowid == before[IN_PAGE.id].rowid  # the same item, not a second one
    check_row(after[IN_PAGE.id], IN_PAGE)


@pytest.mark.parametrize("fmt", NEWSBOAT_FORMATS)
def test_newsboat_sees_a_correction_of_an_archived_article(story: Story, fmt: str) -> None:
    need(story, NEWSBOAT)
    assert ARCHIVED.id not in newsboat_rows(story.first.subscribed[fmt])
    rows = newsboat_rows(story.changed.subscribed[fmt])
    assert ARCHIVED.id in rows, sorted(rows)
    check_row(rows[ARCHIVED.id], ARCHIVED)


@pytest.mark.parametrize("fmt", NEWSBOAT_FORMATS)
def test_newsboat_sees_a_late_article(story: Story, fmt: str) -> None:
    need(story, NEWSBOAT)
    rows = newsboat_rows(story.changed.subscribed[fmt])
    assert LATE.id in rows, sorted(rows)
    check_row(rows[LATE.id], LATE)


@pytest.mark.parametrize("fmt", NEWSBOAT_FORMATS)
def test_newsboat_keeps_a_withdrawn_item(story: Story, fmt: str) -> None:
    # newsboat keeps every item it has seen, and reads no RFC 6721 tombstone.
    need(story, NEWSBOAT)
    before = newsboat_rows(story.first.subscribed[fmt])[WITHDRAWN]
    for seen in (story.changed, story.released):
        assert newsboat_rows(seen.subscribed[fmt])[WITHDRAWN] == before
        assert WITHDRAWN not in newsboat_rows(seen.archived[fmt])


@pytest.mark.parametrize("fmt", NEWSBOAT_FORMATS)
def test_newsboat_sees_an_embargoed_article_at_its_release(story: Story, fmt: str) -> None:
    need(story, NEWSBOAT)
    assert EMBARGO.id not in newsboat_rows(story.changed.subscribed[fmt])
    check_row(newsboat_rows(story.released.subscribed[fmt])[EMBARGO.id], EMBARGO)


@pytest.mark.parametrize("fmt", NEWSBOAT_FORMATS)
def test_newsboat_sees_every_article_once_in_its_latest_version(story: Story, fmt: str) -> None:
    need(story, NEWSBOAT)
    for seen, visible in ((story.changed, CHANGED), (story.released, RELEASED)):
        rows = newsboat_rows(seen.archived[fmt])
        assert sorted(rows) == sorted(visible)
        for article_id, row in rows.items():
            check_row(row, visible[article_id])


def test_newsboat_keeps_one_item_per_article_read_from_two_feeds(story: Story) -> None:
    # newsboat's cache holds one item per guid: read from the RSS and the Atom document, an
    # article is one item, of the feed read last.
    need(story, NEWSBOAT)
    rows = newsboat_rows(story.first.both)
    assert sorted(rows) == sorted(PAGE)
    assert {row.feedurl for row in rows.values()} == {story.first.chains["atom"][0]}
    for article_id, row in rows.items():
        check_row(row, FIRST[article_id])


def test_the_atom_subscription_document_carries_the_tombstone(story: Story) -> None:
    # What the Atom clients skip: RFC 6721's at:deleted-entry for the withdrawn article.
    root = etree.fromstring(story.changed.raw[story.changed.chains["atom"][0]])
    refs = [tomb.get("ref") for tomb in root.iter(f"{AT}deleted-entry")]
    assert refs == [TAG + WITHDRAWN]
