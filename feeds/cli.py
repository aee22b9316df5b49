"""The `feeds` command: import articles, manage tokens and partners, serve the feeds, render
them as static files.

Only `serve` and `render` build the web app; the other commands open the store alone. Every
error the service raises on purpose becomes a message and exit status 1 in one place
(`Group.invoke`). Every value a command prints that it did not write itself (stored, or given
to it: ids, names, file names, messages) goes through `shown`, so that none can start a line,
forge a column or hide what follows.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import credentials
from .config import Settings, load_settings
from .errors import (
    ConfigError,
    FeedsError,
    ImportStopped,
    NoSchema,
    PartnerError,
    StoreError,
    TokenError,
)
from .model import AuditEntry, Partner
from .text import shown

if TYPE_CHECKING:
    from .store import Store


# How `shown` writes the characters with an escape of their own; every other one it escapes
# is written \xHH, \uHHHH or \UHHHHHHHH, as in Python.
def _line(*fields: object) -> str:
    """Fields `shown` and joined by tabs."""
    return "\t".join(shown(field) for field in fields)


class Group(click.Group):
    """The command group; turns the service's errors into messages, `shown`, in one place.
    (click's own messages about arguments quote them as Python's repr() does.)"""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FeedsError as e:
            raise click.ClickException(shown(_message(e, ctx.invoked_subcommand))) from e


class Unusable(click.ClickException):
    """A command cannot do what was asked (a name or path it cannot use): exit status 2, as
    for click's own usage errors, so that a script tells it from a finding (1)."""

    exit_code = 2


def _message(error: FeedsError, command: str | None) -> str:
    if isinstance(error, ConfigError):
        return f"bad setting {error}"
    if command == "import" and isinstance(error, ImportStopped | StoreError):
        return f"{error}; nothing was imported"
    return str(error)


@contextmanager
def _opened(migrate: bool = True, create: bool = True) -> Iterator[tuple[Settings, Store]]:
    """The settings from FEEDS_* variables and their store, its schema brought up to date
    first unless told otherwise; the store is closed afterwards. Unless `create`, a store
    that was never made is not made (raises NoSchema): a command that only reads would show
    an empty one and hide that FEEDS_DATABASE names the wrong database."""
    # Imported here: the helper processes of a large import import this module again (as the
    # program that spawned them), and need no store.
    from .store import Store

    settings = load_settings()
    missing = None if create else Store.missing_file(settings.database)
    if missing is not None:
        raise NoSchema(_no_store(f"no file {missing}", settings.database))
    store = Store(settings.database)
    try:
        if migrate and store.needs_migration():
            if not create and not store.has_schema():
                raise NoSchema(_no_store("no schema", store.describe()))
            store.migrate(datetime.now(UTC), settings.tag_authority)
        yield settings, store
    finally:
        store.close()


def _no_store(what: str, url: str) -> str:
    return (
        f"there is no store at FEEDS_DATABASE={url} ({what}; a relative path is read from "
        "the folder the command runs in): set FEEDS_DATABASE to the server's, or run "
        "`feeds migrate` to make a new store"
    )


def _migrated() -> None:
    """Bring the store's schema up to date, for a command that opens the store its own way."""
    with _opened():
        pass


class _Stopping:
    """SIGTERM and SIGINT stop an import with a message instead of a traceback: at once
    until its transaction is under way, then between two files (`between_files`, asked
    through `reason`), so that a signal never lands inside a commit: an import either is
    stored whole or stops with nothing stored."""

    def __init__(self) -> None:
        self.between_files = False
        self.received: str | None = None
        self._before: dict[int, Any] = {}

    def reason(self) -> str | None:
        return None if self.received is None else f"stopped by {self.received}"

    def _handle(self, number: int, frame: object) -> None:
        self.received = signal.Signals(number).name
        if not self.between_files:
            raise ImportStopped(f"stopped by {self.received}")

    def __enter__(self) -> _Stopping:
        if threading.current_thread() is threading.main_thread():  # where handlers run
            for number in (signal.SIGTERM, signal.SIGINT):
                self._before[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._before.items():
            signal.signal(number, handler)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="feeds")
def main() -> None:
    """Syndication service: newsroom article files in; RSS 2.0, Atom 1.0 and JSON Feed 1.1 out.

    Settings come from FEEDS_* environment variables (see the README); the database is
    FEEDS_DATABASE (default sqlite:///var/feeds.db).
    """


@main.command()
def migrate() -> None:
    """Bring the store's schema up to date (Alembic migrations); safe to run at any time."""
    with _opened(migrate=False) as (settings, store):
        store.migrate(datetime.now(UTC), settings.tag_authority)
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
    from .ingest.files import collect
    from .ingest.importer import import_sources

    with _Stopping() as stopping, _opened() as (settings, store):
        roots = list(paths) or [Path(settings.content)]
        sources, missing = collect(roots, Path(settings.content))
        show = sys.stderr.isatty() and len(sources) > 200
        with click.progressbar(
            length=len(sources), label="Reading", file=sys.stderr, hidden=not show
        ) as bar:
            stopping.between_files = True
            report = import_sources(
                store,
                settings,
                sources,
                missing,
                dry_run=dry_run,
                sync=roots if sync else (),
                force=force,
                progress=lambda: bar.update(1),
                stop=stopping.reason,
            )
    for error in report.rejected:
        click.echo(f"rejected: {shown(error)}", err=True)
    for article_id in report.withdrawn:
        click.echo(f"withdrawn: {shown(article_id)}", err=True)
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
    unknown = []
    with _opened() as (settings, store), store.write() as writer:
        now = settings.now()
        for article_id in ids:
            old = writer.withdraw(article_id, now, "delete")
            if old is None:
                unknown.append(article_id)
            elif old.withdrawn is not None:
                click.echo(f"{shown(article_id)}: already withdrawn")
            else:
                click.echo(f"withdrawn: {shown(article_id)}")
    for article_id in unknown:
        click.echo(
            f"{shown(article_id)}: no such article (ids are file names without extension)",
            err=True,
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
    type=click.Choice(list(credentials.SCOPES)),
    help="What the token may do: publish = write articles through /api/v1/; "
    "stats = read /api/v1/stats; metrics = read /metrics.",
)
def token_create(name: str, scope: str) -> None:
    """Create a token and print it, once: it cannot be shown again."""
    credentials.check_token(name, scope)
    secret = credentials.new_secret()
    with _opened() as (settings, store), store.write() as writer:
        if not writer.put_token(name, scope, credentials.digest(secret), settings.now()):
            raise TokenError(f"an active token named {name!r} exists; revoke it first")
    click.echo(secret)


@token.command("list")
def token_list() -> None:
    """List tokens: name, scope, created, revoked (never the tokens themselves)."""
    with _opened(create=False) as (_, store), store.read() as reader:
        listed = reader.tokens()
    for entry in listed:
        state = f"revoked {entry.revoked:%Y-%m-%dT%H:%M:%SZ}" if entry.revoked else "active"
        click.echo(
            _line(entry.name, entry.scope, f"created {entry.created:%Y-%m-%dT%H:%M:%SZ}", state)
        )


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke the token called NAME; requests with it are refused from now on."""
    with _opened() as (settings, store), store.write() as writer:
        if not writer.revoke_token(name, settings.now()):
            raise TokenError(f"no active token named {name!r} (see `feeds token list`)")
    click.echo(f"revoked: {shown(name)}")


@main.group()
def partner() -> None:
    """Manage syndication partners and their private feeds (/partners/NAME/...)."""


@partner.command("add")
@click.argument("name")
@click.option("--sections", required=True, help="Comma-separated sections, e.g. world,uk.")
@click.option(
    "--content",
    required=True,
    type=click.Choice(list(credentials.CONTENT)),
    help="Full text, or only summaries.",
)
@click.option("--rights", default="", help="Rights statement shown in every format.")
@click.option(
    "--profile",
    default=None,
    help="A consumer profile (see `feeds check`), e.g. msn: the feeds leave out the articles "
    "it would reject.",
)
def partner_add(name: str, sections: str, content: str, rights: str, profile: str | None) -> None:
    """Add partner NAME and print its feed token, once.

    The partner's feeds are /partners/NAME/rss.xml, atom.xml and feed.json, read with
    ?token=TOKEN, Authorization: Bearer TOKEN, or HTTP Basic with TOKEN as the password.
    """
    from .syndication.profiles import check_partner_profile

    bought = [s.strip() for s in sections.split(",") if s.strip()]
    rights = credentials.check_partner(name, bought, content, rights)
    check_partner_profile(profile, content)
    secret = credentials.new_secret()
    with _opened() as (settings, store), store.write() as writer:
        terms = Partner(
            name,
            tuple(bought),
            content,
            rights,
            settings.now(),
            None,
            credentials.digest(secret),
            profile,
        )
        if not writer.add_partner(terms):
            raise PartnerError(f"a partner named {name!r} exists (see `feeds partner list`)")
    click.echo(secret)


@partner.command("list")
def partner_list() -> None:
    """List partners: name, sections, content, profile (- for none), state (never tokens)."""
    with _opened(create=False) as (_, store), store.read() as reader:
        listed = reader.partners()
    for entry in listed:
        state = "revoked" if entry.revoked else "active"
        sections = ",".join(shown(section) for section in entry.sections)
        fields = (shown(entry.name), sections, shown(entry.content), shown(entry.profile or "-"))
        click.echo("\t".join((*fields, state)))


@partner.command("revoke")
@click.argument("name")
def partner_revoke(name: str) -> None:
    """Revoke partner NAME: its feeds answer 401 from now on."""
    with _opened() as (settings, store), store.write() as writer:
        if not writer.revoke_partner(name, settings.now()):
            raise PartnerError(f"no active partner named {name!r}")
    click.echo(f"revoked: {shown(name)}")


@partner.command("rotate")
@click.argument("name")
def partner_rotate(name: str) -> None:
    """Give partner NAME a new feed token and print it; the old one stops working."""
    secret = credentials.new_secret()
    with _opened() as (_, store), store.write() as writer:
        if not writer.set_partner_digest(name, credentials.digest(secret)):
            raise PartnerError(f"no active partner named {name!r}")
    click.echo(secret)


@main.command("check")
@click.option("--profile", "name", default=None, help="One profile (default: every one).")
@click.option(
    "--feed",
    "path",
    default=None,
    metavar="PATH",
    help="The document to check, e.g. /feeds/world/atom.xml (default: the one the profile "
    "reads, /feeds/rss.xml or /sitemaps/news.xml).",
)
def check_command(name: str | None, path: str | None) -> None:
    """Report what each consumer would reject or downgrade in the documents as served.

    One line per broken rule (article, rule, rejected or downgraded, detail, source), the
    articles withheld from partners with that profile, then one summary line per profile.
    Exits 0 when nothing would be rejected, 1 otherwise, 2 for a profile or document that
    cannot be used.
    """
    from .check_site import check, withheld
    from .syndication.profiles import PROFILES
    from .web import create_app
    from .web.service import Service

    if name is not None and name not in PROFILES:
        raise Unusable(shown(f"no profile {name!r}; choose one of {', '.join(PROFILES)}"))
    if path is not None and not path.startswith("/"):
        raise Unusable(shown(f"--feed {path!r}: give a path on the site, e.g. /feeds/rss.xml"))
    if path is not None and path.startswith("/partners/"):
        # Not fetched: the check would print the partner's token and count as its poll.
        raise Unusable(
            "--feed: a partner's feed is checked through its profile; `feeds check --profile "
            "NAME` names the articles withheld from each partner given that profile"
        )
    profiles = [PROFILES[name]] if name is not None else list(PROFILES.values())
    try:  # a store never made is not made: an empty one would pass every check
        with _opened(create=False):
            pass
    except NoSchema as e:
        raise Unusable(shown(str(e))) from e
    app = create_app()
    try:
        reports = check(app, profiles, path)
        left_out = {p.name: withheld(app, p) for p in profiles if p.feeds}
    except FeedsError as e:
        raise Unusable(shown(str(e))) from e
    finally:
        Service.of(app).store.close()
    for report in reports:
        for f in report.findings:
            click.echo(_line(f.subject, f.rule.id, f.rule.outcome, f.detail, f.rule.source))
        for held in left_out.get(report.profile.name, []):
            rules = ",".join(f.rule.id for f in held.findings)
            click.echo(_line(held.subject, rules, f"withheld from partner {held.partner}"))
    for report in reports:
        click.echo(shown(report.summary()))
    if any(report.refused for report in reports):
        sys.exit(1)


@main.command("audit")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="How many entries, newest first.",
)
def audit_command(limit: int) -> None:
    """Print the log of writes through the API, newest first: when, token, method, article,
    status, what was done. Refused requests are counted: "refused ×N" for N alike (status,
    method, token) within a minute, with the article and detail of the first."""
    with _opened(create=False) as (_, store), store.read() as reader:
        entries = reader.audit_log(limit)
    if not entries:
        click.echo(f"the audit log of {shown(store.describe())} is empty", err=True)
    for entry in entries:
        click.echo(_audit_line(entry))


def _audit_line(entry: AuditEntry) -> str:
    detail = entry.detail
    if entry.refused:
        until = f" until {entry.last:%Y-%m-%dT%H:%M:%SZ}" if entry.count > 1 and entry.last else ""
        detail = f"refused \u00d7{entry.count}{until}" + (f": {detail}" if detail else "")
    token = entry.token or "-"
    at = f"{entry.at:%Y-%m-%dT%H:%M:%SZ}"
    return _line(at, token, entry.method, entry.article_id, entry.status, detail)


@main.command()
@click.option(
    "--bind",
    default=None,
    metavar="HOST:PORT",
    help="Address to listen on (default: FEEDS_BIND, 127.0.0.1:8000).",
)
@click.option(
    "--no-hub",
    is_flag=True,
    help="Run no hub worker beside the server (run `feeds hub run` elsewhere).",
)
def serve(bind: str | None, no_hub: bool) -> None:
    """Serve the feeds and pages with gunicorn (threaded workers), and the built-in WebSub
    hub's worker beside them (unless --no-hub).

    Workers and threads come from FEEDS_WORKERS and FEEDS_THREADS.
    """
    import os
    import subprocess

    from .server import Server, gunicorn_options, metrics_directory

    _migrated()  # before any worker starts
    # Before anything imports prometheus_client (the app does); the hub worker inherits it.
    _, remove_metrics = metrics_directory(load_settings())
    # gunicorn's workers are forked inside Server.run and leave by SystemExit through the
    # blocks below: only this process may stop the hub worker and remove the directory.
    me = os.getpid()
    try:
        from .web import create_app
        from .web.service import Service

        app = create_app()
        svc = Service.of(app)
        svc.store.dispose()  # no connection may cross the fork into the workers
        address = bind or svc.settings.bind
        command = [sys.executable, "-m", "feeds.cli", "hub", "run", "--parent", str(os.getpid())]
        hub = None if no_hub else subprocess.Popen(command, stdin=subprocess.DEVNULL)
        try:
            Server(app, gunicorn_options(svc.settings, address)).run()
        except OSError as e:  # gunicorn reports addresses it cannot bind; an fd it cannot use
            raise FeedsError(f"cannot serve on {address}: {e.strerror or e}") from e
        finally:
            if hub is not None and os.getpid() == me:
                hub.terminate()
                try:
                    hub.wait(svc.settings.hub_timeout + 5)
                except subprocess.TimeoutExpired:
                    hub.kill()
    finally:
        if os.getpid() == me:
            remove_metrics()


@main.group()
def hub() -> None:
    """The built-in WebSub hub: its worker, its subscriptions."""


@hub.command("run")
@click.option("--parent", type=int, default=None, hidden=True)
def hub_run(parent: int | None) -> None:
    """Verify subscription requests, deliver changes to subscribers and ping external hubs,
    until stopped (SIGTERM, Ctrl-C).

    On PostgreSQL any number may run, on any machines; on SQLite one (`feeds serve` runs
    one unless given --no-hub).
    """
    from .server import join_metrics_directory

    settings = load_settings()
    if not join_metrics_directory(settings) and settings.metrics_dir:
        click.echo(
            f"hub worker: FEEDS_METRICS_DIR {shown(settings.metrics_dir)} cannot be written; "
            "its figures stay out of the server's /metrics",
            err=True,
        )
    from .push.runner import run  # after the directory is named: they import the metrics
    from .web import create_app

    _store_answers(parent)
    counts = run(create_app(), parent)
    click.echo(
        f"hub worker stopped: {counts.delivered} delivered, {counts.failed} failed, "
        f"{counts.verified} verified, {counts.pings} pings",
        err=True,
    )


def _store_answers(parent: int | None) -> None:
    """Migrate the store once it answers: a worker beside `feeds serve` (`parent`) outlives
    an outage of the database as the server does, trying again every RETRY_S; one run by
    hand says what is wrong and stops."""
    import os
    import time

    from .errors import StoreBusy, StoreUnavailable

    while True:
        try:
            _migrated()
            return
        except (StoreUnavailable, StoreBusy) as e:
            if parent is None or os.getppid() != parent:
                raise
            click.echo(f"hub worker: {shown(str(e))}; trying again in {RETRY_S} s", err=True)
            time.sleep(RETRY_S)


RETRY_S = 2


@hub.command("list")
def hub_list() -> None:
    """Print each subscription: topic, callback, partner, lease end, and the delivery that
    waits for it (attempts, last error), a tab between fields; then the queues' lengths."""
    with _opened(create=False) as (_, store), store.read() as reader:
        subscriptions = reader.subscriptions()
        waiting = reader.waiting_deliveries()
        backlog = reader.backlog()
    for sub in subscriptions:
        attempts, error = waiting.get(sub.id, (None, None))
        pending = "-" if attempts is None else f"waiting ({attempts} failed)"
        click.echo(
            _line(
                sub.topic,
                sub.callback,
                sub.partner or "-",
                f"{sub.expires:%Y-%m-%dT%H:%M:%SZ}",
                pending,
                error or "",
            )
        )
    queues = ", ".join(f"{n} {name}" for name, n in backlog.items())
    topics = len({sub.topic for sub in subscriptions})
    click.echo(
        f"{len(subscriptions)} subscriptions to {topics} topics; waiting: {queues}", err=True
    )


def _feed_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from .audience.figures import is_feed_path

    if value is not None and not is_feed_path(value):
        raise click.BadParameter("give a feed's path, such as /feeds/rss.xml")
    return value


@main.command("stats")
@click.option("--feed", callback=_feed_path, help="Only this feed's path (/feeds/rss.xml).")
@click.option(
    "--days",
    default=7,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="Over the last N days, today included (at most FEEDS_STATS_DAYS are kept).",
)
def stats(feed: str | None, days: int) -> None:
    """Print each feed's subscribers and what they are made of (reported by aggregators,
    other clients per day, WebSub, partners), its polls, 304 ratio and bytes served; then,
    a line each, its readers. A tab between fields."""
    from .audience.figures import figures, window_start

    now = datetime.now(UTC)
    with _opened(create=False) as (settings, store), store.read() as reader:
        found = figures(reader, now, days, settings.base_url, feed)
    since = window_start(now, days)
    if not found and feed is not None:
        raise click.ClickException(
            f"no figures for the feed {shown(feed)} since {since}: it was not polled "
            "(a feed's path, such as /feeds/rss.xml; see `feeds stats` for every feed)"
        )
    if not found:
        click.echo(
            f"no subscription feed of {shown(store.describe())} was polled since {since}", err=True
        )
        return
    for fig in found:
        parts = (
            f"{fig.reported} reported, {fig.others} other clients, "
            f"{fig.websub} WebSub, {fig.partners} partners"
        )
        ratio = f"{fig.not_modified_ratio:.0%} 304"
        click.echo(
            _line(
                fig.feed,
                f"{fig.subscribers} subscribers",
                parts,
                f"{fig.polls} polls",
                ratio,
                f"{fig.bytes} bytes",
            )
        )
        for r in fig.readers:
            click.echo(_line("", r.reader, r.subscribers, "reported" if r.reported else "counted"))
    feeds = "1 feed" if len(found) == 1 else f"{len(found)} feeds"
    click.echo(f"{feeds} polled since {since} (UTC)", err=True)


@main.command()
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write into (created if missing).",
)
def render(out: Path) -> None:
    """Write every feed and page as static files into OUT.

    Layout: feeds/ (the site's and each section's feeds in the three formats, with all
    their archives), feeds.opml, index.html, sections/NAME.html and articles/ID.html (serve
    the last two for /sections/NAME and /articles/ID, e.g. nginx
    `try_files $uri $uri.html =404`).
    """
    from .render_site import render_site
    from .web import create_app
    from .web.service import Service

    _migrated()
    app = create_app()
    try:
        written = render_site(app, out)
    finally:
        Service.of(app).store.close()
    click.echo(f"wrote {written} files to {shown(out)}")


if __name__ == "__main__":  # `python -m feeds.cli`: how `feeds serve` starts the hub worker
    main()
