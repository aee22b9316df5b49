"""Every field an article brings, through the publishing API or in a file, is bounded (the
limits of feeds/ingest/limits.py, shared by both): a value at its limit is taken, one beyond
it is refused naming the field (a 422) or the file. So a feed of the largest articles, made of
the characters escaping widens most or of text gzip cannot shrink, stays within its bound
in bytes, and the render cache keeps it at the default settings."""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Iterator
from typing import Any

import pytest

from feeds.ingest import limits
from feeds.ingest.limits import MAX_ENTRY_BYTES
from feeds.text import MAX_IMAGE_SIDE
from feeds.web.service import Service
from tests.samples import ARTICLE
from tests.support import GZIP, Content, InProcess, article_text, counted_rebuilds

PAGE_SIZE = 50  # FEEDS_PAGE_SIZE's default
HEAD_BYTES = 16 * 1024  # what a feed document holds besides its entries, at most
# The longest bodies there can be: letters alone (each byte twice in JSON Feed, as HTML and
# as text), and `&` alone (`&amp;amp;` in Atom).
LETTERS = 65_530
AMPERSANDS = 14_561


@pytest.fixture
def token(site: InProcess) -> str:
    made = site.feeds("token", "create", "--name", "cms", "--scope", "publish")
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def put(site: InProcess, token: str, article_id: str, body: dict[str, Any]) -> Any:
    return site.client.put(
        f"/api/v1/articles/{article_id}", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def names(stem: str, count: int) -> list[str]:
    """`count` distinct names of MAX_NAME_LENGTH characters."""
    return [stem * (limits.MAX_NAME_LENGTH - 2) + f"{n:02d}" for n in range(count)]


# The largest lead image: `&` wherever it may be, the longest media type RFC 6838 allows.
LARGEST_IMAGE: dict[str, Any] = {
    "url": "https://i.example/" + "&" * (limits.MAX_IMAGE_URL_LENGTH - 18),
    "alt": "&" * limits.MAX_ALT_LENGTH,
    "caption": "&" * limits.MAX_CAPTION_LENGTH,
    "credit": "&" * limits.MAX_CREDIT_LENGTH,
    "width": MAX_IMAGE_SIDE,
    "height": MAX_IMAGE_SIDE,
    "type": "image/a" + "+" * 126,
    "length": limits.MAX_IMAGE_BYTES,
}
LARGEST: dict[str, Any] = {
    "title": "</b>" + "<" * (limits.MAX_TITLE_LENGTH - 4),
    "published": "2020-01-01T10:00:00Z",
    "section": "w" * limits.MAX_ID_LENGTH,
    "authors": names("&", limits.MAX_AUTHORS),
    "tags": names('"', limits.MAX_TAGS),
    "text": "&" * AMPERSANDS,
    "image": LARGEST_IMAGE,
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "t" * (limits.MAX_TITLE_LENGTH + 1)),
        ("title", "t" * 2_000_000),
        ("section", "s" * (limits.MAX_ID_LENGTH + 1)),
        ("authors", names("a", limits.MAX_AUTHORS + 1)),
        ("authors", ["a" * (limits.MAX_NAME_LENGTH + 1)]),
        ("tags", names("t", limits.MAX_TAGS + 1)),
        ("tags", ["t" * (limits.MAX_NAME_LENGTH + 1)]),
        ("text", "a" * (LETTERS + 1)),
        ("text", "&" * (AMPERSANDS + 1)),
        ("html", "<" * 262_000),  # escaped by the sanitiser: 1 MB as stored
        ("html", "<p>" + "a" * LETTERS + "</p><p>b</p>"),
    ],
    ids=[
        "title",
        "title-2M",
        "section",
        "authors-count",
        "author-length",
        "tags-count",
        "tag-length",
        "text-letters",
        "text-escaped",
        "html-escaped",
        "html-with-its-text",
    ],
)
def test_a_field_past_its_limit_is_422_naming_it(
    site: InProcess, token: str, field: str, value: Any
) -> None:
    body = {**LARGEST, field: value} | ({"text": None} if field == "html" else {})
    body = {k: v for k, v in body.items() if v is not None}
    answer = put(site, token, "big", body)
    assert answer.status_code == 422 and answer.content_type == "application/problem+json"
    errors = answer.get_json()["errors"]
    assert [e["field"] for e in errors] == [field], errors
    assert re.search(r"more than the [\d,]+", errors[0]["detail"]), errors
    assert "\tcms\tPUT\tbig\t422" in site.feeds("audit").stdout
    assert site.client.get("/articles/big").status_code == 404  # nothing stored


def test_every_field_at_its_limit_is_taken(site: InProcess, token: str) -> None:
    assert put(site, token, "x" * limits.MAX_ID_LENGTH, LARGEST).status_code == 201
    letters = {**LARGEST, "text": "a" * LETTERS}
    assert put(site, token, "letters", letters).status_code == 201
    html = {**LARGEST, "text": None, "html": "<p>" + "a" * (LETTERS - 3) + "</p>"}
    assert put(site, token, "html", {k: v for k, v in html.items() if v}).status_code == 201


def test_an_article_file_past_a_limit_is_rejected_naming_the_file(
    site: InProcess, content: Content
) -> None:
    long_title = "t" * (limits.MAX_TITLE_LENGTH + 1)
    content.write("title.txt", article_text(title=long_title))
    content.write("body.txt", article_text(paragraphs=("&" * (AMPERSANDS + 1),)))
    content.write("letters.txt", article_text(paragraphs=("a" * (LETTERS + 1),)))
    content.write("i" * (limits.MAX_ID_LENGTH + 1) + ".txt", article_text())
    content.write("s" * (limits.MAX_ID_LENGTH + 1) + "/in-section.txt", article_text())
    content.write("largest.txt", article_text(LARGEST["title"], paragraphs=(LARGEST["text"],)))
    done = site.feeds("import")
    assert done.returncode == 1 and "1 added" in done.stdout and "5 rejected" in done.stdout
    lines = sorted(done.stderr.splitlines())
    assert len(lines) == 5, lines
    root = f"rejected: {content.root}"
    assert lines[0].startswith(f"{root}/body.txt: the body takes 131,077 bytes in a feed")
    assert lines[1].startswith(f"{root}/i") and "file name without its extension is 201" in lines[1]
    assert lines[2].startswith(f"{root}/letters.txt: the body takes 131,073 bytes")
    assert lines[3].startswith(f"{root}/s") and "the folder name is 201 characters long" in lines[3]
    assert lines[4].startswith(f"{root}/title.txt: line 2: the title is 301 characters long")
    assert all("shorten it" in line for line in lines)


def _dense(rng: random.Random) -> dict[str, Any]:
    """The largest article of letters drawn at random: text gzip cannot shrink much."""

    def draw(count: int) -> str:
        return "".join(rng.choices(string.ascii_letters, k=count))

    return {
        "title": draw(limits.MAX_TITLE_LENGTH),
        "published": "2020-01-01T10:00:00Z",
        "section": "d" * limits.MAX_ID_LENGTH,
        "authors": [draw(limits.MAX_NAME_LENGTH) for _ in range(limits.MAX_AUTHORS)],
        "tags": [draw(limits.MAX_NAME_LENGTH) for _ in range(limits.MAX_TAGS)],
        "text": draw(LETTERS),
        "image": {
            "url": "https://i.example/" + draw(limits.MAX_IMAGE_URL_LENGTH - 18),
            **{k: draw(len(LARGEST_IMAGE[k])) for k in ("alt", "caption", "credit")},
        },
    }


def _entries(body: bytes, path: str) -> list[int]:
    """The size of each entry of a feed document."""
    if path.endswith(".json"):
        items = json.loads(body)["items"]
        return [len(json.dumps(item, ensure_ascii=False, indent=6).encode()) for item in items]
    tag = "item" if path.endswith("rss.xml") else "entry"
    return [len(m) for m in re.findall(rf"<{tag}>.*?</{tag}>".encode(), body, re.DOTALL)]


@pytest.fixture
def largest_feeds(site: InProcess, token: str) -> Iterator[list[str]]:
    """FEEDS_PAGE_SIZE of the largest articles in each of two sections, half of each on the
    site's page: the paths of their feeds."""
    rng = random.Random(1)
    for n in range(PAGE_SIZE):
        published = f"2020-01-{n % 28 + 1:02d}T10:00:00Z"
        for kind, body in (("w", LARGEST), ("d", _dense(rng))):
            article_id = kind * (limits.MAX_ID_LENGTH - 3) + f"{n:03d}"
            assert put(site, token, article_id, {**body, "published": published}).status_code == 201
    yield [
        f"/feeds{section}/{name}"
        for section in ("", "/" + "w" * limits.MAX_ID_LENGTH, "/" + "d" * limits.MAX_ID_LENGTH)
        for name in ("rss.xml", "atom.xml", "feed.json")
    ]


def test_a_feed_of_the_largest_articles_stays_small_and_is_kept(
    site: InProcess, largest_feeds: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rebuilds = counted_rebuilds(Service.of(site.app).cache, monkeypatch)
    for path in largest_feeds:
        first = site.client.get(path)
        assert first.status_code == 200
        sizes = _entries(first.data, path)
        assert len(sizes) == PAGE_SIZE and max(sizes) <= MAX_ENTRY_BYTES, (path, max(sizes))
        assert len(first.data) <= PAGE_SIZE * MAX_ENTRY_BYTES + HEAD_BYTES, path
        for headers in (GZIP, {}, GZIP):  # served from memory: no rebuild, no render
            assert site.client.get(path, headers=headers).status_code == 200
        assert site.client.get(path).data == first.data
    assert rebuilds == largest_feeds  # each built once, and kept


def test_two_spellings_of_one_author_in_an_article_are_422(site: InProcess, token: str) -> None:
    """Their feeds would be one (ann-writer): which spelling is right, only the newsroom
    knows. A name given twice, exactly alike, is one author."""
    answer = put(site, token, "a", {**ARTICLE, "authors": ["Ann Writer", "ann writer"]})
    assert answer.status_code == 422
    (error,) = answer.get_json()["errors"]
    assert error["field"] == "authors" and "two authors with the same name" in error["detail"]
    twice = {**ARTICLE, "authors": ["Ann Writer", "Ann Writer"]}
    assert put(site, token, "a", twice).status_code == 201
    assert site.client.get("/articles/a").status_code == 200
    feed = site.client.get("/feeds/authors/ann-writer/feed.json").get_json()
    assert [item["authors"] for item in feed["items"]] == [[{"name": "Ann Writer"}]]


def test_an_entry_whose_lead_image_comes_from_its_body_stays_within_its_bound(
    site: InProcess, token: str
) -> None:
    """A body's first image serves as the lead image, whose URL each format repeats (Atom's
    enclosure link, media:content, media:thumbnail): it is bounded like a given image's, so
    the entry keeps within MAX_ENTRY_BYTES."""
    source = "/" + "&" * 14_000  # within the body's limit, past the image URL's
    body = {
        "title": "An image as long as the body may hold",
        "published": "2020-01-01T10:00:00Z",
        "section": "world",
        "html": f'<p>x</p><img src="{source}" alt="a">',
    }
    assert put(site, token, "long-image", body).status_code == 201
    for name in ("rss.xml", "atom.xml", "feed.json"):
        path = f"/feeds/world/{name}"
        sizes = _entries(site.client.get(path).data, path)
        assert sizes and max(sizes) <= MAX_ENTRY_BYTES, (path, max(sizes))
