"""`feeds render`: the whole site as static files (feeds, pages, sitemaps and robots.txt),
through the same views the server uses."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from feeds.errors import FeedsError
from feeds.formats import FORMATS
from feeds.syndication import sitemaps as sm
from feeds.syndication.plan import plan
from feeds.syndication.urls import DocKey, article_path, section_path
from feeds.web.service import Service


def _feed_paths(svc: Service) -> list[str]:
    """Every feed document: the site's and each section's, with all their archives."""
    paths: list[str] = []
    now = svc.settings.now()
    with svc.store.read() as reader:
        for section in [None, *reader.sections(now)]:
            key: DocKey | None = DocKey(section)
            while key is not None:
                planned = plan(reader, svc.settings, key, now)
                if planned is None:
                    break
                paths += [key.path(name) for name in FORMATS]
                key = planned.prev
    return paths


def _paths(svc: Service) -> list[tuple[str, str]]:
    """(URL path, file path relative to the output folder) of every document."""
    paths = [(p, p.lstrip("/")) for p in _feed_paths(svc)]
    paths += [("/", "index.html"), ("/feeds.opml", "feeds.opml")]
    with svc.store.read() as reader:
        now = svc.settings.now()
        sections = reader.sections(now)
        ids = reader.all_ids()
        article_sitemaps = len(reader.sitemap_parts(now, sm.per_sitemap(svc.settings)))
    crawled = [sm.ROBOTS_PATH, sm.INDEX_PATH, sm.PAGES_PATH, sm.NEWS_PATH]
    crawled += [sm.articles_path(n) for n in range(1, article_sitemaps + 1)]
    paths += [(p, p.lstrip("/")) for p in crawled]
    paths += [(section_path(s), section_path(s).lstrip("/") + ".html") for s in sections]
    paths += [(article_path(i), f"articles/{i}.html") for i in ids]
    return paths


def render_site(app: Flask, out: Path) -> int:
    """Write every document into `out`; returns how many files were written. Articles that
    are withdrawn or under embargo are left out. Raises FeedsError when a document cannot be
    made."""
    client = app.test_client()
    count = 0
    for url_path, file_path in _paths(Service.of(app)):
        response = client.get(url_path)
        if url_path.startswith("/articles/") and response.status_code in (404, 410):
            continue
        if response.status_code != 200:
            raise FeedsError(f"{url_path} answered {response.status_code}: {response.text}")
        target = out / file_path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(response.get_data())
            tmp.replace(target)
        except OSError as e:
            raise FeedsError(
                f"cannot write {target} ({e.strerror}); give --out a folder you can write"
            ) from e
        count += 1
    return count
