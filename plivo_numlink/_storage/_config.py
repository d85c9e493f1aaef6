"""Storage URIs: which shared store (if any) a session's rate budget and nonces live in.

The names follow the ``limits`` library's convention, which users already know:
``memory://`` (or nothing) is in-process; ``redis://[[user]:password@]host[:port][/db]`` is
a Redis server and ``rediss://`` the same over TLS. Anything else is a configuration error,
raised at construction rather than at the first request.

A password in a URI is a secret: it is registered with the logger's redaction filter, and
the URI is only ever shown with it masked (``redis://:***@host:6379/0``).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import attrs

from .._errors import ConfigurationError, PlivoError
from .._log import register_secret

__all__ = [
    "DEFAULT_REDIS_PORT",
    "STORAGE_ENV",
    "ConfigurationError",
    "RedisConfig",
    "StorageError",
    "parse_storage_uri",
    "redact_uri",
]

#: The environment variable a session reads when it is given no ``rate_limit_storage``.
STORAGE_ENV = "PLIVO_NUMLINK_RATE_LIMIT_STORAGE"
DEFAULT_REDIS_PORT = 6379
_MASK = "***"
_REDIS_SCHEMES = {"redis": False, "rediss": True}


class StorageError(PlivoError):
    """The shared storage (Redis) could not be reached, or failed, within the timeout.

    Raised by a shared rate limiter's ``acquire()`` and by a shared nonce store. Shared
    pacing fails closed: a request that cannot draw from the account's budget is not sent
    (a bulk job stops, every number accounted for). The cause is chained as ``__cause__``.
    """


@attrs.frozen(repr=False)
class RedisConfig:
    """Where a Redis storage is: parsed from a ``redis://`` or ``rediss://`` URI."""

    host: str
    port: int = DEFAULT_REDIS_PORT
    db: int = 0
    username: str | None = None
    password: str | None = attrs.field(default=None, eq=False)
    tls: bool = False

    @property
    def url(self) -> str:
        """The URI with the password masked: safe to show, log or put in an error."""
        scheme = "rediss" if self.tls else "redis"
        auth = ""
        if self.password is not None:
            auth = f"{self.username or ''}:{_MASK}@"
        elif self.username:
            auth = f"{self.username}@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{auth}{host}:{self.port}/{self.db}"

    def __repr__(self) -> str:
        return f"RedisConfig({self.url!r})"

    def __str__(self) -> str:
        return self.url

    def redact(self, text: str) -> str:
        """``text`` with this storage's password masked (for error messages from the client)."""
        if self.password:
            text = text.replace(self.password, _MASK)
        return text


def redact_uri(uri: str) -> str:
    """``uri`` with its user information masked, even when it does not parse.

    ``redis://user:pw@host`` becomes ``redis://user:***@host``; a lone ``redis://pw@host``
    becomes ``redis://***@host``, since users write a bare password there by mistake.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return _MASK if "@" in uri else uri
    # The last "@" anywhere, not just in the authority: a password with an unescaped "/" or
    # "#" would otherwise end the authority early and show. Over-masking is the safe side.
    userinfo, at, after = rest.rpartition("@")
    if not at:
        return uri
    user, colon, _ = userinfo.partition(":")
    if "/" in user or "?" in user or "#" in user:
        user, colon = "", ":"
    masked = f"{user}:{_MASK}" if colon else _MASK
    return f"{scheme}://{masked}@{after}"


def _bad(uri: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"rate-limit storage {redact_uri(uri)!r}: {why}")


def parse_storage_uri(uri: str | None) -> RedisConfig | None:
    """Parse a storage URI; ``None`` means in-process (no storage, ``""`` or ``memory://``).

    Raises :class:`ConfigurationError` (a ``ValueError``) for an unknown scheme or a malformed
    Redis URI; the message shows the URI with its password masked.
    """
    if uri is None:
        return None
    if not isinstance(uri, str):
        raise ConfigurationError(
            f"rate-limit storage must be a URI string, not {type(uri).__name__}"
        )
    uri = uri.strip()
    if not uri:
        return None
    scheme = uri.partition("://")[0].lower() if "://" in uri else ""
    if scheme == "memory":
        if uri.lower().rstrip("/") != "memory:":
            raise _bad(uri, "memory:// takes no host, path or options")
        return None
    if scheme not in _REDIS_SCHEMES:
        raise _bad(
            uri,
            "unknown scheme: use memory:// (in-process), redis://host:port/db or rediss:// (TLS)",
        )
    parts = urlsplit(uri)
    # Register first, so that nothing below can leak it into a log record.
    raw_password = parts.password
    password = unquote(raw_password) if raw_password is not None else None
    for secret in {raw_password, password}:
        if secret:
            register_secret(secret)
    if parts.query or parts.fragment:
        raise _bad(uri, "query options and fragments are not supported")
    host = parts.hostname
    if not host:
        raise _bad(uri, "no host")
    try:
        port = parts.port
    except ValueError:
        raise _bad(uri, "the port is not a number from 0 to 65535") from None
    path = parts.path.strip("/")
    if not path:
        db = 0
    elif path.isascii() and path.isdigit():
        db = int(path)
    else:
        raise _bad(uri, "the path must be a database number, as in redis://host:6379/0")
    username = unquote(parts.username) if parts.username else None
    return RedisConfig(
        host=host,
        port=port if port else DEFAULT_REDIS_PORT,
        db=db,
        username=username,
        password=password,
        tls=_REDIS_SCHEMES[scheme],
    )
