"""feeds: newsroom articles in, RSS 2.0, Atom 1.0 and JSON Feed 1.1 out."""

from __future__ import annotations

__version__ = "0.1.0"

from .app import create_app  # noqa: E402

__all__ = ["create_app", "__version__"]
