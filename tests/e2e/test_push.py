"""WebSub push over real HTTP: a real `feeds serve` (gunicorn and the hub worker it starts),
subscribers that are real HTTP servers on loopback, articles changed with `feeds import`
and the publishing API, and a loopback server standing in for an external hub. Every wait
is a poll with a deadline; nothing is timed."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest
from lxml import etree

from tests.hubsupport import (
    Callback,
    Received,
    Subscribers,
    delivered,
    document,
    eventually,
    hub_list,
    hub_request,
    links,
    settled,
    signature,
    subscriptions_of,
    verification,
)
from tests.support import (
    FEEDS_BIN,
    IMPORT_TIME,
    Answer,
    Content,
    Served,
    article_text,
    fetch,
    start_server,
)

ATOM = "{http://www.w3.org/2005/Atom}"
FORMATS = ("rss.xml", "atom.xml", "feed.json")


@dataclass
class Newsroom:
    """A served site with a content folder, a clock file, a publish token, subscribers on
    loopback and a stand-in external hub (FEEDS_HUBS) that records its pings."""

    server: Served
    content: Content
    clock: Path
    token: str
    subscribers: Subscribers
    pings: Callback

    @property
    def hub(self) -> str:
        return self.server.url("/hub")

    def topic(self, path: str) -> str:
        return self.server.url(path)

    def imported(self, section: str, name: str, title: str, dateline: str) -> None:
        self.content.write(f"{section}/{name}.txt", article_text(title=title, dateline=dateline))
        ran = self.server.feeds("import", str(self.content.root / section / f"{name}.txt"))
        assert ran.returncode == 0, ran.stderr

    def api(self, method: str, article_id: str, body: dict[str, object] | None = None) -> int:
        address = urllib.parse.urlsplit(self.server.base_url)
        assert address.hostname is not None and address.port is not None
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        try:
            connection.request(method, f"/api/v1/articles/{article_id}", data, headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def subscribe(
        self,
        topic: str,
        callback: Callback,
        *,
        secret: str | None = None,
        lease: int | None = None,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> Received:
        """Subscribe and wait until the hub holds the subscription; its verification GET."""
        before = len(callback.gets())
        status, _, body = hub_request(
            self.hub, topic, callback.url, secret=secret, lease=lease, extra=extra
        )
        assert status == 202, body
        got = verification(callback, count=1 + before)
        bare = topic.split("?")[0]
        eventually(
            f"the subscription of {callback.url}",
            lambda: any(f[0] == bare for f in subscriptions_of(self.server, callback.url)),
        )
        return got


def story(title: str, section: str, **more: object) -> dict[str, object]:
    return {
        "title": title,
        "published": "2020-06-01T10:00:00Z",
        "section": section,
        "text": f"{title}: the first paragraph.\nThe second.",
        **more,
    }


@pytest.fixture(scope="module")
def external() -> Iterator[Subscribers]:
    running = Subscribers()
    yield running
    running.close()


@pytest.fixture(scope="module")
def newsroom(
    tmp_path_factory: pytest.TempPathFactory, subscribers: Subscribers, external: Subscribers
) -> Iterator[Newsroom]:
    folder = tmp_path_factory.mktemp("push")
    content = Content(folder / "content")
    content.write("seed/s1.txt", article_text(title="Seed story"))
    clock = folder / "clock"
    clock.write_text(IMPORT_TIME.isoformat())
    pings = external.callback("publish")
    server = start_server(
        folder,
        {
            "FEEDS_CONTENT": str(content.root),
            "FEEDS_CLOCK": str(clock),
            "FEEDS_MAX_AGE": "0",
            "FEEDS_HUBS": pings.url,
            "FEEDS_HUB_ALLOW_LOOPBACK": "1",
            "FEEDS_HUB_RETRY": "1",
            "FEEDS_HUB_LEASE_MIN": "1",
            "FEEDS_HUB_RATE": "100000",
        },
    )
    try:
        assert server.feeds("import").returncode == 0
        made = server.feeds("token", "create", "--name", "cms", "--scope", "publish")
        assert made.returncode == 0, made.stderr
        yield Newsroom(server, content, clock, made.stdout.strip(), subscribers, pings)
    finally:
        server.stop()


def check_delivery(room: Newsroom, got: Received, topic: str, secret: str | None) -> Answer:
    """`got` carries the topic as a GET of it answers now: the same bytes, Content-Type and
    Link rel=hub and rel=self; signed with `secret` when there is one. The GET's answer."""
    answer = document(topic)
    _, headers, body = answer
    assert got.body == body
    assert got.headers["Content-Type"] == headers["Content-Type"]
    named = links(got.headers)
    assert named.get("self") == [topic], got.headers.get("Link")
    if secret is None:
        assert "X-Hub-Signature" not in got.headers
    else:
        assert got.headers["X-Hub-Signature"] == signature(secret, got.body)
    assert room.hub in named.get("hub", []), got.headers.get("Link")
    return answer


# Discovery (WebSub §4)


def test_every_subscription_document_names_its_hubs_and_itself(newsroom: Newsroom) -> None:
    hubs = [newsroom.hub, newsroom.pings.url]
    for path in [f"/feeds/{name}" for name in FORMATS] + [f"/feeds/seed/{n}" for n in FORMATS]:
        url = newsroom.topic(path)
        _, headers, body = document(url)
        named = links(headers)
        assert named.get("self") == [url], (path, headers.get("Link"))
        assert named.get("hub") == hubs, (path, headers.get("Link"))
        if path.endswith(".json"):
            assert json.loads(body)["hubs"] == [{"type": "WebSub", "url": h} for h in hubs]
            continue
        root = etree.fromstring(body)
        found = root.findall(f"{ATOM}link") + root.findall(f"channel/{ATOM}link")
        assert [e.get("href") for e in found if e.get("rel") == "hub"] == hubs, path
        assert [e.get("href") for e in found if e.get("rel") == "self"] == [url], path


# Subscribing and verification (§5)


def test_a_subscription_is_verified_at_its_callback_whose_query_is_kept(
    newsroom: Newsroom,
) -> None:
    callback = newsroom.subscribers.callback("verified", "id=7&x=a%20b")
    topic = newsroom.topic("/feeds/seed/atom.xml")
    extra = (("foo", "bar"), ("hub.foo", "hub.bar"))
    got = newsroom.subscribe(topic, callback, lease=7200, extra=extra)
    assert got.path == "/verified"
    assert got.query[:2] == [("id", "7"), ("x", "a b")]
    assert got.param("hub.mode") == "subscribe"
    assert got.param("hub.topic") == topic
    assert got.param("hub.lease_seconds") == "7200"
    assert len(got.param("hub.challenge") or "") >= 16
    assert got.param("foo") is None and got.param("hub.foo") is None
    (row,) = subscriptions_of(newsroom.server, callback.url)
    assert row[0] == topic and row[2] == "-"


def test_a_callback_that_does_not_echo_the_challenge_is_not_subscribed(
    newsroom: Newsroom,
) -> None:
    mute = newsroom.subscribers.callback("mute", echo=False)
    control = newsroom.subscribers.callback("mute-control")
    topic = newsroom.topic("/feeds/quiet/atom.xml")
    newsroom.imported("quiet", "q1", "Quiet one", "1 June 2020, 10:00")
    status, _, _ = hub_request(newsroom.hub, topic, mute.url)
    assert status == 202
    verification(mute)
    newsroom.subscribe(topic, control)
    settled(newsroom.server)
    assert subscriptions_of(newsroom.server, mute.url) == []
    newsroom.imported("quiet", "q2", "Quiet two", "2 June 2020, 10:00")
    delivered(control)
    settled(newsroom.server)
    assert mute.posts() == []


# Deliveries (§7)


def test_each_change_is_delivered_as_the_topic_answers_then(newsroom: Newsroom) -> None:
    """An import, an API PUT and an API DELETE each reach a signed and an unsigned
    subscriber once, as the bytes a GET of the topic answers; the DELETE's Atom bytes
    carry the tombstone."""
    topic = newsroom.topic("/feeds/pushed/atom.xml")
    newsroom.imported("pushed", "p1", "First pushed", "1 June 2020, 10:00")
    signed = newsroom.subscribers.callback("signed")
    plain = newsroom.subscribers.callback("plain")
    newsroom.subscribe(topic, signed, secret="a shared secret")
    newsroom.subscribe(topic, plain)
    settled(newsroom.server)

    newsroom.imported("pushed", "p2", "Second pushed", "2 June 2020, 10:00")
    for callback, secret in ((signed, "a shared secret"), (plain, None)):
        got = delivered(callback, 1)
        check_delivery(newsroom, got, topic, secret)
        assert b"Second pushed" in got.body
    settled(newsroom.server)

    assert newsroom.api("PUT", "p3", story("Third pushed", "pushed")) == 201
    for callback, secret in ((signed, "a shared secret"), (plain, None)):
        got = delivered(callback, 2)
        check_delivery(newsroom, got, topic, secret)
        assert b"Third pushed" in got.body
    settled(newsroom.server)

    assert newsroom.api("DELETE", "p3") == 204
    for callback, secret in ((signed, "a shared secret"), (plain, None)):
        got = delivered(callback, 3)
        check_delivery(newsroom, got, topic, secret)
        assert b"deleted-entry" in got.body and b"Third pushed" not in got.body
    settled(newsroom.server)
    assert len(signed.posts()) == len(plain.posts()) == 3


def test_resubscribing_renews_the_lease_of_the_one_subscription(newsroom: Newsroom) -> None:
    topic = newsroom.topic("/feeds/renewed/feed.json")
    newsroom.imported("renewed", "r1", "Renewed one", "1 June 2020, 10:00")
    callback = newsroom.subscribers.callback("renewed")
    newsroom.subscribe(topic, callback, lease=1000)
    ((*_, first, _, _),) = subscriptions_of(newsroom.server, callback.url)
    status, _, _ = hub_request(newsroom.hub, topic, callback.url, lease=5000)
    assert status == 202
    assert verification(callback, count=2).param("hub.lease_seconds") == "5000"

    def renewed() -> list[list[str]]:
        rows = subscriptions_of(newsroom.server, callback.url)
        return rows if rows and rows[0][3] != first else []

    ((_, _, _, later, _, _),) = eventually("the renewed lease", renewed)
    assert stamp(later) - stamp(first) >= timedelta(seconds=3900)
    settled(newsroom.server)
    newsroom.imported("renewed", "r2", "Renewed two", "2 June 2020, 10:00")
    check_delivery(newsroom, delivered(callback), topic, None)
    settled(newsroom.server)
    assert len(callback.posts()) == 1


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_unsubscribing_stops_deliveries(newsroom: Newsroom) -> None:
    topic = newsroom.topic("/feeds/left/rss.xml")
    newsroom.imported("left", "l1", "Left one", "1 June 2020, 10:00")
    leaving = newsroom.subscribers.callback("leaving")
    staying = newsroom.subscribers.callback("staying")
    newsroom.subscribe(topic, leaving)
    newsroom.subscribe(topic, staying)
    newsroom.imported("left", "l2", "Left two", "2 June 2020, 10:00")
    delivered(leaving)
    delivered(staying)
    status, _, _ = hub_request(newsroom.hub, topic, leaving.url, "unsubscribe")
    assert status == 202
    got = verification(leaving, "unsubscribe")
    assert got.param("hub.topic") == topic and got.param("hub.challenge")
    eventually("the end", lambda: not subscriptions_of(newsroom.server, leaving.url))
    settled(newsroom.server)
    newsroom.imported("left", "l3", "Left three", "3 June 2020, 10:00")
    check_delivery(newsroom, delivered(staying, 2), topic, None)
    settled(newsroom.server)
    assert len(leaving.posts()) == 1


def test_a_failed_delivery_is_tried_again(newsroom: Newsroom) -> None:
    topic = newsroom.topic("/feeds/flaky/atom.xml")
    newsroom.imported("flaky", "f1", "Flaky one", "1 June 2020, 10:00")
    flaky = newsroom.subscribers.callback("flaky", fail=2)
    newsroom.subscribe(topic, flaky, secret="s")
    newsroom.imported("flaky", "f2", "Flaky two", "2 June 2020, 10:00")
    third = delivered(flaky, 3)
    check_delivery(newsroom, third, topic, "s")
    settled(newsroom.server)
    posts = flaky.posts()
    assert len(posts) == 3
    assert all(p.body == third.body and p.headers == third.headers for p in posts)
    (row,) = subscriptions_of(newsroom.server, flaky.url)
    assert row[4] == "-"


def test_a_callback_answering_gone_ends_its_subscription(newsroom: Newsroom) -> None:
    topic = newsroom.topic("/feeds/gone/atom.xml")
    newsroom.imported("gone", "g1", "Gone one", "1 June 2020, 10:00")
    gone = newsroom.subscribers.callback("gone", gone=True)
    newsroom.subscribe(topic, gone)
    newsroom.imported("gone", "g2", "Gone two", "2 June 2020, 10:00")
    delivered(gone)
    eventually("the end", lambda: not subscriptions_of(newsroom.server, gone.url))
    settled(newsroom.server)
    assert len(gone.posts()) == 1


def test_attempts_stop_when_the_lease_ends(newsroom: Newsroom) -> None:
    """A subscriber that always fails, with a lease of 3 s (FEEDS_HUB_LEASE_MIN=1, retries
    1 s doubling): tried until its lease ends, then never again, nor sent later changes."""
    topic = newsroom.topic("/feeds/brief/atom.xml")
    newsroom.imported("brief", "b1", "Brief one", "1 June 2020, 10:00")
    failing = newsroom.subscribers.callback("brief", fail=-1)
    newsroom.subscribe(topic, failing, lease=3)
    assert newsroom.api("PUT", "b2", story("Brief two", "brief")) == 201  # within the lease
    delivered(failing)
    ((*_, expires, _, _),) = subscriptions_of(newsroom.server, failing.url)
    settled(newsroom.server)  # never, were the hub to go on trying past the lease
    tried = len(failing.posts())
    eventually("the lease's end", lambda: datetime.now(UTC) > stamp(expires) + timedelta(seconds=1))
    newsroom.imported("brief", "b3", "Brief three", "3 June 2020, 10:00")
    settled(newsroom.server)
    assert len(failing.posts()) == tried


# Partners' topics (private: the token is needed)


def test_a_partner_topic_needs_the_partner_token(newsroom: Newsroom) -> None:
    newsroom.imported("wired", "w1", "Wired one", "1 June 2020, 10:00")
    added = newsroom.server.feeds(
        "partner", "add", "wire", "--sections", "wired", "--content", "full"
    )
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    topic = newsroom.topic("/partners/wire/atom.xml")

    stranger = newsroom.subscribers.callback("stranger")
    status, _, _ = hub_request(newsroom.hub, topic, stranger.url)
    assert status == 202
    denial = verification(stranger, "denied")
    assert denial.param("hub.topic") == topic and denial.param("hub.reason")
    assert denial.param("hub.challenge") is None
    settled(newsroom.server)
    assert subscriptions_of(newsroom.server, stranger.url) == []

    partner = newsroom.subscribers.callback("partner")
    got = newsroom.subscribe(f"{topic}?token={token}", partner)
    assert got.param("hub.topic") == topic  # named without the token, which is not kept
    (row,) = subscriptions_of(newsroom.server, partner.url)
    assert row[0] == topic and row[2] == "wire"
    newsroom.imported("wired", "w2", "Wired two", "2 June 2020, 10:00")
    got = delivered(partner)
    assert b"Wired two" in got.body
    _, headers, body = fetch(topic, {"Authorization": f"Bearer {token}"})
    assert got.body == body and got.headers["Content-Type"] == headers["Content-Type"]
    settled(newsroom.server)

    assert newsroom.server.feeds("partner", "rotate", "wire").returncode == 0
    assert subscriptions_of(newsroom.server, partner.url) == []
    public = newsroom.subscribers.callback("wired-public")
    newsroom.subscribe(newsroom.topic("/feeds/wired/atom.xml"), public)
    newsroom.imported("wired", "w3", "Wired three", "3 June 2020, 10:00")
    delivered(public)
    settled(newsroom.server)
    assert len(partner.posts()) == 1 and stranger.posts() == []


def test_a_token_rotated_while_a_subscription_is_verified_makes_none(
    newsroom: Newsroom,
) -> None:
    newsroom.imported("leaked", "l1", "Leaked one", "1 June 2020, 10:00")
    added = newsroom.server.feeds(
        "partner", "add", "leaky", "--sections", "leaked", "--content", "full"
    )
    assert added.returncode == 0, added.stderr
    topic = newsroom.topic("/partners/leaky/atom.xml")
    hold = threading.Event()
    holder = newsroom.subscribers.callback("leaked-token", hold=hold)
    status, _, _ = hub_request(newsroom.hub, f"{topic}?token={added.stdout.strip()}", holder.url)
    assert status == 202
    verification(holder)  # under way: its answer waits
    assert newsroom.server.feeds("partner", "rotate", "leaky").returncode == 0
    hold.set()
    # A later subscription is made after the held one's answer was taken.
    after = newsroom.subscribers.callback("leaked-after")
    newsroom.subscribe(newsroom.topic("/feeds/leaked/atom.xml"), after)
    assert subscriptions_of(newsroom.server, holder.url) == []
    newsroom.imported("leaked", "l2", "Leaked two", "2 June 2020, 10:00")
    delivered(after)
    settled(newsroom.server)
    assert holder.posts() == []


# Pings of external hubs (FEEDS_HUBS)


def test_a_change_pings_the_external_hub_with_every_topic_ten_at_most(
    newsroom: Newsroom,
) -> None:
    """An article by three authors changes the site's, its section's and each author's
    feeds in three formats: 15 topics, more than one ping carries."""
    settled(newsroom.server)
    before = len(newsroom.pings.posts())
    authors = ["Ann Pinger", "Bo Pinger", "Cy Pinger"]
    assert newsroom.api("PUT", "pinged", story("Pinged", "pings", authors=authors)) == 201
    places = ["", "pings/", *(f"authors/{a.lower().replace(' ', '-')}/" for a in authors)]
    wanted = {newsroom.topic(f"/feeds/{place}{name}") for place in places for name in FORMATS}

    def named() -> set[str]:
        sent = newsroom.pings.posts()[before:]
        return {value for p in sent for key, value in form(p) if key == "hub.topic"}

    eventually("pings of every changed topic", lambda: wanted <= named())
    for ping in newsroom.pings.posts()[before:]:
        fields = form(ping)
        assert ping.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert [v for k, v in fields if k == "hub.mode"] == ["publish"]
        topics = [v for k, v in fields if k == "hub.topic"]
        assert [v for k, v in fields if k == "hub.url"] == topics
        assert 1 <= len(topics) <= 10


def form(received: Received) -> list[tuple[str, str]]:
    return urllib.parse.parse_qsl(received.body.decode())


# Embargoes: time alone changes a topic (FEEDS_CLOCK); last, as it moves the clock


def test_an_embargoed_article_is_delivered_when_it_is_released(newsroom: Newsroom) -> None:
    topic = newsroom.topic("/feeds/later/atom.xml")
    newsroom.imported("later", "e1", "Out already", "1 June 2020, 10:00")
    callback = newsroom.subscribers.callback("later")
    newsroom.subscribe(topic, callback, secret="clock")
    newsroom.imported("later", "e2", "Out tomorrow", "16 January 2026, 12:00")
    settled(newsroom.server)
    assert callback.posts() == []  # the embargoed article shows nowhere yet
    newsroom.clock.write_text((IMPORT_TIME + timedelta(days=1, seconds=1)).isoformat())
    got = delivered(callback)
    check_delivery(newsroom, got, topic, "clock")
    assert b"Out tomorrow" in got.body
    settled(newsroom.server)
    assert len(callback.posts()) == 1


def test_a_section_that_first_appears_at_a_release_is_delivered(newsroom: Newsroom) -> None:
    topic = newsroom.topic("/feeds/dawn/atom.xml")
    dawn = newsroom.subscribers.callback("dawn")
    newsroom.subscribe(topic, dawn)
    newsroom.imported("dawn", "d1", "Dawn story", "17 January 2026, 12:00")
    settled(newsroom.server)
    assert fetch(topic)[0] == 404  # no article was ever seen there
    newsroom.clock.write_text((IMPORT_TIME + timedelta(days=2, seconds=1)).isoformat())
    check_delivery(newsroom, delivered(dawn), topic, None)


def test_a_tombstone_that_expires_is_delivered(newsroom: Newsroom) -> None:
    """A withdrawal shows in Atom as a tombstone (RFC 6721) for FEEDS_TOMBSTONE_DAYS (30);
    when it expires, the document changes with no commit, and subscribers get it."""
    topic = newsroom.topic("/feeds/gone/atom.xml")
    newsroom.imported("gone", "g1", "Staying", "1 June 2020, 10:00")
    newsroom.imported("gone", "g2", "Leaving", "2 June 2020, 10:00")
    callback = newsroom.subscribers.callback("tombstone")
    newsroom.subscribe(topic, callback)
    assert newsroom.server.feeds("delete", "g2").returncode == 0
    withdrawn = delivered(callback)
    assert b"at:deleted-entry" in withdrawn.body
    settled(newsroom.server)
    moved = datetime.fromisoformat(newsroom.clock.read_text()) + timedelta(days=31)
    newsroom.clock.write_text(moved.isoformat())
    expired = check_delivery(newsroom, delivered(callback, 2), topic, None)
    assert b"deleted-entry" not in expired[2] and b"Staying" in expired[2]
    settled(newsroom.server)
    assert len(callback.posts()) == 2


# Settings of their own


def test_loopback_callbacks_are_refused_unless_allowed(
    tmp_path_factory: pytest.TempPathFactory, subscribers: Subscribers
) -> None:
    folder = tmp_path_factory.mktemp("push-refused")
    server = start_server(folder, {"FEEDS_CONTENT": str(folder / "content")}, "refused")
    try:
        topic = server.url("/feeds/atom.xml")
        callback = subscribers.callback("refused")
        for url in (callback.url, callback.url.replace("127.0.0.1", "localhost")):
            status, _, body = hub_request(server.url("/hub"), topic, url)
            assert status in (400, 202), body
            if status == 400:
                assert b"hub.callback" in body
        settled(server)
        assert callback.received == []
    finally:
        server.stop()


def test_a_server_restarted_after_kill_9_gets_a_hub_worker(
    tmp_path_factory: pytest.TempPathFactory, subscribers: Subscribers
) -> None:
    """`feeds serve` killed (-9) while its hub worker waits for a callback that never
    answers, and started again at once on the same store: the old worker gives up on the
    callback (FEEDS_HUB_TIMEOUT) and stops, and the new server's worker takes its place
    rather than giving up on the lock the old one still holds."""
    folder = tmp_path_factory.mktemp("push-restart")
    env = {
        "FEEDS_CONTENT": str(folder / "content"),
        "FEEDS_HUB_ALLOW_LOOPBACK": "1",
        "FEEDS_HUB_TIMEOUT": "3",
    }
    first = start_server(folder, env, "restart")
    hold = threading.Event()
    held = subscribers.callback("restart-held", hold=hold)
    try:
        assert hub_request(first.url("/hub"), first.url("/feeds/atom.xml"), held.url)[0] == 202
        verification(held)  # the worker waits for its answer
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        again = start_server(folder, {**env, "FEEDS_DATABASE": first.env["FEEDS_DATABASE"]})
        try:
            callback = subscribers.callback("restart")
            topic = again.url("/feeds/atom.xml")
            assert hub_request(again.url("/hub"), topic, callback.url)[0] == 202
            verification(callback)
        finally:
            again.stop()
    finally:
        hold.set()
        first.log_file.close()


def test_a_change_made_while_no_worker_runs_is_delivered_by_the_next(
    tmp_path_factory: pytest.TempPathFactory, subscribers: Subscribers
) -> None:
    """`feeds serve --no-hub` and a `feeds hub run` of its own: the worker is killed (-9),
    an article changes, a new worker starts, and the change arrives."""
    folder = tmp_path_factory.mktemp("push-crash")
    content = Content(folder / "content")
    content.write("crash/c1.txt", article_text(title="Before the crash"))
    env = {"FEEDS_CONTENT": str(content.root), "FEEDS_HUB_ALLOW_LOOPBACK": "1"}
    server = start_server(folder, env, "crash", ("--no-hub",))
    workers: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def worker() -> subprocess.Popen[bytes]:
        log = (folder / f"worker{len(workers)}.log").open("wb")
        started = subprocess.Popen(
            [str(FEEDS_BIN), "hub", "run"], env=server.env, stdout=log, stderr=log
        )
        workers.append((started, log))
        return started

    try:
        assert server.feeds("import").returncode == 0
        topic = server.url("/feeds/crash/atom.xml")
        callback = subscribers.callback("crash")
        first = worker()
        assert hub_request(server.url("/hub"), topic, callback.url)[0] == 202
        verification(callback)
        eventually("the subscription", lambda: subscriptions_of(server, callback.url))
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        content.write("crash/c2.txt", article_text(title="During the crash"))
        assert server.feeds("import").returncode == 0
        assert hub_list(server)  # the subscription outlived its worker
        worker()
        got = delivered(callback)
        assert b"During the crash" in got.body
        assert got.body == document(topic)[2]
    finally:
        for started, log in workers:
            if started.poll() is None:
                started.terminate()
                started.wait(10)
            log.close()
        server.stop()
