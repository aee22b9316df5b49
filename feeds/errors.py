"""Every error the service raises on purpose, in one tree.

FeedsError
├── ConfigError            a FEEDS_* setting is missing or malformed (names the variable)
├── InvalidArticle         an article file breaks the text layout (path, line, the fix)
├── InvalidFields          an API body has missing, malformed or unknown fields (each named)
├── StoreError
│   ├── StoreUnavailable   the database does not answer
│   │   └── StoreUnwritable  it answers reads but refuses writes (read-only, out of space)
│   ├── NoSchema           the database has no schema yet: run `feeds migrate`
│   └── StoreBusy          a write found the writers' lock taken (or could not record)
├── ImportStopped          nothing was imported
│   ├── SyncRefused        `--sync` would withdraw more than half of the store
│   └── HelperFailed       a helper process reading the files stopped
├── AccountError
│   ├── TokenError         a token cannot be created or revoked as asked
│   └── PartnerError       a partner cannot be added, rotated or revoked as asked
├── NetError (feeds.push.net)  a request of the hub to another machine got no answer
│   ├── Refused            its URL, or an address its host resolves to, may not be reached
│   └── Failed             no full answer: name, connection, TLS, deadline, size
└── Refused                a request turned down; web/errors.py gives each its status
    ├── BadRequest           the body is not JSON
    ├── Unauthorized         no valid credentials (carries the challenge to send)
    ├── NotFound
    ├── Gone                 withdrawn
    ├── PreconditionFailed   If-Match names another version
    ├── TooLarge             the body is larger than FEEDS_MAX_BODY
    ├── UnsupportedMediaType
    └── TooManyRequests      full answers asked for too often (carries the wait)

The web package turns these into HTTP answers in one table (web/errors.py); the command
line turns them into messages and exit codes in one place (cli.py).
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


class InvalidFields(FeedsError):
    """The body names fields that are missing, malformed or not allowed."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['detail']}" for e in errors))
        self.errors = errors


class StoreError(FeedsError):
    """The store cannot do what was asked of it."""


class StoreUnavailable(StoreError):
    """The database could not be reached or answered with an error."""


class StoreUnwritable(StoreUnavailable):
    """The database refuses writes: its file, folder or disk is read-only, its disk is full,
    or it is a read-only server. Reads may still be answered."""


class NoSchema(StoreError):
    """The database has no schema (or not all of it)."""


class StoreBusy(StoreError):
    """A write found the writers' lock taken: a writer, after waiting the busy timeout; a
    write that must never wait (a request that only reads records a validator), at once,
    or the store could not record it at all for a moment."""


class ImportStopped(FeedsError):
    """An import stopped before storing anything."""


class SyncRefused(ImportStopped):
    """`--sync` would withdraw more than half of the store."""


class HelperFailed(ImportStopped):
    """A helper process reading the files of a large import stopped (it was killed, or ran
    out of memory)."""


class AccountError(FeedsError):
    """A token or partner cannot be changed as asked."""


class TokenError(AccountError):
    """A token cannot be created or revoked as asked."""


class PartnerError(AccountError):
    """A partner cannot be added, rotated or revoked as asked."""


class Refused(FeedsError):
    """A request the service turns down; the message says why and what to do."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(Refused):
    """The request body cannot be read."""


class Unauthorized(Refused):
    """No valid credentials; `challenge` is the WWW-Authenticate value to send."""

    def __init__(self, detail: str, challenge: str) -> None:
        super().__init__(detail)
        self.challenge = challenge


class NotFound(Refused):
    """No such thing."""


class Gone(Refused):
    """It was there and has been withdrawn."""


class PreconditionFailed(Refused):
    """If-Match names a version that is not the current one."""


class TooLarge(Refused):
    """The request body is larger than allowed."""


class UnsupportedMediaType(Refused):
    """The request body is not of a type the service reads."""


class TooManyRequests(Refused):
    """Asked again too soon; `retry_after` is the wait in seconds."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
