"""deploy/: gunicorn with deploy/gunicorn.conf.py, and nginx with deploy/nginx.conf in front
of it, buffering and caching, as a production host runs them."""

from __future__ import annotations

import base64
import gzip
import http.client
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.trickle import Trickle
from tests.support import (
    GZIP,
    ROOT,
    SEED,
    Answer,
    Case,
    Content,
    article_text,
    check_case,
    fetch,
    listening_socket,
    new_database,
    representation_cases,
    wait_for,
)

GUNICORN = Path(sys.executable).parent / "gunicorn"
# Linux routes all of 127.0.0.0/8 to lo: clients of addresses of their own.
NORMAL, CROWD = "127.0.0.2", "127.0.0.3"


def start_gunicorn(
    tmp_path: Path, env: dict[str, str], name: str
) -> tuple[str, subprocess.Popen[bytes], Path]:
    """gunicorn started the way deploy/feeds.service starts it, on a socket held from the
    start: (address, process, log)."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    env = {**env, "FEEDS_BIND": f"fd://{sock.fileno()}"}
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out, sock:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=[sock.fileno()],
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process, log)
    except RuntimeError:
        process.kill()
        process.wait()
        raise
    return f"127.0.0.1:{port}", process, log


def production_env(tmp_path: Path, max_age: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env.update(
        {
            "FEEDS_DATABASE": new_database(tmp_path, "prod"),
            "FEEDS_BASE_URL": "https://news.example.com",
            "FEEDS_MAX_AGE": str(max_age),
        }
    )
    return env


def feeds_command(env: dict[str, str], *args: str) -> None:
    feeds = Path(sys.executable).parent / "feeds"
    subprocess.run([str(feeds), *args], env=env, check=True, capture_output=True)


@pytest.fixture
def production(tmp_path: Path, content: Content) -> Iterator[tuple[str, dict[str, str]]]:
    """gunicorn started the way deploy/feeds.service starts it."""
    env = production_env(tmp_path, 60)
    content.write(SEED.name, SEED.read_bytes())
    feeds_command(env, "import", str(content.root))
    address, process, log = start_gunicorn(tmp_path, env, "gunicorn")
    try:
        yield address, {"log": str(log)}
    finally:
        process.terminate()
        process.wait(timeout=30)


def replace_once(text: str, old: str, new: str) -> str:
    """`text` with its one `old` replaced: a shipped line the tests expect is never missed."""
    assert text.count(old) == 1, f"expected one {old!r} in the shipped configuration"
    return text.replace(old, new)


def nginx_config(tmp_path: Path, upstream: str, port: int) -> Path:
    """deploy/nginx-main.conf including deploy/nginx.conf, as shipped except for what is the
    host's (paths, the listen address, the app servers, the user): listening on `port`, in
    front of the app servers in `upstream` (one or more addresses, separated by spaces)."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in [
        ("/var/cache/nginx/feeds", str(tmp_path / "cache")),
        ("/var/log/nginx/feeds.access.log", str(tmp_path / "site-access.log")),
        ("/var/log/nginx/feeds.error.log", str(tmp_path / "site-error.log")),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("server 127.0.0.1:8000;", "\n    ".join(f"server {a};" for a in upstream.split())),
    ]:
        site = replace_once(site, old, new)
    (tmp_path / "site.conf").write_text(site)
    temp = tmp_path / "nginx-temp"
    temp.mkdir(exist_ok=True)
    main = (ROOT / "deploy" / "nginx-main.conf").read_text()
    user = "user root;" if os.geteuid() == 0 else ""  # a user switch needs root
    temps = "".join(
        f"\n    {kind}_temp_path {temp}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    for old, new in [
        ("user www-data;", f"daemon off;\n{user}"),
        ("pid /run/nginx.pid;", f"pid {tmp_path / 'nginx.pid'};"),
        ("/var/log/nginx/error.log", str(tmp_path / "nginx-error.log")),
        ("/var/log/nginx/access.log", str(tmp_path / "nginx-access.log")),
        ("http {", "http {" + temps),
        ("include /etc/nginx/conf.d/*.conf;", ""),  # the host's other sites
        ("include /etc/nginx/sites-enabled/*;", f"include {tmp_path / 'site.conf'};"),
    ]:
        main = replace_once(main, old, new)
    path = tmp_path / "nginx.conf"
    path.write_text(main)
    return path


def start_nginx(tmp_path: Path, upstream: str) -> tuple[int, subprocess.Popen[bytes], Path]:
    """nginx with deploy/nginx.conf in front of `upstream`: (port, process, log). nginx binds
    its port itself, so a port another process takes first is retried with another."""
    nginx = find_nginx()
    log = tmp_path / "nginx.out"
    for _ in range(5):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = nginx_config(tmp_path, upstream, port)
        check = subprocess.run([nginx, "-t", "-c", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        with log.open("wb") as out:
            process = subprocess.Popen(
                [nginx, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz", process, log)
        except RuntimeError:
            process.kill()
            process.wait()
            if "Address already in use" in log.read_text():
                continue
            raise
        return port, process, log
    raise RuntimeError(f"nginx found no free port: {log.read_text()}")


@contextmanager
def gunicorn_and_nginx(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[int, str]]:
    """One gunicorn with `env` behind deploy/'s nginx, for the block: nginx's port, and
    gunicorn's address."""
    upstream, app, _ = start_gunicorn(tmp_path, env, "gunicorn")
    try:
        port, nginx, _ = start_nginx(tmp_path, upstream)
        try:
            yield port, upstream
        finally:
            nginx.terminate()
            nginx.wait(timeout=30)
    finally:
        app.terminate()
        app.wait(timeout=30)


@contextmanager
def behind_nginx(tmp_path: Path, env: dict[str, str]) -> Iterator[int]:
    """One gunicorn with `env` behind deploy/'s nginx, for the block: nginx's port."""
    with gunicorn_and_nginx(tmp_path, env) as (port, _):
        yield port


@pytest.fixture
def nginx_installed() -> None:
    """For a test that starts gunicorn before nginx: skipped (or failed on CI) before any
    server starts when nginx is missing, so none is left running."""
    find_nginx()


def find_nginx() -> str:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run installs Debian's nginx package")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return nginx


def test_nginx_site_buffers_caches_and_revalidates(
    tmp_path: Path, production: tuple[str, dict[str, str]]
) -> None:
    upstream, _ = production
    port, process, log = start_nginx(tmp_path, upstream)
    config = tmp_path / "nginx.conf"
    try:
        # An archive: nginx keeps it (subscription feeds pass uncached, for their counts).
        url = f"http://127.0.0.1:{port}/feeds/archive/2020/01/1/atom.xml"
        statuses = []
        bodies = []
        for _ in range(2):
            request = urllib.request.Request(url, headers={"Host": "news.example.com"})
            with urllib.request.urlopen(request, timeout=10) as response:
                statuses.append(response.headers["X-Cache-Status"])
                bodies.append((response.headers["ETag"], response.read()))
        assert statuses == ["MISS", "HIT"]
        secret = "s3cret-token-value"
        fetch_status = urllib.request.urlopen(f"{url}?token={secret}", timeout=10).status
        assert fetch_status == 200
        process.terminate()  # flush the log
        process.wait(timeout=30)
        assert secret not in (tmp_path / "site-access.log").read_text()
        process = subprocess.Popen(
            [find_nginx(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        wait_for(f"http://127.0.0.1:{port}/healthz", process, log)
        assert bodies[0] == bodies[1]
        etag = bodies[0][0]
        request = urllib.request.Request(url, headers={"If-None-Match": etag})
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError("expected 304 through nginx")
        except urllib.error.HTTPError as e:
            assert e.code == 304
    finally:
        process.terminate()
        process.wait(timeout=30)


def _through(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> Answer:
    """A GET of `url` for news.example.com, with `headers`."""
    headers = {"Host": "news.example.com", **(headers or {})}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.mark.usefixtures("nginx_installed")
def test_nginx_spreads_requests_over_app_servers_of_one_database(
    tmp_path: Path, content: Content
) -> None:
    """Two app servers on one database behind deploy/nginx.conf: both serve, both give the
    same bytes and ETags, and nginx revalidates its copies against whichever answers."""
    find_nginx()
    env = production_env(tmp_path, 1)
    content.write(SEED.name, SEED.read_bytes())
    for section in ("world", "uk", "sport"):
        content.write(f"{section}/{section}-1.txt", article_text(f"A {section} story"))
    feeds_command(env, "import", str(content.root))
    servers = [start_gunicorn(tmp_path, env, name) for name in ("app-1", "app-2")]
    port, process, _ = start_nginx(tmp_path, " ".join(address for address, _, _ in servers))
    try:
        base = f"http://127.0.0.1:{port}"
        paths = [
            f"/feeds{section}/{name}"
            for section in ("", "/world", "/uk", "/sport")
            for name in ("rss.xml", "atom.xml", "feed.json")
        ]
        for path in paths:
            assert _through(base + path)[0] == 200, path
        for _, _, server_log in servers:  # round robin: both took feed requests
            assert '"GET /feeds/' in server_log.read_text()
        for path in paths:
            direct = [_through(f"http://{address}{path}") for address, _, _ in servers]
            assert direct[0][1]["ETag"] == direct[1][1]["ETag"] and direct[0][2] == direct[1][2]

        url = base + "/articles/" + SEED.stem  # a page nginx keeps (feeds pass uncached)
        assert _through(url)[1]["X-Cache-Status"] == "MISS"
        time.sleep(2.1)  # max-age 1 is over (nginx counts whole seconds): it revalidates
        status, headers, before = _through(url)
        assert (status, headers["X-Cache-Status"]) == (200, "REVALIDATED")
        changed = SEED.read_text().replace("Two rockets", "Two more rockets")
        content.write(SEED.name, changed)
        feeds_command(env, "import", str(content.root))
        time.sleep(2.1)
        status, headers, after = _through(url)
        assert (status, headers["X-Cache-Status"]) == (200, "EXPIRED")
        assert b"Two more rockets" in after and after != before
        assert _through(url)[1]["X-Cache-Status"] == "HIT"
    finally:
        process.terminate()
        process.wait(timeout=30)
        for _, server, _ in servers:
            server.terminate()
            server.wait(timeout=30)


def add_partner(env: dict[str, str]) -> str:
    """The feed token of a new partner globe, buying world in full."""
    feeds = Path(sys.executable).parent / "feeds"
    return subprocess.run(
        [str(feeds), "partner", "add", "globe", "--sections", "world", "--content", "full"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


CASES = len(representation_cases('"i"', '"g"', "date"))


@dataclass(frozen=True)
class Deployed:
    """nginx with deploy/nginx.conf in front of gunicorn with deploy/gunicorn.conf.py, max-age
    2, the seed, a world article and an article in each of sections case0, case1, ... (one
    a conditional request case) imported, and partner globe (world, full text, no bound on
    its full answers) with its feed token; `app` is gunicorn's own base URL, `cache` nginx's
    cache folder, `app_log` gunicorn's log."""

    base: str
    token: str
    app: str
    cache: Path
    app_log: Path


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    find_nginx()
    tmp_path = tmp_path_factory.mktemp("deployed")
    env = production_env(tmp_path, 2) | {"FEEDS_PARTNER_MIN_INTERVAL": "0"}
    content = Content(tmp_path / "content")
    content.write(SEED.name, SEED.read_bytes())
    content.write("world/w1.txt", article_text("A world story"))
    for number in range(CASES):
        content.write(f"case{number}/c{number}.txt", article_text(f"Story {number}"))
    feeds_command(env, "import", str(content.root))
    token = add_partner(env)
    with gunicorn_and_nginx(tmp_path, env) as (port, upstream):
        yield Deployed(
            f"http://127.0.0.1:{port}",
            token,
            f"http://{upstream}",
            tmp_path / "cache",
            tmp_path / "gunicorn.log",
        )


def _full_answers(url: str) -> tuple[Answer, Answer]:
    """The identity and gzip 200s of `url`."""
    host = {"Host": "news.example.com"}
    identity, gzipped = fetch(url, host), fetch(url, host | GZIP)
    assert identity[0] == gzipped[0] == 200
    assert gzipped[1]["Content-Encoding"] == "gzip" and gzip.decompress(gzipped[2]) == identity[2]
    return identity, gzipped


def _cases(full: tuple[Answer, Answer]) -> list[Case]:
    identity, gzipped = full
    return representation_cases(
        identity[1]["ETag"], gzipped[1]["ETag"], identity[1]["Last-Modified"]
    )


def test_nginx_compares_if_none_match_with_the_selected_representation_alone(
    deployed: Deployed,
) -> None:
    """nginx answers conditional requests from its copies itself: on the request that
    fills a copy, from the copy, from one URL's copies of both codings, and once a copy was
    revalidated with the app."""

    def ask(case: Case, path: str) -> Answer:
        return fetch(
            deployed.base + path, {"Host": "news.example.com", **case.headers}, case.method
        )

    def check(case: Case, answer: Answer, full: tuple[Answer, Answer], status: str = "") -> None:
        check_case(case, answer, full[1] if case.gzip else full[0])
        assert not status or answer[1]["X-Cache-Status"] == status, case

    # Each case a document nginx has not seen: its answers come from the app itself. Pages,
    # as nginx keeps them (subscription feeds pass to the app uncached).
    paths = [f"/sections/case{number}" for number in range(CASES)]
    fulls = [_full_answers(deployed.app + path) for path in paths]
    for number, (path, full) in enumerate(zip(paths, fulls, strict=True)):
        case = _cases(full)[number]
        check(case, ask(case, path), full, "MISS")
        check(case, ask(case, path), full, "HIT")
    full = _full_answers(deployed.base + "/")
    for case in _cases(full):  # one document: its copy of each coding under one key (Vary)
        check(case, ask(case, "/"), full)
        check(case, ask(case, "/"), full)
    time.sleep(3.1)  # max-age 2 is over (nginx counts whole seconds)
    for number, (path, full) in enumerate(zip(paths, fulls, strict=True)):
        case = _cases(full)[number]
        check(case, ask(case, path), full, "REVALIDATED")


def test_nginx_keeps_one_copy_of_a_document_whatever_its_query_string(
    deployed: Deployed,
) -> None:
    """Public documents take no query string: however many a stranger makes up, or however
    the path is spelt, nginx keeps one copy of a document per coding, and answers each
    request with it."""
    path = "/sections/world"
    identity = _full_answers(deployed.app + path)[0]
    files_before = sum(1 for file in deployed.cache.rglob("*") if file.is_file())
    spellings = ["/sections/%77orld", "/sections//world", "/sections/./world"]
    urls = [f"{path}?x={number}" for number in range(200)] + spellings
    for url in urls:
        status, headers, body = fetch(deployed.base + url, {"Host": "news.example.com"})
        assert (status, headers["ETag"], body) == (200, identity[1]["ETag"], identity[2]), url
    files = sum(1 for file in deployed.cache.rglob("*") if file.is_file())
    assert files - files_before <= 2
    assert fetch(deployed.base + path + "?x=0", GZIP)[1]["X-Cache-Status"] in {"MISS", "HIT"}


def test_nginx_keeps_one_copy_per_coding_whatever_the_accept_encoding(
    deployed: Deployed,
) -> None:
    """A copy per coding, not per Accept-Encoding value: a stranger's made-up values are
    answered from the copy of the coding they select, which each of them can read."""
    path = "/feeds/archive/2020/01/1/atom.xml"
    identity, gzipped = _full_answers(deployed.app + path)
    files_before = sum(1 for file in deployed.cache.rglob("*") if file.is_file())
    takes = [f"gzip;q=0.{n}" for n in range(1, 100)] + [f"br, gzip, x{n}" for n in range(50)]
    refuses = [f"identity, x{n}" for n in range(50)] + ["gzip;q=0", "*;q=0", "gzip;q=0.000"]
    for value, expected in [(v, gzipped) for v in takes] + [(v, identity) for v in refuses]:
        status, headers, body = fetch(
            deployed.base + path, {"Host": "news.example.com", "Accept-Encoding": value}
        )
        assert (status, headers["ETag"]) == (200, expected[1]["ETag"]), value
        assert headers.get("Content-Encoding") == expected[1].get("Content-Encoding"), value
        assert "Accept-Encoding" in headers["Vary"]
    files = sum(1 for file in deployed.cache.rglob("*") if file.is_file())
    assert files - files_before <= 2


NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}


def _is_page(answer: Answer, feed: Answer) -> None:
    """`answer` is the browser's page for the feed answered by `feed`, never the feed."""
    status, headers, body = answer
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"].startswith("private,") and b'id="feed-url"' in body
    assert headers["ETag"] != feed[1]["ETag"]
    assert headers["Vary"] == feed[1]["Vary"] == "Accept-Encoding, Sec-Fetch-Mode, Sec-Fetch-Dest"


def _is_feed(answer: Answer, feed: Answer) -> None:
    assert answer[0] == 200 and (answer[1]["ETag"], answer[2]) == (feed[1]["ETag"], feed[2])


@pytest.mark.parametrize(
    "path", ["/feeds/case1/archive/2020/01/1/atom.xml", "/feeds/world/rss.xml"]
)
def test_nginx_gives_a_browser_the_page_and_a_reader_the_feed_in_either_order(
    deployed: Deployed, path: str
) -> None:
    """A navigation first and a reader next, then the other way round: each gets its own,
    from a kept archive too (nginx neither reads nor keeps a copy for a navigation)."""
    host = {"Host": "news.example.com"}
    feed = fetch(deployed.app + path, host)
    _is_page(page := fetch(deployed.base + path, host | NAVIGATE), feed)
    _is_feed(fetch(deployed.base + path, host), feed)
    _is_feed(fetch(deployed.base + path, host), feed)  # kept, for an archive
    _is_page(fetch(deployed.base + path, host | NAVIGATE), feed)
    _is_feed(fetch(deployed.base + path, host | {"Sec-Fetch-Mode": "navigate"}), feed)
    # A browser revalidating its page: nginx asks the app for a kept document without the
    # client's validators (a 200 of the page), and passes them on for a subscription feed.
    again = fetch(deployed.base + path, host | NAVIGATE | {"If-None-Match": page[1]["ETag"]})
    assert again[0] == (200 if "/archive/" in path else 304)
    assert again[1]["ETag"] == page[1]["ETag"]


def test_nginx_never_shows_a_browser_an_archive_kept_for_readers(deployed: Deployed) -> None:
    host = {"Host": "news.example.com"}
    path = "/feeds/case2/archive/2020/01/1/feed.json"
    feed = fetch(deployed.base + path, host)
    assert feed[0] == 200 and feed[1]["X-Cache-Status"] == "MISS"
    assert fetch(deployed.base + path, host)[1]["X-Cache-Status"] == "HIT"
    page = fetch(deployed.base + path, host | NAVIGATE)
    _is_page(page, feed)
    assert page[1]["X-Cache-Status"] == "BYPASS"
    _is_feed(hit := fetch(deployed.base + path, host), feed)
    assert hit[1]["X-Cache-Status"] == "HIT"


def test_nginx_passes_every_poll_of_a_subscription_feed_to_the_app(deployed: Deployed) -> None:
    """The app counts each poll of a subscription feed: nginx keeps none of them."""
    agent = "PollCounter/1.0"
    for path in ("/feeds/case3/atom.xml", "/feeds/world/feed.json", "/feeds/rss.xml"):
        headers = {"Host": "news.example.com", "User-Agent": agent}
        first = fetch(deployed.base + path, headers)
        conditional = headers | {"If-None-Match": first[1].get("ETag", '"none"')}
        polls = [first] + [fetch(deployed.base + path, conditional) for _ in range(4)]
        assert [status for status, _, _ in polls][1:] == [304] * 4, path
        assert all("X-Cache-Status" not in h for _, h, _ in polls)
        assert _logged(deployed.app_log, f" {path} ", agent, expected=5) == 5, path


def _logged(log: Path, *parts: str, expected: int) -> int:
    """Lines of `log` holding all of `parts`, once `expected` are there or after a few
    seconds: gunicorn writes a request's line once it has answered it."""
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in log.read_text().splitlines() if all(p in line for p in parts)]
        if len(lines) >= expected or time.monotonic() > deadline:
            return len(lines)
        time.sleep(0.05)


def test_nginx_passes_partners_conditional_requests_to_the_app(deployed: Deployed) -> None:
    """nginx never keeps a partner's feed (it is private), so it passes a partner's
    conditional request on as sent, and the app answers it as it answers one sent to it
    directly (a 304 it sends never counts against the partner's full answers)."""
    url = f"{deployed.base}/partners/globe/atom.xml?token={deployed.token}"
    identity, gzipped = _full_answers(url)
    for case in representation_cases(
        identity[1]["ETag"], gzipped[1]["ETag"], identity[1]["Last-Modified"]
    ):
        for _ in range(2):  # a first request and a repeated one alike
            answer = fetch(url, {"Host": "news.example.com", **case.headers}, case.method)
            check_case(case, answer, gzipped if case.gzip else identity)


def test_partners_revalidate_through_nginx_without_using_up_full_answers(
    tmp_path: Path, content: Content
) -> None:
    env = production_env(tmp_path, 60)  # with the bound on full answers: one a minute
    content.write("world/w1.txt", article_text("A world story"))
    feeds_command(env, "import", str(content.root))
    token = add_partner(env)
    with behind_nginx(tmp_path, env) as port:
        url = f"http://127.0.0.1:{port}/partners/globe/atom.xml?token={token}"
        status, headers, _ = fetch(url, GZIP)
        assert status == 200
        for _ in range(3):
            assert fetch(url, {**GZIP, "If-None-Match": headers["ETag"]})[0] == 304
            assert fetch(url, GZIP, method="HEAD")[0] == 200
        assert fetch(url, GZIP)[0] == 429


def _raw(port: int, data: bytes, host: str = "127.0.0.1") -> socket.socket:
    """A connection to `host`:`port` that has sent `data`."""
    sock = socket.create_connection((host, port), timeout=90)
    sock.sendall(data)
    return sock


def _answer_of(sock: socket.socket) -> bytes:
    """All the connection receives until the server closes (or resets) it."""
    with sock:
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


def _signal_all(process: subprocess.Popen[bytes], signal_number: int) -> None:
    """`signal_number` to a gunicorn master and its workers."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    for pid in [process.pid, *map(int, children)]:
        os.kill(pid, signal_number)


@pytest.mark.usefixtures("nginx_installed")
def test_no_log_holds_a_partner_token(tmp_path: Path, content: Content) -> None:
    """Whatever goes wrong with a partner's request (a bad or too large header, a client
    that stalls, leaves or asks too often at once, an app server that hangs or is down),
    nginx's logs never hold the token, whether it came in the query string, as a bearer
    token or by Basic auth; the failures still show in the access log, with the app server
    and its status."""
    env = production_env(tmp_path, 60) | {"FEEDS_PARTNER_MIN_INTERVAL": "0"}
    content.write("world/w1.txt", article_text("A world story"))
    feeds_command(env, "import", str(content.root))
    token = add_partner(env)
    basic = base64.b64encode(f"globe:{token}".encode()).decode()
    upstream, app, _ = start_gunicorn(tmp_path, env, "gunicorn")
    port, nginx, _ = start_nginx(tmp_path, upstream)
    path = "/partners/globe/atom.xml"
    head = f"GET {path}?token={token} HTTP/1.1\r\nHost: news.example.com\r\n".encode()
    bearer = f"Authorization: Bearer {token}\r\n".encode()
    base = f"http://127.0.0.1:{port}"
    ways = [
        (f"{base}{path}?token={token}", {}),
        (base + path, {"Authorization": f"Bearer {token}"}),
        (base + path, {"Authorization": f"Basic {basic}"}),
    ]
    stalled = _raw(port, head + bearer)  # never finishes its header
    try:
        assert b" 400 " in _answer_of(_raw(port, head + bearer + b"Bad\x01Name: x\r\n\r\n"))
        too_long = f"Authorization: Bearer {token} {'x' * 20000}\r\n\r\n".encode()
        assert b" 400 " in _answer_of(_raw(port, head + too_long))
        _raw(port, head).close()  # gone before its header is in
        slow_body = head + bearer + b"Content-Length: 9999\r\n\r\n"
        with Trickle(("127.0.0.1", port), 40, slow_body, drip=b"x", source=CROWD) as too_many:
            too_many.answer(b"HTTP/1.1 429 Too Many Requests")  # past the per-address limit
        for url, headers in ways:
            status, answer_headers, _ = _through(url, headers)
            assert (status, answer_headers["Referrer-Policy"]) == (200, "no-referrer")
        _signal_all(app, signal.SIGSTOP)  # an app server that hangs
        try:
            _raw(port, head + bearer + b"\r\n").close()  # gone while the app is asked
            with ThreadPoolExecutor(len(ways)) as pool:
                hung = list(pool.map(lambda way: _through(way[0], way[1], timeout=90)[0], ways))
            assert hung == [504] * len(ways)
        finally:
            _signal_all(app, signal.SIGCONT)
        app.terminate()
        app.wait(timeout=30)
        down = [_through(url, headers)[0] for url, headers in ways]  # and one that is down
        assert down == [502] * len(ways)
        _answer_of(stalled)
    finally:
        stalled.close()
        nginx.terminate()
        nginx.wait(timeout=30)
        app.kill()
        app.wait(timeout=30)
    logs = {
        log.name: log.read_text() for log in tmp_path.glob("*.log") if log.name != "gunicorn.log"
    }
    assert set(logs) >= {"nginx-error.log", "site-error.log", "site-access.log"}
    for name, text in logs.items():
        for secret in (token, basic):
            assert secret not in text, name
    failed = [line for line in logs["site-access.log"].splitlines() if f" {path} " in line]
    assert sum(f"{upstream} 504" in line for line in failed) == len(ways)
    assert sum(" 502 " in line for line in failed) == len(ways)


@pytest.mark.usefixtures("nginx_installed")
def test_nginx_fails_over_from_a_hung_app_server(tmp_path: Path, content: Content) -> None:
    """Of two app servers, one hangs: the requests nginx hands it are answered by the other
    well within a client's patience."""
    env = production_env(tmp_path, 60) | {"FEEDS_PARTNER_MIN_INTERVAL": "0"}
    content.write("world/w1.txt", article_text("A world story"))
    feeds_command(env, "import", str(content.root))
    token = add_partner(env)
    servers = [start_gunicorn(tmp_path, env, name) for name in ("app-1", "app-2")]
    port, nginx, _ = start_nginx(tmp_path, " ".join(address for address, _, _ in servers))
    hung = servers[0][1]
    url = f"http://127.0.0.1:{port}/partners/globe/atom.xml?token={token}"  # never cached
    try:
        _signal_all(hung, signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(4) as pool:  # handed to both in turn
                statuses = list(pool.map(lambda _: _through(url, timeout=30)[0], range(4)))
        finally:
            _signal_all(hung, signal.SIGCONT)
        assert statuses == [200] * 4
        log = (tmp_path / "site-access.log").read_text()
        assert f"{servers[0][0]}, {servers[1][0]} 504, 200" in log  # the hung one was asked
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)
        for _, server, _ in servers:
            server.terminate()
            server.wait(timeout=30)


def _get(port: int, path: str, headers: dict[str, str]) -> Answer:
    """A GET through nginx from NORMAL, for the site's host."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(NORMAL, 0))
    try:
        conn.request("GET", path, headers={"Host": "news.example.com", **headers})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.mark.usefixtures("nginx_installed")
def test_while_no_app_server_answers_a_subscription_feed_is_a_503_to_retry(
    tmp_path: Path, content: Content
) -> None:
    """Subscription feeds pass to the app uncached, so nginx has no stale copy of them: a
    reader is told to come back (503, Retry-After) rather than given a 502; an archive is
    still answered from its stale copy."""
    env = production_env(tmp_path, 1)
    content.write(SEED.name, SEED.read_bytes())
    feeds_command(env, "import", str(content.root))
    upstream, app, _ = start_gunicorn(tmp_path, env, "gunicorn")
    port, nginx, _ = start_nginx(tmp_path, upstream)
    archive = "/feeds/archive/2020/01/1/rss.xml"
    try:
        assert _get(port, "/feeds/rss.xml", {})[0] == 200
        assert _get(port, archive, {})[0] == 200
        app.terminate()
        app.wait(timeout=30)
        time.sleep(2)  # max-age 1 is over: only a stale copy could answer
        status, headers, body = _get(port, "/feeds/rss.xml", {})
        assert (status, headers["Retry-After"], headers["Cache-Control"]) == (503, "30", "no-store")
        assert b"try again" in body
        assert _get(port, archive, {})[0] == 200  # stale, while the app is down
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)
        if app.poll() is None:
            app.terminate()
            app.wait(timeout=30)


@pytest.mark.usefixtures("nginx_installed")
def test_a_forged_x_forwarded_for_neither_opens_metrics_nor_multiplies_a_client(
    tmp_path: Path, content: Content
) -> None:
    """nginx appends the address it heard from, and the app believes only that last entry:
    what a client writes there itself opens nothing and counts nothing."""
    env = production_env(tmp_path, 2) | {"FEEDS_STATS_FLUSH": "1"}
    content.write(SEED.name, SEED.read_bytes())
    feeds_command(env, "import", str(content.root))
    with behind_nginx(tmp_path, env) as port:
        for forged in ("", "127.0.0.1", "::1, 127.0.0.1"):
            headers = {"X-Forwarded-For": forged} if forged else {}
            assert _get(port, "/metrics", headers)[0] == 403, forged
        for n in range(30):
            forged_client = {"X-Forwarded-For": f"198.51.100.{n}", "User-Agent": "Newsboat/2.36"}
            assert _get(port, "/feeds/rss.xml", forged_client)[0] == 200
        deadline = time.monotonic() + 20
        while True:
            ran = subprocess.run(
                [str(Path(sys.executable).parent / "feeds"), "stats"],
                env=env,
                capture_output=True,
                text=True,
            )
            if "other clients" in ran.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "1 other clients" in ran.stdout, ran.stdout


def _enough_descriptors(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} open files (ulimit -Hn is {hard})")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _served(address: tuple[str, int], expected: dict[str, bytes], rounds: int) -> int:
    """How many of `rounds` GETs of each path in `expected`, from NORMAL, got its bytes."""

    def get(path: str) -> bool:
        connection = http.client.HTTPConnection(*address, timeout=30, source_address=(NORMAL, 0))
        try:
            connection.request("GET", path, headers={"Host": "news.example.com"})
            response = connection.getresponse()
            return response.status == 200 and response.read() == expected[path]
        except OSError:
            return False
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(get, list(expected) * rounds))


SLOW_HEAD = b"GET /feeds/world/rss.xml HTTP/1.1\r\nHost: news.example.com\r\n"


@pytest.mark.usefixtures("nginx_installed")
def test_nginx_serves_other_clients_while_one_sends_slowly(
    tmp_path: Path, content: Content
) -> None:
    """One client keeps 1,600 connections trickling their headers and 200 their request
    bodies (more than Debian's nginx has connections): every request of other clients is
    answered, public and partner feeds alike; what the slow client sent beyond its share of
    connections was refused with 429 and Retry-After."""
    _enough_descriptors(8192)
    env = production_env(tmp_path, 60) | {"FEEDS_PARTNER_MIN_INTERVAL": "0"}
    content.write("world/w1.txt", article_text("A world story"))
    feeds_command(env, "import", str(content.root))
    token = add_partner(env)
    upstream, app, _ = start_gunicorn(tmp_path, env, "gunicorn")
    port, nginx, _ = start_nginx(tmp_path, upstream)
    paths = ["/feeds/world/rss.xml", f"/partners/globe/rss.xml?token={token}"]
    expected = {path: _through(f"http://{upstream}{path}")[2] for path in paths}
    body = (
        b"PUT /api/articles/a HTTP/1.1\r\nHost: news.example.com\r\nContent-Length: 999999\r\n\r\n"
    )
    try:
        with (
            Trickle(("127.0.0.1", port), 1600, SLOW_HEAD),
            Trickle(("127.0.0.1", port), 200, body, drip=b"x") as bodies,
        ):
            assert _served(("127.0.0.1", port), expected, 30) == 60
            refused = bodies.answer(b"HTTP/1.1 429 Too Many Requests")
        assert b"\r\nRetry-After: 5\r\n" in refused
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)
        app.terminate()
        app.wait(timeout=30)


def test_gunicorn_serves_other_clients_while_one_sends_slowly(
    production: tuple[str, dict[str, str]],
) -> None:
    """gunicorn reached directly (as nginx reaches it on another machine): one client keeps
    150 connections trickling a first request's header and 50 a next one's, far more than
    there are threads; every request of other clients is answered."""
    upstream, _ = production
    host, port = upstream.split(":")
    address = (host, int(port))
    paths = ["/feeds/rss.xml", "/feeds/atom.xml"]
    expected = {path: _through(f"http://{upstream}{path}")[2] for path in paths}
    kept_alive = b"GET /healthz HTTP/1.1\r\nHost: news.example.com\r\n\r\n" + SLOW_HEAD
    with (
        Trickle(address, 150, SLOW_HEAD),
        Trickle(address, 50, kept_alive, close_on_answer=False),
    ):
        served = _served(address, expected, 15)
    assert served == 30


def test_gunicorn_takes_headers_in_pieces_and_bounds_them(
    production: tuple[str, dict[str, str]],
) -> None:
    """gunicorn gathers a header however it is split, serves requests sent back to back on
    one connection, answers a header past its size limit with 431, and closes a connection
    whose header does not come whole in time."""
    upstream, _ = production
    host, port = upstream.split(":")
    with socket.create_connection((host, int(port)), timeout=60) as split:
        for piece in (b"GET /heal", b"thz HTTP/1.1\r\nHo", b"st: x\r\n", b"\r", b"\n"):
            split.sendall(piece)
            time.sleep(0.2)
        assert split.recv(65536).startswith(b"HTTP/1.1 200 ")
    two = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2 + b"GET /healthz HTTP/1.0\r\n\r\n"
    assert _answer_of(_raw(int(port), two, host)).count(b" 200 OK\r\n") == 3
    huge = SLOW_HEAD + b"X-Pad: " + b"x" * 70000 + b"\r\n\r\n"
    assert _answer_of(_raw(int(port), huge, host)).startswith(b"HTTP/1.1 431 ")
    assert _answer_of(_raw(int(port), SLOW_HEAD, host)) == b""  # closed, unanswered
