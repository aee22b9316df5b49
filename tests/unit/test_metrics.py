"""/metrics in one process (the default registry): who may read it, what its labels hold,
and each figure moving when its event happens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from feeds import metrics
from feeds.store import Store
from feeds.web.service import Service
from tests.support import POSTGRES, Content, InProcess, article_text

OUTSIDE = {"REMOTE_ADDR": "192.0.2.7"}  # not in FEEDS_METRICS_FROM's default


@pytest.fixture
def site_env(site_env: dict[str, str], clock: Path) -> dict[str, str]:
    return site_env | {"FEEDS_CLOCK": str(clock)}


@pytest.fixture
def served(site: InProcess, content: Content) -> InProcess:
    content.write("world/w1.txt", article_text(title="One", dateline="1 May 2020, 10:00"))
    assert "1 added" in site.feeds("import").stdout
    return site


def scrape(site: InProcess) -> str:
    response = site.client.get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def figure(site: InProcess, name: str, **labels: str) -> float:
    """The sample `name` with exactly these labels (0 when absent)."""
    for family in text_string_to_metric_families(scrape(site)):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def token(site: InProcess, name: str, scope: str) -> str:
    made = site.feeds("token", "create", "--name", name, "--scope", scope)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def test_loopback_reads_the_figures_uncached_in_the_text_format(served: InProcess) -> None:
    response = served.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "text/plain"
    names = {f.name for f in text_string_to_metric_families(response.get_data(as_text=True))}
    assert {"feeds_requests", "feeds_hub_queue", "feeds_cache_builds"} <= names


def test_others_need_a_metrics_token(served: InProcess) -> None:
    client = served.client
    refused = client.get("/metrics", environ_base=OUTSIDE)
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert "FEEDS_METRICS_FROM" in json.loads(refused.data)["detail"]
    assert refused.headers["Cache-Control"] == "no-store"
    # A trusted proxy (loopback) naming an outside client does not make it local.
    forwarded = client.get("/metrics", headers={"X-Forwarded-For": "192.0.2.7"})
    assert forwarded.status_code == 403
    publish = token(served, "cms", "publish")
    for secret in ("not-a-token", publish):
        wrong = client.get(
            "/metrics", environ_base=OUTSIDE, headers={"Authorization": f"Bearer {secret}"}
        )
        assert wrong.status_code == 401 and wrong.mimetype == "application/problem+json"
        assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    scraper = token(served, "scraper", "metrics")
    allowed = client.get(
        "/metrics", environ_base=OUTSIDE, headers={"Authorization": f"Bearer {scraper}"}
    )
    assert allowed.status_code == 200 and scraper not in allowed.get_data(as_text=True)


def test_loopback_on_a_dual_stack_socket_may_read_the_figures(site: InProcess) -> None:
    site.feeds("migrate")
    got = site.client.get("/metrics", environ_base={"REMOTE_ADDR": "::ffff:127.0.0.1"})
    assert got.status_code == 200, got.status_code
    outside = site.client.get("/metrics", environ_base={"REMOTE_ADDR": "::ffff:192.0.2.7"})
    assert outside.status_code == 403


def test_a_client_the_proxy_cannot_name_is_not_the_proxy(site: InProcess) -> None:
    # nginx listening on a unix socket behind a TLS terminator appends "unix:" for every
    # client; the client is then unknown, not the loopback proxy itself.
    site.feeds("migrate")
    for hops in ("unix:", "127.0.0.1, unix:", "garbled"):
        got = site.client.get("/metrics", headers={"X-Forwarded-For": hops})
        assert got.status_code == 403, (hops, got.status_code)


def test_requests_count_by_route_template_format_and_status(served: InProcess) -> None:
    route = "/feeds/<filename>"
    before = figure(served, "feeds_requests_total", route=route, format="atom", status="200")
    before_304 = figure(served, "feeds_requests_total", route=route, format="atom", status="304")
    first = served.client.get("/feeds/atom.xml")
    served.client.get("/feeds/atom.xml")  # from the fast path, before Flask
    again = served.client.get("/feeds/atom.xml", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    after = figure(served, "feeds_requests_total", route=route, format="atom", status="200")
    assert after == before + 2
    assert (
        figure(served, "feeds_requests_total", route=route, format="atom", status="304")
        == before_304 + 1
    )


def test_made_up_paths_are_unmatched_and_no_token_shows(served: InProcess) -> None:
    secret = served.add_partner()
    assert served.client.get(f"/partners/globe/rss.xml?token={secret}").status_code == 200
    served.client.get("/no/such/page-made-up?token=abc123")
    text = scrape(served)
    assert secret not in text and "made-up" not in text and "abc123" not in text
    assert 'route="/partners/<name>/<filename>"' in text
    assert figure(served, "feeds_requests_total", route="unmatched", format="none", status="404")


def test_429s_count_under_their_route(served: InProcess) -> None:
    secret = served.add_partner()
    labels = {"route": "/partners/<name>/<filename>", "format": "none", "status": "429"}
    before = figure(served, "feeds_requests_total", **labels)
    assert served.client.get(f"/partners/globe/rss.xml?token={secret}").status_code == 200
    assert served.client.get(f"/partners/globe/rss.xml?token={secret}").status_code == 429
    assert figure(served, "feeds_requests_total", **labels) == before + 1


def test_builds_renders_sizes_and_bytes_kept(served: InProcess) -> None:
    rendered = figure(served, "feeds_cache_builds_total", result="rendered")
    sizes = figure(served, "feeds_document_bytes_count", format="json")
    renders = figure(served, "feeds_render_seconds_count", format="json")
    served.client.get("/feeds/feed.json")
    served.client.get("/feeds/feed.json")  # a hit: no build
    assert figure(served, "feeds_cache_builds_total", result="rendered") == rendered + 1
    assert figure(served, "feeds_document_bytes_count", format="json") == sizes + 1
    assert figure(served, "feeds_render_seconds_count", format="json") == renders + 1
    assert figure(served, "feeds_rebuild_seconds_count", format="json") >= 1
    assert figure(served, "feeds_cache_bytes") > 0
    assert figure(served, "feeds_cache_budget_bytes") > 0


def test_the_lag_from_publishing_to_a_feed_that_shows_it(
    served: InProcess, content: Content, clock: Path
) -> None:
    served.client.get("/feeds/rss.xml")  # a worker's first build measures nothing
    count = figure(served, "feeds_publish_visible_seconds_count")
    total = figure(served, "feeds_publish_visible_seconds_sum")
    # Embargoed until 12:30 (the clock stands at 12:00): visible from then, seen at 12:31.
    content.write("world/w2.txt", article_text(title="Two", dateline="15 January 2026, 12:30"))
    assert "1 added" in served.feeds("import").stdout
    clock.write_text("2026-01-15T12:31:00Z")
    assert b"Two" in served.client.get("/feeds/rss.xml").data
    assert figure(served, "feeds_publish_visible_seconds_count") == count + 1
    assert figure(served, "feeds_publish_visible_seconds_sum") == pytest.approx(total + 60)
    served.client.get("/feeds/rss.xml")  # nothing newer: nothing more
    assert figure(served, "feeds_publish_visible_seconds_count") == count + 1


def test_imports_count_runs_articles_and_durations(served: InProcess, content: Content) -> None:
    runs = figure(served, "feeds_import_runs_total", result="stored")
    added = figure(served, "feeds_import_articles_total", outcome="added")
    rejected = figure(served, "feeds_import_articles_total", outcome="rejected")
    durations = figure(served, "feeds_import_seconds_count")
    content.write("world/w2.txt", article_text(title="Two"))
    content.write("world/w3.txt", article_text(title="Three"))
    content.write("world/bad.txt", "no dateline\n")
    served.feeds("import")
    assert figure(served, "feeds_import_runs_total", result="stored") == runs + 1
    assert figure(served, "feeds_import_articles_total", outcome="added") == added + 2
    assert figure(served, "feeds_import_articles_total", outcome="rejected") == rejected + 1
    assert figure(served, "feeds_import_seconds_count") == durations + 1
    dry = figure(served, "feeds_import_runs_total", result="dry_run")
    served.feeds("import", "--dry-run")
    assert figure(served, "feeds_import_runs_total", result="dry_run") == dry + 1
    assert figure(served, "feeds_import_seconds_count") == durations + 1
    # --sync refuses to withdraw three of four articles: a failed run stores nothing else.
    for name in ("w1", "w2", "w3"):
        (content.root / "world" / f"{name}.txt").unlink()
    (content.root / "world" / "bad.txt").unlink()
    failed = figure(served, "feeds_import_runs_total", result="failed")
    assert served.feeds("import", "--sync").returncode != 0
    assert figure(served, "feeds_import_runs_total", result="failed") == failed + 1
    assert figure(served, "feeds_import_runs_total", result="stored") == runs + 1
    assert figure(served, "feeds_import_articles_total", outcome="withdrawn") == 0
    assert figure(served, "feeds_import_seconds_count") == durations + 1


def test_import_figures_are_running_totals_in_the_store(
    served: InProcess, content: Content
) -> None:
    """Every server reading the store shows the same totals, whichever process imported."""
    content.write("world/w2.txt", article_text(title="Two"))
    served.feeds("import")
    text = scrape(served)
    with Store(served.env["FEEDS_DATABASE"]).read() as reader:
        stored = reader.import_figures()
    assert stored[("runs", "stored")] == 2  # the fixture's import and this one
    assert stored[("articles", "added")] == 2 and stored[("articles", "unchanged")] == 1
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = families["feeds_import_seconds"].samples
    buckets = [s.value for s in samples if s.name == "feeds_import_seconds_bucket"]
    assert buckets == sorted(buckets) and buckets[-1] == 2  # cumulative, +Inf last
    assert figure(served, "feeds_import_seconds_count") == 2
    assert figure(served, "feeds_import_runs_total", result="failed") == 0  # shown before any


def test_an_imports_duration_lands_in_its_bucket() -> None:
    totals = metrics.import_figures("stored", {"added": 3}, 0.3)
    totals[("seconds", "+Inf")] = 1.0  # a run longer than the last bound
    totals[("seconds_sum", "")] += 7200.0
    text = metrics.scrape(lambda: metrics.Stored(0, {}, totals)).decode()
    got = {
        (s.name, s.labels.get("le", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("feeds_import_seconds")
    }
    assert got[("feeds_import_seconds_bucket", "0.1")] == 0
    assert got[("feeds_import_seconds_bucket", "0.5")] == 1
    assert got[("feeds_import_seconds_bucket", "3600.0")] == 1
    assert got[("feeds_import_seconds_bucket", "+Inf")] == 2
    assert got[("feeds_import_seconds_count", "")] == 2
    assert got[("feeds_import_seconds_sum", "")] == pytest.approx(7200.3)


def test_api_writes_count_by_result(served: InProcess) -> None:
    secret = token(served, "cms", "publish")
    created = {"method": "PUT", "status": "201"}
    refused = {"method": "PUT", "status": "401"}
    before, before_refused = (
        figure(served, "feeds_api_writes_total", **created),
        figure(served, "feeds_api_writes_total", **refused),
    )
    body = {
        "title": "By the API",
        "published": "2026-01-15T11:00:00Z",
        "section": "world",
        "text": "One.",
    }
    auth = {"Authorization": f"Bearer {secret}"}
    put = served.client.put("/api/v1/articles/api-one", json=body, headers=auth)
    assert put.status_code == 201, put.get_data(as_text=True)
    served.client.put("/api/v1/articles/api-two", json=body)
    assert figure(served, "feeds_api_writes_total", **created) == before + 1
    assert figure(served, "feeds_api_writes_total", **refused) == before_refused + 1
    route = {"route": "/api/v1/articles/<article_id>", "format": "none", "status": "401"}
    assert figure(served, "feeds_requests_total", **route) >= 1


def test_hub_figures_are_read_from_the_store(served: InProcess) -> None:
    waiting = figure(served, "feeds_hub_queue", queue="requests")
    form = {
        "hub.mode": "subscribe",
        "hub.topic": served.url("/feeds/atom.xml"),
        "hub.callback": "https://subscriber.example.net/cb",
    }
    assert served.client.post("/hub", data=form).status_code == 202
    assert figure(served, "feeds_hub_queue", queue="requests") == waiting + 1
    assert figure(served, "feeds_hub_subscriptions") == 0
    labels = {"route": "/hub", "format": "none", "status": "202"}
    assert figure(served, "feeds_requests_total", **labels) >= 1


def test_a_store_that_cannot_be_read_leaves_the_other_figures(served: InProcess) -> None:
    assert figure(served, "feeds_store_readable") == 1
    assert served.client.get("/feeds/rss.xml").status_code == 200
    engine = sa.create_engine(served.env["FEEDS_DATABASE"])
    with engine.begin() as connection:  # the hub's reads fail from now on
        connection.exec_driver_sql("ALTER TABLE hub_subscriptions RENAME TO gone")
    engine.dispose()
    text = scrape(served)
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert "feeds_requests_total" in names and "feeds_hub_subscriptions" not in names
    assert figure(served, "feeds_store_readable") == 0


@pytest.mark.skipif(bool(POSTGRES), reason="breaks the SQLite file to make an outage")
def test_a_scrape_during_a_store_outage_still_gives_the_servers_figures(
    site: InProcess, site_env: dict[str, str]
) -> None:
    site.feeds("migrate")
    assert site.client.get("/feeds/rss.xml").status_code == 200
    assert site.client.get("/metrics").status_code == 200
    db = Path(site_env["FEEDS_DATABASE"].removeprefix("sqlite:///"))
    Service.of(site.app).store.dispose()
    db.write_bytes(b"not a database" * 512)  # the store cannot be read: an outage
    Path(str(db) + "-wal").unlink(missing_ok=True)
    assert site.client.get("/feeds/atom.xml").status_code == 503
    text = scrape(site)
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "feeds_requests" in names and "feeds_import_runs" not in names
    assert figure(site, "feeds_store_readable") == 0
