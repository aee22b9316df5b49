"""The hub's endpoint, /hub (WebSub §5.1, §5.2): malformed requests answered 400 naming the
field, well-formed ones 202 and recorded as given (denied ones with their reason), a rate
per client address, and a GET that says what the hub is."""

from __future__ import annotations

import base64
import dataclasses
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feeds import credentials
from feeds.config import Settings
from feeds.model import HubRequest, Partner
from feeds.store import Store
from feeds.web import create_app
from feeds.web.hub import NO_TOKEN, NOT_A_TOPIC
from tests.support import IMPORT_TIME, on_sqlite_only

BASE = "https://news.example.com"
TOPIC = f"{BASE}/feeds/atom.xml"
CALLBACK = "https://subscriber.example.org/callback?id=7"
FORM = "application/x-www-form-urlencoded"

MakeClient = Callable[..., FlaskClient]


@pytest.fixture
def make_client(settings: Settings, store: Store) -> MakeClient:
    """A test client of an app of its own (its own rate limit), with these settings."""

    def make(**overrides: Any) -> FlaskClient:
        config = {"database": settings.database, "base_url": BASE, **overrides}
        app: Flask = create_app(config, environ={})
        return app.test_client()

    return make


@pytest.fixture
def client(make_client: MakeClient) -> FlaskClient:
    return make_client(hub_rate=1000)


def subscribe(**fields: str) -> dict[str, str]:
    return {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.callback": CALLBACK, **fields}


def recorded(store: Store) -> list[HubRequest]:
    """Every request the hub has recorded, oldest first."""
    with store.hub() as hub:
        return hub.claim_requests(datetime.now(UTC) + timedelta(days=1), 1000, timedelta(0))


def add_partner(store: Store, name: str, revoked: bool = False) -> str:
    """The feed token of a new partner."""
    token = credentials.new_secret()
    partner = Partner(name, ("world",), "full", "", IMPORT_TIME, None)
    with store.write() as writer:
        writer.add_partner(dataclasses.replace(partner, digest=credentials.digest(token)))
        if revoked:
            writer.revoke_partner(name, IMPORT_TIME)
    return token


# GET, other methods, other bodies


def test_a_get_says_what_the_hub_is_and_how_to_subscribe(client: FlaskClient) -> None:
    response = client.get("/hub")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "WebSub hub" in response.text and f"POST a form ({FORM}) to {BASE}/hub" in response.text
    for field in ("hub.mode=subscribe", "hub.topic=", "hub.callback=", "hub.secret="):
        assert field in response.text
    assert "3600 to 2592000; 864000 when not given" in response.text
    head = client.head("/hub")
    assert head.status_code == 200 and head.data == b""


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(client: FlaskClient, method: str) -> None:
    response = client.open("/hub", method=method)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"hub.mode": "subscribe"}},
        {"data": {"hub.mode": "subscribe", "x": (io.BytesIO(b"x"), "x.txt")}},
        {"data": "hub.mode=subscribe", "content_type": "text/plain"},
        {"data": b"hub.mode=subscribe"},
    ],
    ids=["json", "multipart", "text", "none"],
)
def test_bodies_that_are_not_urlencoded_forms_are_415(
    client: FlaskClient, store: Store, kwargs: dict[str, Any]
) -> None:
    response = client.post("/hub", **kwargs)
    assert response.status_code == 415
    assert response.text == f"Send the request as Content-Type: {FORM} (WebSub §5.1)\n"
    assert recorded(store) == []


def test_a_body_over_the_limit_is_413(make_client: MakeClient, store: Store) -> None:
    client = make_client(max_body=1024)
    response = client.post("/hub", data=subscribe(foo="x" * 1024))
    assert response.status_code == 413
    assert "larger than 1024 bytes (FEEDS_MAX_BODY)" in response.text
    assert recorded(store) == []


# Malformed requests


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"hub.mode": None}, "hub.mode is missing: send hub.mode=subscribe or"),
        ({"hub.mode": "follow"}, "hub.mode 'follow' is not a mode: send hub.mode=subscribe or"),
        ({"hub.mode": "Subscribe"}, "hub.mode 'Subscribe' is not a mode"),
        (
            {"hub.mode": "publish"},
            "hub.mode=publish is not taken: this hub's topics are announced by the service",
        ),
        ({"hub.topic": None}, "hub.topic is missing: send the self URL of the feed"),
        ({"hub.topic": ""}, "hub.topic is missing"),
        ({"hub.topic": TOPIC + "?" + "x" * 2000}, "hub.topic is longer than 2000 characters"),
        ({"hub.topic": TOPIC + " "}, "hub.topic holds spaces or control characters"),
        ({"hub.callback": None}, "hub.callback is missing: send the URL the hub is to verify"),
        ({"hub.callback": "ftp://x.example.org/"}, "(must be an absolute http or https URL)"),
        ({"hub.callback": "/callback"}, "(must be an absolute http or https URL)"),
        ({"hub.callback": "http://127.0.0.1:8000/"}, "(127.0.0.1 is a loopback address)"),
        ({"hub.callback": "http://localhost/"}, "(localhost is this machine)"),
        ({"hub.callback": "http://10.1.2.3/"}, "(10.1.2.3 is a private address)"),
        ({"hub.callback": "http://169.254.169.254/"}, "link-local address"),
        ({"hub.callback": "https://u:p@x.example.org/"}, "must not carry a user name"),
        ({"hub.callback": "https://x.example.org/#f"}, "must not carry a fragment"),
        ({"hub.callback": "https://x.exa\nmple.org/"}, "hub.callback holds spaces or control"),
        ({"hub.secret": "s" * 200}, "hub.secret is 200 bytes long: send one of at most 199"),
        ({"hub.secret": "é" * 100}, "hub.secret is 200 bytes long"),
        ({"hub.secret": "a\x00b"}, "hub.secret holds control characters"),
        ({"hub.lease_seconds": "ten"}, "hub.lease_seconds 'ten' is not a whole number"),
        ({"hub.lease_seconds": "-5"}, "hub.lease_seconds '-5' is not a whole number"),
        ({"hub.lease_seconds": "3600.5"}, "is not a whole number of seconds: send digits only"),
    ],
)
def test_a_malformed_request_is_400_naming_the_field_and_the_fix(
    client: FlaskClient, store: Store, fields: dict[str, str | None], says: str
) -> None:
    form = {k: v for k, v in (subscribe() | fields).items() if v is not None}
    response = client.post("/hub", data=form)
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert says in response.text
    assert recorded(store) == []


def test_a_body_that_is_not_utf8_or_has_too_many_fields_is_400(
    client: FlaskClient, store: Store
) -> None:
    for body in (b"hub.mode=subscribe&hub.topic=%FF", b"hub.mode=\xff"):
        response = client.post("/hub", data=body, content_type=FORM)
        assert response.status_code == 400
        assert response.text == "The body is not UTF-8: percent-encode UTF-8 text.\n"
    many = "&".join(f"f{n}=1" for n in range(101))
    response = client.post("/hub", data=many, content_type=FORM)
    assert response.status_code == 400 and "more than 100 fields" in response.text
    assert recorded(store) == []


# Well-formed requests


def test_a_subscription_is_answered_202_and_recorded_as_given(
    client: FlaskClient, store: Store
) -> None:
    before = datetime.now(UTC)
    response = client.post("/hub", data=subscribe(**{"hub.secret": "s3cret", "x": "1"}))
    assert response.status_code == 202
    assert response.mimetype == "text/plain" and "verify" in response.text
    [row] = recorded(store)
    assert (row.mode, row.topic, row.callback) == ("subscribe", TOPIC, CALLBACK)
    assert (row.secret, row.lease_seconds) == ("s3cret", 864000)
    assert (row.partner, row.reason) == (None, None)
    assert before <= row.at <= datetime.now(UTC)  # the wall clock's time


def test_every_subscription_document_is_a_topic(client: FlaskClient, store: Store) -> None:
    topics = [
        f"{BASE}/feeds/rss.xml",
        f"{BASE}/feeds/feed.json",
        f"{BASE}/feeds/world/atom.xml",
        f"{BASE}/feeds/authors/jane-doe/rss.xml",
    ]
    for url in topics:
        assert client.post("/hub", data=subscribe(**{"hub.topic": url})).status_code == 202
    assert [(r.mode, r.topic) for r in recorded(store)] == [("subscribe", t) for t in topics]


@pytest.mark.parametrize(
    ("lease", "granted"),
    [
        ("7200", 7200),
        ("1", 3600),
        ("0", 3600),
        ("99999999", 2592000),
        ("9" * 40, 2592000),
        ("", 864000),
    ],
)
def test_the_lease_is_brought_within_the_hubs_bounds(
    client: FlaskClient, store: Store, lease: str, granted: int
) -> None:
    assert client.post("/hub", data=subscribe(**{"hub.lease_seconds": lease})).status_code == 202
    [row] = recorded(store)
    assert row.lease_seconds == granted


def test_the_bounds_and_default_of_leases_are_the_settings(
    make_client: MakeClient, store: Store
) -> None:
    client = make_client(hub_lease=600, hub_lease_min=300, hub_lease_max=900)
    for lease in ("100", "1000", None):
        fields = subscribe() if lease is None else subscribe(**{"hub.lease_seconds": lease})
        assert client.post("/hub", data=fields).status_code == 202
    assert [r.lease_seconds for r in recorded(store)] == [300, 900, 600]


def test_an_unsubscription_ignores_lease_and_secret(client: FlaskClient, store: Store) -> None:
    fields = {"hub.mode": "unsubscribe", "hub.lease_seconds": "soon", "hub.secret": "s" * 300}
    assert client.post("/hub", data=subscribe(**fields)).status_code == 202
    [row] = recorded(store)
    assert (row.mode, row.topic, row.callback) == ("unsubscribe", TOPIC, CALLBACK)
    assert (row.secret, row.lease_seconds, row.reason) == (None, 0, None)


def test_unknown_fields_are_ignored_and_the_first_of_a_field_counts(
    client: FlaskClient, store: Store
) -> None:
    # websub.rocks hub test 102 sends foo=bar and hub.foo=hub.bar beside the request.
    body = (
        "hub.mode=subscribe&foo=bar&hub.foo=hub.bar"
        f"&hub.topic={TOPIC}&hub.callback=https%3A%2F%2Fa.example.org%2Fcb%3Fx%3D1%26y%3D2"
        "&hub.callback=https://b.example.org/&hub.secret="
    )
    assert client.post("/hub", data=body, content_type=FORM).status_code == 202
    [row] = recorded(store)
    assert (row.mode, row.callback, row.secret) == (
        "subscribe",
        "https://a.example.org/cb?x=1&y=2",
        None,  # an empty secret signs nothing
    )


def test_loopback_callbacks_are_taken_when_allowed(make_client: MakeClient, store: Store) -> None:
    client = make_client(hub_allow_loopback=1)
    callback = "http://127.0.0.1:8123/cb"
    assert client.post("/hub", data=subscribe(**{"hub.callback": callback})).status_code == 202
    refused = client.post("/hub", data=subscribe(**{"hub.callback": "http://192.168.1.1/"}))
    assert refused.status_code == 400 and "private address" in refused.text
    assert [r.callback for r in recorded(store)] == [callback]


# Denials (§5.2): answered 202 as well, recorded with their reason


@pytest.mark.parametrize(
    "url",
    [
        "https://other.example.org/feeds/atom.xml",
        "http://news.example.com/feeds/atom.xml",
        f"{BASE}/feeds/archive/2020/05/1/atom.xml",
        f"{BASE}/sections/world",
        f"{BASE}/feeds/atom.xml?x=1",
        f"{BASE}/feeds/Not%20a%20name/atom.xml",
        f"{BASE}/partners/Not_A_Partner/atom.xml",
    ],
)
def test_a_topic_of_no_subscription_document_is_denied(
    client: FlaskClient, store: Store, url: str
) -> None:
    for mode in ("subscribe", "unsubscribe"):
        fields = subscribe(**{"hub.mode": mode, "hub.topic": url, "hub.secret": "s"})
        response = client.post("/hub", data=fields)
        assert response.status_code == 202
    rows = recorded(store)
    assert [(r.mode, r.topic, r.reason) for r in rows] == [("denied", url, NOT_A_TOPIC)] * 2
    assert all(r.secret is None and r.partner is None and r.callback == CALLBACK for r in rows)


def test_a_denial_is_answered_as_a_subscription_is(client: FlaskClient, store: Store) -> None:
    taken = client.post("/hub", data=subscribe())
    denied = client.post("/hub", data=subscribe(**{"hub.topic": "https://x.example.org/"}))
    assert (denied.status_code, denied.headers, denied.data) == (
        taken.status_code,
        taken.headers,
        taken.data,
    )
    assert [r.mode for r in recorded(store)] == ["subscribe", "denied"]


def test_a_partner_topic_needs_a_valid_token(client: FlaskClient, store: Store) -> None:
    token = add_partner(store, "globe")
    gone = add_partner(store, "gone", revoked=True)
    topics = [
        f"{BASE}/partners/globe/atom.xml",  # no token
        f"{BASE}/partners/globe/atom.xml?token=wrong",
        f"{BASE}/partners/globe/atom.xml?token={token}x",
        f"{BASE}/partners/gone/rss.xml?token={gone}",  # revoked
        f"{BASE}/partners/nobody/rss.xml?token={token}",  # unknown
    ]
    for url in topics:
        assert client.post("/hub", data=subscribe(**{"hub.topic": url})).status_code == 202
    wrong_bearer = {"Authorization": f"Bearer {token}x"}
    url = f"{BASE}/partners/globe/feed.json"
    fields = subscribe(**{"hub.topic": url})
    assert client.post("/hub", data=fields, headers=wrong_bearer).status_code == 202
    rows = recorded(store)
    # Named without the token given, which the store never holds, a wrong one's neither.
    assert [(r.mode, r.topic, r.reason) for r in rows] == [
        ("denied", t.split("?")[0], NO_TOKEN) for t in [*topics, url]
    ]
    assert all(r.partner is None and r.secret is None for r in rows)
    assert all(token not in r.topic and gone not in r.topic for r in rows)


def test_a_public_topic_given_with_a_token_is_denied_and_kept_without_it(
    client: FlaskClient, store: Store
) -> None:
    token = add_partner(store, "globe")
    for query in (f"token={token}", f"a=1&token={token}"):
        url = f"{TOPIC}?{query}"
        assert client.post("/hub", data=subscribe(**{"hub.topic": url})).status_code == 202
    assert [(r.mode, r.topic) for r in recorded(store)] == [("denied", TOPIC)] * 2


def test_a_partner_topic_with_its_token_is_taken(client: FlaskClient, store: Store) -> None:
    token = add_partner(store, "globe")
    in_url = f"{BASE}/partners/globe/atom.xml?token={token}"
    bare = f"{BASE}/partners/globe/rss.xml"
    basic = base64.b64encode(f"anyone:{token}".encode()).decode()
    asked = [
        (in_url, {}),
        (bare, {"Authorization": f"Bearer {token}"}),
        (bare, {"Authorization": f"Basic {basic}"}),
    ]
    for url, headers in asked:
        fields = subscribe(**{"hub.topic": url, "hub.secret": "s"})
        assert client.post("/hub", data=fields, headers=headers).status_code == 202
    rows = recorded(store)
    # Kept without the token, which the store holds as a digest only.
    assert [(r.mode, r.topic, r.partner, r.secret) for r in rows] == [
        ("subscribe", url.split("?")[0], "globe", "s") for url, _ in asked
    ]
    assert all(token not in r.topic + r.callback for r in rows)


def test_unsubscribing_from_a_partner_topic_needs_no_token(
    client: FlaskClient, store: Store
) -> None:
    add_partner(store, "globe")
    url = f"{BASE}/partners/globe/atom.xml"
    fields = subscribe(**{"hub.mode": "unsubscribe", "hub.topic": url})
    assert client.post("/hub", data=fields).status_code == 202
    [row] = recorded(store)
    assert (row.mode, row.topic, row.partner, row.reason) == ("unsubscribe", url, "globe", None)


# The rate per client


def test_a_client_past_the_rate_is_answered_429(make_client: MakeClient, store: Store) -> None:
    client = make_client(hub_rate=3)
    assert client.post("/hub", data=subscribe()).status_code == 202
    assert client.post("/hub", data={"hub.mode": "publish"}).status_code == 400  # counted
    assert client.post("/hub", json={}).status_code == 415  # counted
    assert client.get("/hub").status_code == 200  # not counted
    refused = client.post("/hub", data=subscribe())
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= 20
    assert refused.text == (
        f"More than 3 hub requests a minute came from this address; retry in {wait} s.\n"
    )
    assert "no-store" in refused.headers["Cache-Control"]
    other = client.post("/hub", data=subscribe(), environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert other.status_code == 202  # another address has a bucket of its own
    assert len(recorded(store)) == 2


# The store


@on_sqlite_only
def test_a_store_that_does_not_answer_is_503(tmp_path: Path) -> None:
    # A database path that is a folder: the store cannot answer.
    client = create_app({"database": f"sqlite:///{tmp_path}", "base_url": BASE}, environ={})
    response = client.test_client().post("/hub", data=subscribe())
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.text == "The service is temporarily unavailable; try again shortly.\n"
