"""nginx for the benchmark and the soak: the site of deploy/nginx.conf (proxy_cache,
proxy_cache_revalidate) in front of a feeds server, and for the benchmark, beside it in the same
nginx, a server answering the same feed bytes from a static file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "nginx is not installed; install it with: apt-get install nginx"
STATIC_PATH = "/feeds/rss.xml"


def find() -> str | None:
    found = shutil.which("nginx")
    if found is None and Path("/usr/sbin/nginx").exists():
        return "/usr/sbin/nginx"
    return found


def version(binary: str) -> str:
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).strip()


@dataclass(frozen=True)
class Layout:
    """nginx's files, all below one folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def site(self) -> Path:
        return self.root / "site.conf"

    @property
    def error_log(self) -> Path:
        return self.root / "error.log"

    @property
    def static_root(self) -> Path:
        return self.root / "static"

    @property
    def cache(self) -> Path:
        return self.root / "cache"


def site_config(deploy_site: str, layout: Layout, upstream: str, port: int) -> str:
    """deploy/nginx.conf with its paths, upstream and port for this machine."""
    site = deploy_site.replace("/var/cache/nginx/feeds", str(layout.cache))
    site = site.replace("/var/log/nginx/feeds.access.log", str(layout.root / "site-access.log"))
    site = site.replace("/var/log/nginx/feeds.error.log", str(layout.root / "site-error.log"))
    site, upstreams = re.subn(r"server 127\.0\.0\.1:8000;", f"server {upstream};", site)
    site, listens = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", site)
    if upstreams != 1 or listens != 1:
        raise ValueError("deploy/nginx.conf no longer has one upstream server and one listen 80")
    return site


def write_config(
    nginx_conf: Path,
    layout: Layout,
    *,
    upstream: str,
    proxy_port: int,
    static_port: int,
    gzipped_feed: bytes,
    media_type: str,
) -> None:
    """Write nginx.conf and site.conf, and the static copy of the gzipped feed."""
    if layout.root.exists():
        shutil.rmtree(layout.root)
    feed = layout.static_root / STATIC_PATH.lstrip("/")
    feed.parent.mkdir(parents=True)
    feed.write_bytes(gzipped_feed)
    site = site_config(nginx_conf.read_text(), layout, upstream, proxy_port)
    static = f"""
# The same feed bytes from a file: what a static nginx answer costs.
server {{
    listen 127.0.0.1:{static_port};
    access_log {layout.root / "static-access.log"};
    root {layout.static_root};
    location = {STATIC_PATH} {{
        types {{ }}
        default_type "{media_type}";
        add_header Content-Encoding gzip;
        add_header Vary Accept-Encoding;
        add_header Cache-Control "public, max-age=300";
    }}
}}
"""
    layout.site.write_text(site + static)
    write_main(layout)


def write_proxy(nginx_conf: Path, layout: Layout, *, upstream: str, proxy_port: int) -> None:
    """Write nginx.conf and site.conf: the site of deploy/nginx.conf alone."""
    if layout.root.exists():
        shutil.rmtree(layout.root)
    layout.root.mkdir(parents=True)
    layout.site.write_text(site_config(nginx_conf.read_text(), layout, upstream, proxy_port))
    write_main(layout)


def write_main(layout: Layout) -> None:
    """nginx.conf: nginx in the foreground with every path below `layout.root`, including
    site.conf."""
    temp = layout.root / "temp"
    temp.mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    layout.config.write_text(
        f"""{user}daemon off;
worker_processes auto;
pid {layout.root / "nginx.pid"};
error_log {layout.error_log};
events {{ worker_connections 1024; }}
http {{
    access_log {layout.root / "access.log"};
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {layout.site};
}}
"""
    )


def command(binary: str, layout: Layout) -> list[str]:
    return [binary, "-p", str(layout.root), "-e", str(layout.error_log), "-c", str(layout.config)]


def check(binary: str, layout: Layout) -> None:
    """`nginx -t` on the written configuration; raises RuntimeError with its complaint."""
    done = subprocess.run(
        [*command(binary, layout), "-t"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"nginx -t refused {layout.config}:\n{done.stderr}")
