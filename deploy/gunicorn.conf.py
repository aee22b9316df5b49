"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

The options are the ones `feeds serve` uses (feeds/server.py), so both run alike; the listen
address is FEEDS_BIND (default 127.0.0.1:8000, behind nginx).
"""

from feeds.config import load_settings
from feeds.server import gunicorn_options

_settings = load_settings()
globals().update(gunicorn_options(_settings, _settings.bind))
# Behind nginx on the same host: trust its X-Forwarded-For for the access log only. Feed
# URLs never depend on request headers (FEEDS_BASE_URL).
forwarded_allow_ips = "127.0.0.1"
