"""deploy/: gunicorn with deploy/gunicorn.conf.py, and nginx with deploy/nginx.conf in front
of it, buffering and caching, as a production host runs them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, SEED, Content, free_port, new_database, wait_for

pytestmark = pytest.mark.e2e
GUNICORN = Path(sys.executable).parent / "gunicorn"


@pytest.fixture
def production(tmp_path: Path, content: Content) -> Iterator[tuple[str, dict[str, str]]]:
    """gunicorn started the way deploy/feeds.service starts it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env.update(
        {
            "FEEDS_DATABASE": new_database(tmp_path, "prod"),
            "FEEDS_BASE_URL": "https://news.example.com",
            "FEEDS_MAX_AGE": "60",
            "FEEDS_BIND": f"127.0.0.1:{port}",
        }
    )
    content.write(SEED.name, SEED.read_bytes())
    feeds = Path(sys.executable).parent / "feeds"
    subprocess.run(
        [str(feeds), "import", str(content.root)], env=env, check=True, capture_output=True
    )
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process, log)
        yield f"127.0.0.1:{port}", {"log": str(log)}
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_gunicorn_config_serves_with_threaded_workers(
    production: tuple[str, dict[str, str]],
) -> None:
    address, info = production
    with urllib.request.urlopen(f"http://{address}/feeds/atom.xml", timeout=10) as response:
        assert response.status == 200
        assert b"https://news.example.com/feeds/atom.xml" in response.read()
    assert "Using worker: gthread" in Path(info["log"]).read_text()


def nginx_config(tmp_path: Path, upstream: str, port: int) -> Path:
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site = site.replace("/var/cache/nginx/feeds", str(tmp_path / "cache"))
    site = site.replace("/var/log/nginx/feeds.access.log", str(tmp_path / "site-access.log"))
    site = site.replace("server 127.0.0.1:8000;", f"server {upstream};")
    site = re.sub(r"listen 80;", f"listen 127.0.0.1:{port};", site)
    (tmp_path / "site.conf").write_text(site)
    temp = tmp_path / "nginx-temp"
    temp.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = f"""{user}daemon off;
worker_processes 1;
pid {tmp_path / "nginx.pid"};
error_log {tmp_path / "nginx-error.log"};
events {{ worker_connections 64; }}
http {{
    access_log {tmp_path / "nginx-access.log"};
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {tmp_path / "site.conf"};
}}
"""
    path = tmp_path / "nginx.conf"
    path.write_text(main)
    return path


def test_nginx_site_buffers_caches_and_revalidates(
    tmp_path: Path, production: tuple[str, dict[str, str]]
) -> None:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run installs Debian's nginx package")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    upstream, _ = production
    port = free_port()
    config = nginx_config(tmp_path, upstream, port)
    check = subprocess.run([nginx, "-t", "-c", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    log = tmp_path / "nginx.out"
    with log.open("wb") as out:
        process = subprocess.Popen([nginx, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/feeds/atom.xml"
        wait_for(f"http://127.0.0.1:{port}/healthz", process, log)
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
            [nginx, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
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
