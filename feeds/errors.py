"""The one exception tree of the service.

FeedsError
├── ConfigError          a FEEDS_* setting is missing or malformed
├── InvalidArticle       an article file breaks the text layout (path, line, reason)
└── StoreUnavailable     the database does not answer
"""

from __future__ import annotations


class FeedsError(Exception):
    """Base class of every error the service raises on purpose."""


class ConfigError(FeedsError):
    """A setting is wrong; the message names the variable and what it accepts."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class InvalidArticle(FeedsError):
    """An article file cannot be taken; the message names the file, the line and the fix."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        where = f"{path}: line {line}" if line is not None else path
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.reason = reason
        self.line = line

    def __reduce__(self) -> tuple[type[InvalidArticle], tuple[str, str, int | None]]:
        # Rebuilt from its parts when it comes back from an import helper process.
        return InvalidArticle, (self.path, self.reason, self.line)


class StoreUnavailable(FeedsError):
    """The database could not be reached or answered with an error."""
