"""An article's lead image as the publishing API takes it: the `image` member of a request
body validated into a model.Image, each problem reported under its own field (`image.width`).

`parse(value, base_url, errors)` returns the Image, or None when none was given or a field
is wrong (then `errors` holds why).
"""

from __future__ import annotations

import re

from feeds.model import Image
from feeds.text import MAX_IMAGE_SIDE, clean_line, visible

from . import limits
from .sanitize import BadURL, normal_url

TEXTS = {  # member -> (most characters, what it is)
    "alt": (limits.MAX_ALT_LENGTH, "an image's alt text"),
    "caption": (limits.MAX_CAPTION_LENGTH, "a caption"),
    "credit": (limits.MAX_CREDIT_LENGTH, "a credit"),
}
NUMBERS = {  # member -> (most, unit)
    "width": (MAX_IMAGE_SIDE, "pixels"),
    "height": (MAX_IMAGE_SIDE, "pixels"),
    "length": (limits.MAX_IMAGE_BYTES, "bytes"),
}
FIELDS = {"url", "type", *TEXTS, *NUMBERS}
# RFC 6838 §4.2: type "/" subtype, each a restricted-name, in any case; the type here is
# always image. No parameters: nothing that reads an enclosure's or Media RSS's type expects
# them. Written without flags, so that the OpenAPI document states the same pattern.
MEDIA_TYPE = re.compile(r"^[Ii][Mm][Aa][Gg][Ee]/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\Z")
_SCHEMES = ("http", "https")


def _visible_pattern() -> str:
    """A regular expression that matches a visible character of the Basic Multilingual
    Plane, in the syntax Python and JSON Schema (ECMA-262 without flags) share, so that the
    OpenAPI document states the rule: `\\uXXXX` escapes of the invisible ones, in ranges."""
    invisible = [c for c in range(0x10000) if not visible(chr(c)) and not 0xD800 <= c < 0xE000]
    ranges: list[list[int]] = []
    for c in invisible:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    written = "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)
    return f"[^{written}]"


VISIBLE = re.compile(_visible_pattern())

Errors = list[dict[str, str]]


def _url(value: object, base_url: str, errors: Errors) -> str | None:
    if value is not None and not isinstance(value, str):
        errors.append({"field": "image.url", "detail": "must be a string: the image's URL"})
        return None
    if not value or not value.strip():
        errors.append({"field": "image.url", "detail": "is required: the image's URL"})
        return None
    # As given (the OpenAPI document's maxLength), and as it will be stored, below.
    if problem := limits.length(value, limits.MAX_IMAGE_URL_LENGTH, "an image's URL"):
        errors.append({"field": "image.url", "detail": problem})
        return None
    try:
        url = normal_url(value, base_url, _SCHEMES)
    except BadURL as bad:
        errors.append({"field": "image.url", "detail": str(bad)})
        return None
    what = "an image's URL once percent-encoded"
    if problem := limits.length(url, limits.MAX_IMAGE_URL_LENGTH, what):
        errors.append({"field": "image.url", "detail": problem})
        return None
    return url


def _text(image: dict[str, object], member: str, errors: Errors) -> str | None:
    """A text member with its white space folded; a blank caption or credit is none."""
    value = image.get(member)
    if value is None and member != "alt":
        return None
    if not isinstance(value, str) or (member == "alt" and not visible(clean_line(value))):
        detail = (
            "is required: a text saying what the image shows, for who cannot see it, with "
            "a visible character (not only white space, control or format characters)"
            if member == "alt"
            else "must be a string, or null"
        )
        errors.append({"field": f"image.{member}", "detail": detail})
        return None
    text = clean_line(value)
    most, what = TEXTS[member]
    if problem := limits.length(text, most, what):
        errors.append({"field": f"image.{member}", "detail": problem})
        return None
    return text or None


def _number(image: dict[str, object], member: str, errors: Errors) -> int | None:
    value = image.get(member)
    if value is None:
        return None
    most, unit = NUMBERS[member]
    if not isinstance(value, int) or isinstance(value, bool):
        problem: str | None = f"must be a whole number of {unit}, or null"
    else:
        problem = limits.number(value, most, unit)
    if problem:
        errors.append({"field": f"image.{member}", "detail": problem})
        return None
    assert isinstance(value, int)
    return value


def _type(value: object, errors: Errors) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not MEDIA_TYPE.match(value):
        errors.append(
            {
                "field": "image.type",
                "detail": "must be an image's media type without parameters, "
                "such as image/jpeg or image/webp",
            }
        )
        return None
    return value.lower()  # media types are case-insensitive (RFC 6838 §4.2)


def parse(value: object, base_url: str, errors: Errors) -> Image | None:
    """The lead image given as `value` (a JSON object, or None for none)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(
            {"field": "image", "detail": "must be an object with at least url and alt, or null"}
        )
        return None
    before = len(errors)
    errors.extend(
        {"field": f"image.{k}", "detail": "is not a field of an image"}
        for k in sorted(set(value) - FIELDS)
    )
    url = _url(value.get("url"), base_url, errors)
    texts = {member: _text(value, member, errors) for member in TEXTS}
    numbers = {member: _number(value, member, errors) for member in NUMBERS}
    media_type = _type(value.get("type"), errors)
    alt = texts["alt"]
    if len(errors) > before or url is None or alt is None:
        return None
    return Image(
        url=url,
        alt=alt,
        caption=texts["caption"],
        credit=texts["credit"],
        width=numbers["width"],
        height=numbers["height"],
        type=media_type,
        length=numbers["length"],
    )
