"""Partner feeds from a real gunicorn process: feed tokens never reach its log, and a real feed
reader subscribed with the token URL sees what was bought."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reader import make_reader

from tests.support import Content, Served, article_text, fetch, start_server


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One real server for the module with articles in world, uk and sport; each test adds
    a partner of its own, so that no test's requests count against another's polling
    limit."""
    folder = tmp_path_factory.mktemp("partners")
    content = Content(folder / "content")
    for name, section, day in (("w1", "world", 1), ("u1", "uk", 2), ("s1", "sport", 3)):
        content.write(
            f"{section}/{name}.txt",
            article_text(title=f"Story {name}", dateline=f"{day} May 2020, 10:00"),
        )
    server = start_server(folder, {"FEEDS_CONTENT": str(content.root)})
    try:
        result = server.feeds("import")
        assert result.returncode == 0 and "3 added" in result.stdout, result.stderr
        yield server
    finally:
        server.stop()


def add_partner(server: Served, name: str) -> str:
    """The feed token of a new partner buying world and uk in full."""
    result = server.feeds("partner", "add", name, "--sections", "world,uk", "--content", "full")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def logged(server: Served, path: str, count: int) -> list[str]:
    """The access log's lines about `path` once there are `count` of them (gunicorn writes a
    line once the answer has gone)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in server.access_log() if path in line]
        if len(lines) >= count:
            return lines
        assert time.monotonic() < deadline, (path, server.access_log())
        time.sleep(0.05)


def test_feed_tokens_never_reach_the_log(newsroom: Served) -> None:
    token = add_partner(newsroom, "logged")
    address = newsroom.url(f"/partners/logged/rss.xml?token={token}")
    status, headers, _ = fetch(address)
    assert status == 200
    assert fetch(address, {"If-None-Match": headers["ETag"]})[0] == 304
    assert fetch(address)[0] == 429  # a second full answer within the polling limit
    assert fetch(newsroom.url("/partners/logged/rss.xml?token=not-the-token"))[0] == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert fetch(newsroom.url("/partners/logged/atom.xml"), bearer)[0] == 200
    lines = logged(newsroom, "/partners/logged/", 5)
    statuses = sorted(line.split('" ')[1].split()[0] for line in lines)
    assert statuses == ["200", "200", "304", "401", "429"]
    log = newsroom.log.read_text()
    assert token not in log and "not-the-token" not in log and "token=" not in log


def test_a_feed_reader_subscribed_with_the_token_url_sees_what_was_bought(
    newsroom: Served, tmp_path: Path
) -> None:
    token = add_partner(newsroom, "subscriber")
    reader = make_reader(str(tmp_path / "partner-reader.sqlite"))
    address = newsroom.url(f"/partners/subscriber/rss.xml?token={token}")
    reader.add_feed(address)
    (result,) = reader.update_feeds_iter()
    assert result.error is None, result.error
    assert sorted(e.title or "" for e in reader.get_entries()) == ["Story u1", "Story w1"]
    assert reader.get_feed(address).title == "Newsroom"
    reader.close()


def test_a_partner_with_a_profile_is_not_sent_what_it_would_reject(newsroom: Served) -> None:
    """The module's articles break MSN's rules (short titles, no image, years old): a
    partner given that profile gets none of them, one without it both, and `feeds check`
    names them as withheld."""
    result = newsroom.feeds(
        "partner", "add", "choosy", "--sections", "world,uk", "--content", "full",
        "--profile", "msn",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    plain = add_partner(newsroom, "plain")
    for name, secret, count in (("choosy", token, 0), ("plain", plain, 2)):
        status, _, body = fetch(newsroom.url(f"/partners/{name}/atom.xml?token={secret}"))
        assert status == 200 and body.count(b"<entry>") == count, name
    check = newsroom.feeds("check", "--profile", "msn")
    withheld = [line for line in check.stdout.splitlines() if line.endswith("partner choosy")]
    assert sorted(line.split("\t")[0].rsplit("/", 1)[1] for line in withheld) == ["u1", "w1"]
    assert check.returncode == 1
