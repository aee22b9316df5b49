"""A request whose path is a render-cache key of a private document (a partner's feed, its
page) gets neither: gunicorn passes such a path on (`GET partner%3A/partners/NAME/FILE?x=://`),
so the fast path in front of Flask takes only paths."""

from __future__ import annotations

import base64

import pytest

from tests.support import Content, InProcess, article_text

NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
STORY = b"A partner-only world story"
PATH = "/partners/globe/atom.xml"


@pytest.fixture
def partner(site: InProcess, content: Content) -> str:
    content.write("world/w1.txt", article_text(STORY.decode()))
    site.feeds("import")
    return site.add_partner()


def test_a_key_given_as_a_path_gets_no_partners_page_nor_feed(
    site: InProcess, partner: str
) -> None:
    basic = {"Authorization": "Basic " + base64.b64encode(f"x:{partner}".encode()).decode()}
    for headers in (basic | NAVIGATE, basic):  # the partner's browser, then its reader
        status, _, body = site.fetch(site.url(PATH), headers)
        assert status == 200 and STORY in body
    for headers in (NAVIGATE, {}):
        stolen = site.client.get(
            "/", headers=headers, environ_overrides={"PATH_INFO": "partner:" + PATH}
        )
        assert stolen.status_code == 404 and STORY not in stolen.data
