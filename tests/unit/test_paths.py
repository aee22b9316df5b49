"""Every URL a stranger can type gets a 4xx and logs no error, on SQLite and PostgreSQL: path
segments and query values no stored name can hold (NUL, which PostgreSQL refuses in text;
bytes that are not UTF-8; line breaks; over-long values) are refused before any lookup, and
the API takes no id or section a URL or header could not carry."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from werkzeug.routing import Rule

from tests.samples import ARTICLE
from tests.support import Content, InProcess, article_text

# Percent-encoded as a client would send them.
HOSTILE = {
    "nul": "%00",
    "nul-inside": "w%001",
    "overlong-nul": "%C0%80",
    "not-utf-8": "%FF",
    "lone-surrogate": "%ED%A0%80",
    "line-break": "w1%0A",
    "carriage-return": "w1%0D",
    "tab": "w1%09",
    "non-ascii": "caf%C3%A9",
    "dots": "..",
    "long": "a" * 3000,
    "backslash": "%5C",
}
WRITES = {"PUT", "DELETE"}
# A real value for each path variable of the routes, from the store `stranger` fills.
REAL = {
    "article_id": "w1",
    "section": "world",
    "author": "ann-writer",
    "name": "globe",
    "year": "2020",
    "month": "01",
    "part": "1",
    "number": "1",  # an article sitemap
    "filename": "atom.xml",
}


@dataclass
class Stranger:
    """The site with an article in a section, an author's article and a partner, and the
    tokens a client holding them would send."""

    site: InProcess
    publish: str
    partner: str

    def send(self, method: str, path: str, headers: dict[str, str] | None = None) -> int:
        body = ARTICLE if method == "PUT" else None
        response = self.site.client.open(path, method=method, json=body, headers=headers)
        return response.status_code


@pytest.fixture
def stranger(site: InProcess, content: Content) -> Stranger:
    content.write("world/w1.txt", article_text(dateline="4 January 2020, 18:09"))
    assert site.feeds("import").returncode == 0
    publish = site.feeds("token", "create", "--name", "cms", "--scope", "publish").stdout.strip()
    made = Stranger(site, publish, site.add_partner())
    assert made.send("PUT", "/api/v1/articles/by-ann", _bearer(publish)) == 201
    return made


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _routes(stranger: Stranger) -> Iterator[tuple[Rule, str]]:
    for rule in stranger.site.app.url_map.iter_rules():
        for method in sorted(rule.methods or ()):
            yield rule, method


def _path(rule: Rule, values: dict[str, str]) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m[1]], rule.rule)


def _credentials(stranger: Stranger, rule: Rule) -> dict[str, str]:
    """What a client that may use the route sends: so a hostile value gets past the token."""
    if rule.rule.startswith("/api/"):
        return _bearer(stranger.publish)
    if rule.rule.startswith("/partners/"):
        return _bearer(stranger.partner)
    return {}


@pytest.fixture
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.WARNING):
        yield
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not logged, [r.getMessage() for r in logged]


def _try_every_segment(stranger: Stranger, value: str, methods: set[str]) -> int:
    """Send `value` in each path segment of every route, with and without the credentials
    the route needs; each answer must be a 4xx. How many requests were sent."""
    tried = 0
    for rule, method in _routes(stranger):
        if method not in methods:
            continue
        for variable in rule.arguments:
            path = _path(rule, REAL | {variable: value})
            for headers in ({}, _credentials(stranger, rule)):
                status = stranger.send(method, path, headers)
                assert 400 <= status < 500, (method, path, headers, status)
                tried += 1
    # The store still answers, on the connections those requests used.
    assert stranger.send("GET", "/feeds/world/atom.xml") == 200
    return tried


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_value_in_any_path_segment_is_a_4xx(
    stranger: Stranger, value: str, no_errors_logged: None
) -> None:
    assert _try_every_segment(stranger, value, {"GET", "HEAD"}) > 50


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_write_with_a_hostile_id_is_a_4xx(
    stranger: Stranger, value: str, no_errors_logged: None
) -> None:
    assert _try_every_segment(stranger, value, WRITES) == 4  # PUT and DELETE, two ways each


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_query_value_changes_nothing(
    stranger: Stranger, value: str, no_errors_logged: None
) -> None:
    assert stranger.send("GET", f"/partners/globe/atom.xml?token={value}") == 401
    for rule, method in _routes(stranger):
        path = _path(rule, REAL) + f"?token={value}&q={value}"
        status = stranger.send(method, path, _credentials(stranger, rule))
        assert status < 500, (method, path, status)


@pytest.mark.parametrize(
    ("path", "field", "section"),
    [
        ("/api/v1/articles/w2%0A", "(id)", "world"),
        ("/api/v1/articles/w2", "section", "world\n"),
    ],
    ids=["id", "section"],
)
def test_the_api_takes_no_name_ending_in_a_line_break(
    stranger: Stranger, path: str, field: str, section: str, no_errors_logged: None
) -> None:
    response = stranger.site.client.put(
        path, json=ARTICLE | {"section": section}, headers=_bearer(stranger.publish)
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == [field]
    assert b"w2" not in stranger.site.client.get("/feeds/rss.xml").data


def test_a_file_or_folder_whose_name_ends_in_a_line_break_is_rejected(
    site: InProcess, content: Content
) -> None:
    content.write("w1\n.txt", article_text())
    content.write("world\n/w2.txt", article_text())
    content.write("w3.txt", article_text())
    done = site.feeds("import")
    assert done.returncode == 1 and "1 added" in done.stdout and "2 rejected" in done.stdout
    assert "cannot be an article id" in done.stderr and "cannot be a section" in done.stderr
