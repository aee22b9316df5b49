"""Promises 1, 2 and 10 for what the API's HTML sanitiser accepts: inputs that once broke
it, each a plain case."""

from __future__ import annotations

import json
import sys

import pytest
from lxml import etree

from feeds.formats import FORMATS
from feeds.ingest.sanitize import sanitize
from tests.samples import BASE
from tests.support import InProcess
from tests.unit.test_validity import ATOM, CONTENT, strict_html

# ---------------------------------------------------------------------------------------
# Inputs that generated examples once broke, kept as plain cases.


def test_references_to_characters_xml_forbids_leave_no_trace() -> None:
    # nh3 writes what a reference stands for: `&#1;` came out as U+0001, and feedgen then
    # refused to build the feed (every RSS and Atom document holding the article: 500).
    assert sanitize("<p>a&#1;b&#x7f;c&#0;d&#xfffe;e&#xD800;f</p>", BASE) == "<p>abcdef</p>"
    assert sanitize('<a title="&#2;x" href="/y">z</a>', BASE) == (
        f'<a title="x" href="{BASE}/y" rel="noopener noreferrer">z</a>'
    )
    assert sanitize("<p>a\ud800b\x00c</p>", BASE) == "<p>abc</p>"  # nh3 reads no surrogates


def test_a_put_of_such_html_leaves_every_feed_whole(site: InProcess) -> None:
    made = site.feeds("token", "create", "--name", "cms", "--scope", "publish")
    body = {"title": "Control", "published": "2020-01-01T10:00:00Z", "html": "<p>a&#1;b</p>"}
    headers = {"Authorization": f"Bearer {made.stdout.strip()}"}
    put = site.client.put("/api/v1/articles/control", json=body, headers=headers)
    assert put.status_code == 201, put.get_data()
    for fmt in FORMATS.values():
        status, _, data = site.fetch(site.url(f"/feeds/{fmt.FILENAME}"))
        assert status == 200, fmt.FILENAME
        if fmt.NAME == "json":
            body_html = json.loads(data)["items"][0]["content_html"]
        else:
            element = CONTENT if fmt.NAME == "rss" else f"{ATOM}content"
            body_html = etree.fromstring(data).findtext(f".//{element}")
        assert body_html == "<p>ab</p>", fmt.FILENAME


def test_a_link_that_is_no_url_is_dropped_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    # nh3 reports what its attribute filter raises on stderr ("Exception ignored in ...",
    # with a traceback): urljoin raised ValueError for an unclosed IPv6 host.
    reported: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    fragment = '<a href="http://[::1">a</a><q cite="//[x">q</q><img src="http://[" alt="i">'
    assert sanitize(fragment, BASE) == '<a rel="noopener noreferrer">a</a><q>q</q>'
    assert reported == []


@pytest.mark.parametrize(
    ("fragment", "cleaned"),
    [
        ("<h2><x><h4>t</h4></x></h2>", "<h2></h2><h4>t</h4>"),
        ("<p><select><p>t</p></select></p>", "<p></p><p>t</p><p></p>"),
        (
            '<a href="/1"><table><a href="/2">t</a></table></a>',
            f'<a href="{BASE}/1" rel="noopener noreferrer"></a>'
            f'<a href="{BASE}/2" rel="noopener noreferrer">t</a>',
        ),
    ],
)
def test_what_a_dropped_element_leaves_reads_back_as_written(fragment: str, cleaned: str) -> None:
    # The dropped element's children stay where it was: an h4 inside an h2, a p inside a p,
    # a link inside a link, which an HTML parser reads as another tree (and a strict one,
    # as feed validators use, refuses).
    assert sanitize(fragment, BASE) == cleaned
    strict_html(cleaned)
