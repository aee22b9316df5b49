"""The built-in WebSub hub's endpoint, /hub (W3C WebSub §5.1): a subscription request is
checked, recorded and answered 202; feeds.push then verifies it at its callback (§5.3), or
tells the callback of a denial (§5.2). The answer never depends on either. A GET says what
the hub is and how to subscribe."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, parse_qsl, urlsplit

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from feeds.addresses import LONGEST_URL, refused_url
from feeds.config import Settings
from feeds.errors import BadRequest, TooLarge, TooManyRequests, UnsupportedMediaType
from feeds.text import shown

from .partner_feeds import active_partner, request_token
from .ratelimit import client_key
from .responses import ROUTE, text
from .service import Service, service
from .topics import topic

bp = Blueprint("hub", __name__)
FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 100
MAX_SECRET = 199  # bytes (§5.1: "less than 200 bytes")
NOT_A_TOPIC = "not a topic of this hub; subscribe to a feed's self URL"
NO_TOKEN = "a valid partner feed token is needed"
_DIGITS = re.compile(r"[0-9]+")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Asked:
    """A well-formed request, its lease already brought within the hub's bounds."""

    mode: str  # subscribe or unsubscribe
    topic: str
    callback: str
    secret: str | None
    lease_seconds: int


@bp.get("/hub", **ROUTE)
def about() -> Response:
    s = service().settings
    return text(
        f"This is the WebSub hub (W3C WebSub) of the feeds under {s.base_url}/\n"
        f"\nTo subscribe, POST a form ({FORM}) to {s.hub_url} with\n"
        "  hub.mode=subscribe\n"
        '  hub.topic=a feed\'s self URL (its Link header, rel="self")\n'
        "  hub.callback=your URL: the hub verifies the request there with a GET, then\n"
        "    POSTs each new version of the feed to it\n"
        f"  hub.lease_seconds=optional: {s.hub_lease_min} to {s.hub_lease_max};"
        f" {s.hub_lease} when not given\n"
        "  hub.secret=optional, under 200 bytes: deliveries are signed (X-Hub-Signature)\n"
        "hub.mode=unsubscribe, with the same topic and callback, ends a subscription.\n"
        "A partner feed needs the partner's feed token: in the topic's ?token=, or as\n"
        "Authorization: Bearer.\n"
    )


@bp.post("/hub", **ROUTE)
def request_subscription() -> Response:
    svc = service()
    settings = svc.settings
    wait = svc.hub_clients.take(client_key(request.remote_addr or ""), settings.hub_rate)
    if wait:  # every POST counts, a malformed one too: the rate bounds what one may try
        raise TooManyRequests(
            f"More than {settings.hub_rate} hub requests a minute came from this address;"
            f" retry in {wait} s.",
            wait,
        )
    asked = parse(_form(settings.max_body), settings)
    mode, partner, reason = _decision(svc, asked)
    granted = reason is None
    # A topic is kept, and named to the callback, without a token: tokens are stored as
    # digests only (the subscription needs none once made), a denied one's too (a wrong,
    # revoked or other partner's token, or one given with a public topic).
    named = _without_token(asked.topic)
    with svc.store.hub() as hub:
        hub.add_request(
            mode,
            named,
            asked.callback,
            datetime.now(UTC),
            secret=asked.secret if granted else None,
            lease_seconds=asked.lease_seconds if granted else 0,
            partner=partner,
            reason=reason,
        )
    return text("Accepted: the hub will verify the request with a GET to hub.callback.", 202)


def _without_token(url: str) -> str:
    """`url` without its query when the query carries a token."""
    bare, _, query = url.partition("?")
    return bare if "token" in parse_qs(query, keep_blank_values=True) else url


def _form(limit: int) -> dict[str, str]:
    """The fields of the urlencoded body, the first of each name; raises
    UnsupportedMediaType, TooLarge past `limit` bytes (chunked bodies too), or BadRequest."""
    if request.mimetype != FORM:
        raise UnsupportedMediaType(f"Send the request as Content-Type: {FORM} (WebSub §5.1)")
    too_large = TooLarge(f"The body is larger than {limit} bytes (FEEDS_MAX_BODY)")
    try:
        data = request.stream.read(limit + 1)
    except RequestEntityTooLarge as e:
        raise too_large from e
    if len(data) > limit:
        raise too_large
    try:
        pairs = parse_qsl(
            data.decode(),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError as e:
        raise BadRequest("The body is not UTF-8: percent-encode UTF-8 text.") from e
    except ValueError as e:
        raise BadRequest(f"The body has more than {MAX_FIELDS} fields.") from e
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def parse(fields: dict[str, str], settings: Settings) -> Asked:
    """The request the fields make (others are ignored); raises BadRequest naming the
    field that is missing or malformed and what to send."""
    mode = fields.get("hub.mode", "")
    if mode == "publish":
        raise BadRequest(
            "hub.mode=publish is not taken: this hub's topics are announced by the service"
            " itself whenever an article changes. Send hub.mode=subscribe or unsubscribe."
        )
    if mode not in ("subscribe", "unsubscribe"):
        given = f"hub.mode '{shown(mode)}' is not a mode" if mode else "hub.mode is missing"
        raise BadRequest(f"{given}: send hub.mode=subscribe or hub.mode=unsubscribe.")
    topic_url = _url(fields, "hub.topic", 'the self URL of the feed (its Link rel="self")')
    callback = _url(fields, "hub.callback", "the URL the hub is to verify and deliver to")
    refused = refused_url(callback, bool(settings.hub_allow_loopback))
    if refused is not None:
        raise BadRequest(
            f"hub.callback cannot be used ({refused}): send an absolute http(s) URL"
            " that the hub can reach on the public internet."
        )
    if mode == "unsubscribe":  # §5.1: the lease and secret are a subscription's
        return Asked(mode, topic_url, callback, None, 0)
    return Asked(mode, topic_url, callback, _secret(fields), _lease(fields, settings))


def _url(fields: dict[str, str], name: str, what: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise BadRequest(f"{name} is missing: send {what}.")
    if len(value) > LONGEST_URL:
        raise BadRequest(f"{name} is longer than {LONGEST_URL} characters: send {what}.")
    if not value.isprintable() or any(char.isspace() for char in value):
        raise BadRequest(f"{name} holds spaces or control characters: percent-encode them.")
    return value


def _secret(fields: dict[str, str]) -> str | None:
    secret = fields.get("hub.secret", "")
    if not secret:  # an empty one signs nothing: taken as none
        return None
    size = len(secret.encode())
    if size > MAX_SECRET:
        raise BadRequest(
            f"hub.secret is {size} bytes long: send one of at most {MAX_SECRET} bytes"
            " (WebSub §5.1), or none for unsigned deliveries."
        )
    if _CONTROLS.search(secret):
        raise BadRequest("hub.secret holds control characters: send printable text.")
    return secret


def _lease(fields: dict[str, str], settings: Settings) -> int:
    value = fields.get("hub.lease_seconds", "")
    if not value:
        return settings.hub_lease
    if not _DIGITS.fullmatch(value):
        raise BadRequest(
            f"hub.lease_seconds '{shown(value)}' is not a whole number of seconds: send digits"
            f" only, or leave it out for the default ({settings.hub_lease} s)."
        )
    asked = int(value) if len(value) <= 12 else settings.hub_lease_max
    return max(settings.hub_lease_min, min(settings.hub_lease_max, asked))


def _decision(svc: Service, asked: Asked) -> tuple[str, str | None, str | None]:
    """The mode to record, the partner whose topic it is, and why the hub denies it (§5.2),
    None when it does not."""
    found = topic(svc, asked.topic)
    if found is None:  # another host, an archive, a page, a name none can have
        return "denied", None, NOT_A_TOPIC
    if found.partner is None or asked.mode == "unsubscribe":
        return asked.mode, found.partner, None
    given = parse_qs(urlsplit(asked.topic).query).get("token", [None])[0]
    if active_partner(svc, found.partner, request_token(given)) is None:
        return "denied", None, NO_TOKEN
    return asked.mode, found.partner, None
