"""With --nginx: the site feed through deploy/nginx.conf's caching proxy in front of the
1,000-article store, against the same nginx serving the same bytes from a file."""

from __future__ import annotations

import os

from .. import nginx, servers
from ..plan import DATA, LOGS, ROOT
from ..results import Row, rate
from .answers import FEED, GZIP, expect
from .run import Bench, BenchError


def nginx_pair(bench: Bench, upstream_port: int) -> None:
    assert bench.nginx_bin is not None
    feed = expect(servers.get(upstream_port, FEED, GZIP), 200, FEED, gzipped=True)
    layout = nginx.Layout(DATA / "nginx")
    proxy_port, static_port = servers.free_port(), servers.free_port()
    nginx.write_config(
        ROOT / "deploy" / "nginx.conf",
        layout,
        upstream=f"127.0.0.1:{upstream_port}",
        proxy_port=proxy_port,
        static_port=static_port,
        gzipped_feed=feed.body,
        media_type=feed.header("Content-Type") or "application/rss+xml; charset=utf-8",
    )
    nginx.check(bench.nginx_bin, layout)
    server = bench.procs.start(
        "nginx",
        nginx.command(bench.nginx_bin, layout),
        env=dict(os.environ),
        port=proxy_port,
        log=LOGS / "nginx.log",
        ready_path="/healthz",
    )
    try:
        statuses = []
        for _ in range(3):
            answer = expect(servers.get(proxy_port, FEED, GZIP), 200, "nginx proxy", gzipped=True)
            statuses.append(answer.header("X-Cache-Status"))
        if statuses[-1] != "HIT":
            bench.notes.append(f"nginx proxy: X-Cache-Status {statuses}, not a cache HIT")
        static = expect(servers.get(static_port, FEED, GZIP), 200, "nginx static", gzipped=True)
        if static.body != feed.body:
            raise BenchError("nginx's static copy differs from the feed")
        proxied = bench.drive("nginx-proxy-gzip", server, FEED, GZIP)
        direct = bench.drive("nginx-static-gzip", server, FEED, GZIP, port=static_port)
    finally:
        bench.procs.stop(server)
    bench.measured["nginx"] = {
        "version": nginx.version(bench.nginx_bin),
        "cache_status": statuses,
        "config": str(layout.config),
    }
    bench.wrk_row("site feed through nginx proxy_cache", proxied, direct, "nginx static")
    bench.rows.append(
        Row.of_run(
            "same bytes, nginx static file",
            f"{rate(direct.rps)} req/s",
            direct,
            reference="reference of nginx proxy",
        )
    )
