"""The API checked against its own OpenAPI document with schemathesis, in this process: every
answer's status, media type and body conform, and nothing answers 5xx."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from feeds import __version__, text
from tests.support import Content, InProcess, article_text


@pytest.fixture
def site_env(site_env: dict[str, str]) -> dict[str, str]:
    return site_env | {"FEEDS_MAX_BODY": "65536"}


@pytest.fixture
def token(site: InProcess, content: Content) -> str:
    """A publish token, over a store holding one article. Its id is the document's version
    string, an id the generated cases draw, so reads and withdrawals meet a stored article."""
    content.write(f"{__version__}.txt", article_text())
    imported = site.feeds("import")
    assert imported.returncode == 0, imported.stderr
    created = site.feeds("token", "create", "--name", "fuzz", "--scope", "publish")
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_the_api_keeps_its_openapi_document(
    site: InProcess, token: str, method: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", site.app)
    operation = schema["/articles/{id}"][method]
    headers = {"Authorization": f"Bearer {token}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases on every run: CI stays repeatable
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case: Any) -> None:
        # Rules no schema can state (a date before 1990, HTML with no text once sanitised)
        # rightly reject some schema-valid bodies with a documented 422.
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    conforms()


def test_the_document_is_openapi_3_1(site: InProcess) -> None:
    status, _, body = site.fetch(site.url("/api/v1/openapi.json"))
    assert status == 200
    document = json.loads(body)
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": site.url("/api/v1")}]
    assert set(document["paths"]["/articles/{id}"]) == {"parameters", "put", "get", "delete"}
    schemas = document["components"]["schemas"]
    given = schemas["ArticleInput"]["properties"]["image"]["anyOf"]
    assert given == [{"$ref": "#/components/schemas/ImageInput"}, {"type": "null"}]
    assert schemas["Article"]["properties"]["image"] == {"$ref": "#/components/schemas/Image"}
    image = schemas["ImageInput"]
    assert image["required"] == ["url", "alt"] and image["additionalProperties"] is False
    assert (
        set(image["properties"])
        == set(schemas["Image"]["properties"])
        == {*("url", "alt", "caption", "credit", "width", "height", "type", "length")}
    )
    # The server's rule for alt text, as JSON Schema states it: every character of the Basic
    # Multilingual Plane but surrogates (which JSON Schema's UTF-16 pattern sees in pairs).
    pattern = re.compile(image["properties"]["alt"]["pattern"])
    plane = (chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000)
    assert [c for c in plane if bool(pattern.search(c)) != text.visible(c)] == []
    assert not any(pattern.search(c) for c in "\x00\t \u200b\ufeff\u202e\u2060\u3000")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_stats_operation_keeps_its_openapi_document(
    site: InProcess, mode: GenerationMode
) -> None:
    created = site.feeds("token", "create", "--name", "figures", "--scope", "stats")
    assert created.returncode == 0, created.stderr
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", site.app)
    operation = schema["/stats"]["GET"]
    headers = {"Authorization": f"Bearer {created.stdout.strip()}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case: Any) -> None:
        # Every parameter is optional: a negative case whose only fault is an extra query
        # member the URL loses on the way (an empty name) is rightly answered 200.
        excluded = [positive_data_acceptance, negative_data_rejection]
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    conforms()
