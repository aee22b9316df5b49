"""Documents in parts: rendering only the entries that changed gives, byte for byte, what
rendering every entry gives, whatever was kept before."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from feeds.formats import FORMATS, jsonfeed
from feeds.formats.parts import EntryParts
from feeds.formats.xmlfeed import XmlFormat
from feeds.lru import ByteLRU
from feeds.model import Article, Entry, FeedDocument, FeedInfo, Image, Tombstone
from tests.samples import document as formats_document

BASE = "https://news.example.com"
XML = ("rss", "atom")
START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def article(number: int, rng: random.Random) -> Article:
    published = START + timedelta(hours=number)
    words = "minister talks <b>markup</b> & café “quotes” ]]> résumé 😀".split()
    paragraphs = tuple(
        " ".join(rng.choice(words) for _ in range(rng.randrange(3, 40)))
        for _ in range(rng.randrange(1, 6))
    )
    return Article(
        id=f"a{number}",
        tag=f"tag:news.example.com,2024-03-01:a{number}",
        title=rng.choice(["Plain title", "A <b>bold</b> title", "Fish & chips"]) + f" {number}",
        published=published,
        updated=published + timedelta(minutes=rng.randrange(0, 90)),
        paragraphs=paragraphs,
        section=rng.choice([None, "world", "uk"]),
        revision=1,
        modified=published + timedelta(days=1),
        authors=tuple(rng.sample(["Ann Lee", "Bo Kim", "Zoë O'Brien"], rng.randrange(0, 3))),
        tags=tuple(rng.sample(["Brexit", "EU", "Tax"], rng.randrange(0, 3))),
        body_html=rng.choice([None, None, "<p>Given as <em>HTML</em> ]]> &amp; more</p>"]),
        # Some have a lead image: the media prefix their entries use is declared on the root
        # of every document that shows one, whichever entries are kept.
        image=rng.choice([None, None, Image(f"{BASE}/media/{number}.jpg?a&b", "Alt & <i>x</i>")]),
    )


def info(**changes: object) -> FeedInfo:
    made = dataclasses.replace(formats_document().info, title="The <Newsroom>")
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def doc(articles: list[Article], **changes: object) -> FeedDocument:
    entries = tuple(Entry(a, f"{BASE}/articles/{a.id}") for a in articles)
    made = FeedDocument(info(updated=max((a.updated for a in articles), default=START)), entries)
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def documents() -> list[FeedDocument]:
    rng = random.Random(11)
    pool = [article(n, rng) for n in range(40)]
    archive = {n: f"{BASE}/feeds/archive/2024/03/1/{m.FILENAME}" for n, m in FORMATS.items()}
    stones = (Tombstone("tag:news.example.com,2024-03-01:gone", START),)
    found = [
        doc([]),
        doc(pool[:1]),
        doc(pool[:20]),
        doc(pool[5:25]),  # shares entries with the one before, at other places
        doc(pool[:20], summary_only=True),
        doc(pool[10:30], tombstones=stones),
        # An archive: no hubs (the others name two), entries shared with the one before.
        doc(pool[20:40], info=info(prev_archive=archive, current=archive, rights="© Us", hubs=())),
    ]
    found += [doc(rng.sample(pool, rng.randrange(1, 15))) for _ in range(10)]
    return found


def whole(name: str, document: FeedDocument) -> bytes:
    """Every entry rendered at once: feedgen's whole document, or for JSON Feed the
    layout of json.dumps(indent=2) of what the document holds."""
    if name in XML:
        return cast(XmlFormat, FORMATS[name]).serialize(document)
    parsed = json.loads(FORMATS[name].render(document))
    return json.dumps(parsed, ensure_ascii=False, indent=2).encode() + b"\n"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_parts_join_to_the_whole_document_whatever_was_kept(name: str) -> None:
    module = FORMATS[name]
    all_documents = documents()
    busy: EntryParts = ByteLRU(1 << 24)
    for document in all_documents:  # kept by other documents showing the same entries
        module.parts(document, busy)
    for document in all_documents:
        fresh = module.parts(document, ByteLRU(1 << 24))
        assert b"".join(fresh) == whole(name, document) == module.render(document)
        assert module.parts(document, busy) == fresh
        assert module.parts(document, ByteLRU(0)) == fresh  # nothing can be kept
        assert module.parts(document) == fresh
        if document.entries:  # a head, one part per entry, a tail
            assert len(fresh) == len(document.entries) + 2


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many entries each format has rendered."""
    counted: Counter[str] = Counter()
    for name in XML:
        module = cast(XmlFormat, FORMATS[name])

        def serialize(
            document: FeedDocument,
            media: bool | None = None,
            _name: str = name,
            _serialize: object = module.serialize,
        ) -> bytes:
            counted[_name] += len(document.entries)
            return _serialize(document, media)  # type: ignore[operator, no-any-return]

        monkeypatch.setattr(module, "serialize", serialize)
    item = jsonfeed._item

    def json_item(entry: Entry, summary_only: bool) -> object:
        counted["json"] += 1
        return item(entry, summary_only)

    monkeypatch.setattr(jsonfeed, "_item", json_item)
    return counted


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_only_the_entries_that_changed_are_rendered(name: str, rendered: Counter[str]) -> None:
    module = FORMATS[name]
    rng = random.Random(4)
    articles = [article(n, rng) for n in range(20)]
    kept: EntryParts = ByteLRU(1 << 24)

    def entries_rendered(document: FeedDocument) -> int:
        before = rendered[name]
        assert b"".join(module.parts(document, kept)) == module.render(document)
        return rendered[name] - before - len(document.entries)  # less render()'s own

    assert entries_rendered(doc(articles)) == 20
    articles[7] = dataclasses.replace(
        articles[7], title="Corrected", revision=2, modified=articles[7].modified + timedelta(1)
    )
    assert entries_rendered(doc(articles)) == 1
    assert b"Corrected" in module.parts(doc(articles), kept)[8]
    # Nothing changed: the XML formats render the first entry again, for the head and tail
    # cut from around it.
    assert entries_rendered(doc(articles)) == (1 if name in XML else 0)
    # A new entry; in JSON Feed also the one that is no longer first (its separator).
    assert entries_rendered(doc([article(99, rng), *articles])) == (1 if name in XML else 2)


def test_an_entry_holding_what_starts_an_entry_is_rendered_whole() -> None:
    """HTML given as HTML goes into RSS as CDATA, as it is: if it ever held the line that
    starts an item, the document is not cut, and comes out as one part."""
    rng = random.Random(8)
    articles = [article(n, rng) for n in range(5)]
    odd = dataclasses.replace(articles[2], body_html="<p>a</p>\n    <item>\n<p>b</p>", revision=2)
    kept: EntryParts = ByteLRU(1 << 24)
    FORMATS["rss"].parts(doc(articles), kept)  # the others are kept
    tricky = doc([*articles[:2], odd, *articles[3:]])
    for store in (kept, ByteLRU(1 << 24), None):
        parts = FORMATS["rss"].parts(tricky, store)
        assert parts == [whole("rss", tricky)]
    assert b"\n    <item>\n<p>b</p>" in parts[0]
