"""The `feeds` command: import articles, serve the feeds, render them as static files."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import click
from flask import Flask

from feeds.store.database import Writer
from feeds.web.service import Service

from .errors import ConfigError, FeedsError, StoreUnavailable
from .web import create_app

T = TypeVar("T")


def _app() -> Flask:
    """The app from FEEDS_* settings, its store's schema in place; exits 2 on a bad setting."""
    try:
        app = create_app()
    except ConfigError as e:
        raise click.ClickException(f"bad setting {e}") from e
    svc: Service = app.extensions["feeds"]
    try:
        svc.store.create_schema(datetime.now(UTC), svc.settings.tag_authority)
    except StoreUnavailable as e:
        raise click.ClickException(str(e)) from e
    return app


def _service() -> Service:
    svc: Service = _app().extensions["feeds"]
    return svc


def _write(action: Callable[[Writer, datetime], T]) -> T:
    """Run `action(writer, now)` in one write transaction; a refusal (a FeedsError such as
    an unknown partner or a taken token name) ends the command with its message."""
    svc = _service()
    try:
        with svc.store.write() as writer:
            return action(writer, svc.settings.now())
    except FeedsError as e:
        raise click.ClickException(str(e)) from e


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="feeds")
def main() -> None:
    """Syndication service: newsroom article files in; RSS 2.0, Atom 1.0 and JSON Feed 1.1 out.

    Settings come from FEEDS_* environment variables (see the README); the database is
    FEEDS_DATABASE (default sqlite:///var/feeds.db).
    """


@main.command()
def migrate() -> None:
    """Bring the store's schema up to date (Alembic migrations); safe to run at any time."""
    _app()  # every command migrates first; this one does nothing else
    click.echo("the store is up to date")


@main.command("import")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every file and report; store nothing.")
@click.option(
    "--sync",
    is_flag=True,
    help="Also withdraw every stored article whose file is no longer below the folders named.",
)
@click.option(
    "--force", is_flag=True, help="With --sync: withdraw even more than half of the store."
)
def import_command(paths: tuple[Path, ...], dry_run: bool, sync: bool, force: bool) -> None:
    """Import article files from PATHS (default: FEEDS_CONTENT, content/).

    Folders are read recursively for *.txt files. A file's section is the first folder
    below FEEDS_CONTENT on its path (content/world/x.txt: world), whichever file or folder is
    named. Each rejected file is reported on stderr with the reason; all other files are
    stored, in one transaction. Exits 1 when any file was rejected.
    """
    from feeds.ingest.importer import HelperFailed, SyncRefused, collect, import_sources

    app = _app()
    svc: Service = app.extensions["feeds"]
    roots = list(paths) or [Path(svc.settings.content)]
    sources, missing = collect(roots, Path(svc.settings.content))
    show = sys.stderr.isatty() and len(sources) > 200
    with click.progressbar(
        length=len(sources), label="Reading", file=sys.stderr, hidden=not show
    ) as bar:
        try:
            report = import_sources(
                svc.store,
                svc.settings,
                sources,
                missing,
                dry_run=dry_run,
                sync=roots if sync else (),
                force=force,
                progress=lambda: bar.update(1),
            )
        except (StoreUnavailable, SyncRefused, HelperFailed) as e:
            raise click.ClickException(f"{e}; nothing was imported") from e
    for error in report.rejected:
        click.echo(f"rejected: {error}", err=True)
    for article_id in report.withdrawn:
        click.echo(f"withdrawn: {article_id}", err=True)
    prefix = "dry run, nothing stored: " if dry_run else ""
    click.echo(prefix + report.summary())
    if report.rejected:
        sys.exit(1)


@main.command()
@click.argument("ids", nargs=-1, required=True)
def delete(ids: tuple[str, ...]) -> None:
    """Withdraw the articles with these IDS (file names without extension).

    A withdrawn article leaves every feed and archive, Atom documents carry a tombstone for
    it for FEEDS_TOMBSTONE_DAYS, and its page answers 410 Gone. Its id is never reused:
    importing its file again restores it. Exits 1 when an id is unknown.
    """
    app = _app()
    svc: Service = app.extensions["feeds"]
    now = svc.settings.now()
    unknown = []
    try:
        with svc.store.write() as writer:
            for article_id in ids:
                old = writer.withdraw(article_id, now, "delete")
                if old is None:
                    unknown.append(article_id)
                elif old.withdrawn is not None:
                    click.echo(f"{article_id}: already withdrawn")
                else:
                    click.echo(f"withdrawn: {article_id}")
    except StoreUnavailable as e:
        raise click.ClickException(str(e)) from e
    for article_id in unknown:
        click.echo(
            f"{article_id}: no such article (ids are file names without extension)", err=True
        )
    if unknown:
        sys.exit(1)


@main.group()
def token() -> None:
    """Manage API tokens (`Authorization: Bearer TOKEN`). Only a digest of each is stored."""


@token.command("create")
@click.option("--name", required=True, help="A name for the token's holder, e.g. cms.")
@click.option(
    "--scope",
    required=True,
    type=click.Choice(["publish"]),
    help="What the token may do: publish = write articles through /api/v1/.",
)
def token_create(name: str, scope: str) -> None:
    """Create a token and print it, once: it cannot be shown again."""
    from . import tokens

    click.echo(_write(lambda writer, now: tokens.create(writer, name, scope, now)))


@token.command("list")
def token_list() -> None:
    """List tokens: name, scope, created, revoked (never the tokens themselves)."""
    from . import tokens

    svc = _service()
    with svc.store.read() as reader:
        for entry in tokens.listing(reader):
            state = f"revoked {entry.revoked:%Y-%m-%dT%H:%M:%SZ}" if entry.revoked else "active"
            click.echo(
                f"{entry.name}\t{entry.scope}\tcreated {entry.created:%Y-%m-%dT%H:%M:%SZ}\t{state}"
            )


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke the token called NAME; requests with it are refused from now on."""
    from . import tokens

    _write(lambda writer, now: tokens.revoke(writer, name, now))
    click.echo(f"revoked: {name}")


@main.group()
def partner() -> None:
    """Manage syndication partners and their private feeds (/partners/NAME/...)."""


@partner.command("add")
@click.argument("name")
@click.option("--sections", required=True, help="Comma-separated sections, e.g. world,uk.")
@click.option(
    "--content",
    required=True,
    type=click.Choice(["full", "summary"]),
    help="Full text, or only summaries.",
)
@click.option("--rights", default="", help="Rights statement shown in every format.")
def partner_add(name: str, sections: str, content: str, rights: str) -> None:
    """Add partner NAME and print its feed token, once.

    The partner's feeds are /partners/NAME/rss.xml, atom.xml and feed.json, read with
    ?token=TOKEN, Authorization: Bearer TOKEN, or HTTP Basic with TOKEN as the password.
    """
    from . import partners

    bought = [s.strip() for s in sections.split(",") if s.strip()]
    click.echo(_write(lambda writer, now: partners.add(writer, name, bought, content, rights, now)))


@partner.command("list")
def partner_list() -> None:
    """List partners: name, sections, content, state (never tokens)."""
    from . import partners

    svc = _service()
    with svc.store.read() as reader:
        for entry in partners.listing(reader):
            state = "revoked" if entry.revoked else "active"
            click.echo(f"{entry.name}\t{','.join(entry.sections)}\t{entry.content}\t{state}")


@partner.command("revoke")
@click.argument("name")
def partner_revoke(name: str) -> None:
    """Revoke partner NAME: its feeds answer 401 from now on."""
    from . import partners

    _write(lambda writer, now: partners.revoke(writer, name, now))
    click.echo(f"revoked: {name}")


@partner.command("rotate")
@click.argument("name")
def partner_rotate(name: str) -> None:
    """Give partner NAME a new feed token and print it; the old one stops working."""
    from . import partners

    click.echo(_write(lambda writer, now: partners.rotate(writer, name)))


@main.command("audit")
@click.option("--limit", default=100, show_default=True, help="How many entries, newest first.")
def audit_command(limit: int) -> None:
    """Print the log of writes through the API: when, token, method, article, status."""
    from . import tokens

    svc = _service()
    with svc.store.read() as reader:
        for at, name, method, article_id, status, detail in tokens.audit_log(reader, limit):
            click.echo(
                f"{at:%Y-%m-%dT%H:%M:%SZ}\t{name or '-'}\t{method}\t{article_id}"
                f"\t{status}\t{detail}".rstrip()
            )


@main.command()
@click.option(
    "--bind",
    default=None,
    metavar="HOST:PORT",
    help="Address to listen on (default: FEEDS_BIND, 127.0.0.1:8000).",
)
def serve(bind: str | None) -> None:
    """Serve the feeds and pages with gunicorn (threaded workers).

    Workers and threads come from FEEDS_WORKERS and FEEDS_THREADS.
    """
    from .server import Server, gunicorn_options

    app = _app()
    svc: Service = app.extensions["feeds"]
    svc.store.dispose()  # no connection may cross the fork into the workers
    Server(app, gunicorn_options(svc.settings, bind or svc.settings.bind)).run()


@main.command()
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write into (created if missing).",
)
def render(out: Path) -> None:
    """Write the three feeds and the HTML pages as static files into OUT.

    Layout: feeds/rss.xml, feeds/atom.xml, feeds/feed.json, index.html and
    articles/ID.html (serve the latter for /articles/ID, e.g. nginx
    `try_files $uri $uri.html =404`).
    """
    from .render_site import render_site

    app = _app()
    try:
        written = render_site(app, out)
    except StoreUnavailable as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"wrote {written} files to {out}")
