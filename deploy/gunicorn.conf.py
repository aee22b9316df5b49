"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

The options are the ones `feeds serve` uses (feeds/server.py), so both run alike; the listen
address is FEEDS_BIND (default 127.0.0.1:8000, behind nginx).
"""

import sys
from typing import Any

from feeds.config import load_settings
from feeds.errors import ConfigError
from feeds.server import gunicorn_options, metrics_directory

_settings = load_settings()
globals().update(gunicorn_options(_settings, _settings.bind))
# Where the workers keep their metrics (FEEDS_METRICS_DIR, else a temporary directory): set
# here, in the master, before a worker imports the app and so prometheus_client.
try:
    _metrics_dir, _remove_metrics = metrics_directory(_settings)
except ConfigError as e:
    sys.exit(f"feeds: bad setting {e}")


def on_exit(server: Any) -> None:
    _remove_metrics()


# Behind nginx on the same host: trust its X-Forwarded-For for the access log only. Feed
# URLs never depend on request headers (FEEDS_BASE_URL).
forwarded_allow_ips = "127.0.0.1"
