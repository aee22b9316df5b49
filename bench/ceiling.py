"""The ceiling: a minimal Flask app answering the two-byte body `hi`, served by gunicorn with
exactly the options `feeds serve` uses (feeds.server.gunicorn_options, FEEDS_* settings).

Usage: python -m bench.ceiling --bind 127.0.0.1:PORT (from the repository root)
"""

from __future__ import annotations

import argparse

from flask import Flask, Response

from feeds.config import load_settings
from feeds.server import Server, gunicorn_options


def create_ceiling_app() -> Flask:
    app = Flask("ceiling")

    @app.get("/")
    def hi() -> Response:
        return Response(b"hi", content_type="text/plain; charset=utf-8")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve `hi` under the feeds gunicorn options.")
    parser.add_argument("--bind", required=True, metavar="HOST:PORT")
    args = parser.parse_args()
    settings = load_settings()  # FEEDS_WORKERS, FEEDS_THREADS: the same as the feeds server's
    Server(create_ceiling_app(), gunicorn_options(settings, args.bind)).run()


if __name__ == "__main__":
    main()
