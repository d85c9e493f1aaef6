"""The exceptions this library raises.

::

    PlivoError
    ├── APIStatusError           the server answered with a non-2xx status
    │   ├── BadRequestError      400 (and other 4xx without a class of their own)
    │   │   └── AlreadyInStateError  link/unlink: the number is already in the desired state
    │   ├── AuthenticationError  401
    │   ├── ForbiddenError       403
    │   ├── NotFoundError        404
    │   │   └── CampaignNotFoundError  404 saying the campaign itself is unknown
    │   ├── RateLimitError       429
    │   └── ServerError          5xx
    ├── TransportError           connection failures and timeouts, after retries
    │   ├── CertificateVerificationError  the server's TLS certificate failed verification
    │   │                                 (not retried)
    │   └── ProxyAuthenticationError  the proxy refused the proxy credentials: 407 (not retried)
    ├── ResponseFormatError      a 2xx answer whose body is not what the API documents
    ├── SessionClosedError       the session was used after close() (also a RuntimeError)
    ├── JournalError             a bulk job's journal could not be read or written
    └── ConfigurationError       a session configured wrongly (also a ValueError)
    InvalidNumberError(ValueError)  a number that is not a valid US long code

The split that matters: ``APIStatusError`` means the server answered; ``TransportError``
means we never got a usable answer (it may still have acted on the request).
"""

from __future__ import annotations

from typing import Any

from ._log import redact

#: The most of an answer's body an exception keeps (``text``): enough to report a problem,
#: without holding a huge answer alive with the exception.
MAX_KEPT_BODY = 64 * 1024

__all__ = [
    "APIStatusError",
    "AlreadyInStateError",
    "AuthenticationError",
    "BadRequestError",
    "CampaignNotFoundError",
    "CertificateVerificationError",
    "ConfigurationError",
    "ForbiddenError",
    "InvalidNumberError",
    "JournalError",
    "NotFoundError",
    "PlivoError",
    "ProxyAuthenticationError",
    "RateLimitError",
    "ResponseFormatError",
    "ServerError",
    "SessionClosedError",
    "TransportError",
    "status_error",
]


class PlivoError(Exception):
    """Base class of every error raised by plivo_numlink (except ``ValueError`` for input)."""


class APIStatusError(PlivoError):
    """The API answered with an error status.

    ``message`` is Plivo's ``error`` text when the body has one; ``body`` is the parsed JSON
    body (or ``None``), ``text`` the raw body text.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        api_id: str | None = None,
        body: Any = None,
        text: str = "",
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
    ) -> None:
        # Server text is redacted before it is kept: a server may echo our credentials.
        message = redact(message)
        self.message = message
        self.status_code = status_code
        self.api_id = api_id
        self.body = body
        self.text = redact(text[:MAX_KEPT_BODY])
        self.method = method
        self.path = path
        self.retry_after = retry_after
        where = f" ({method} {path})" if method else ""
        ident = f" [api_id={api_id}]" if api_id else ""
        super().__init__(f"HTTP {status_code}{where}: {message}{ident}")


class BadRequestError(APIStatusError):
    """400, and any other 4xx status without a class of its own (405, 409, 422, ...)."""


class AlreadyInStateError(BadRequestError):
    """``link()`` or ``unlink()`` refused because the desired state already holds: "The number
    X is already requested for linking" (or already linked), "The number X is not linked to
    this campaign". A :class:`BadRequestError`, so ``except BadRequestError`` still catches
    it; ``action`` is ``"link"`` or ``"unlink"``. The bulk calls report these numbers as
    ``already`` (ok) instead of raising."""

    action: str = ""

    @classmethod
    def from_error(cls, exc: APIStatusError, action: str) -> AlreadyInStateError:
        """The same answer (status, api_id, body, text, request) as this class."""
        error = cls(
            exc.message,
            status_code=exc.status_code,
            api_id=exc.api_id,
            body=exc.body,
            text=exc.text,
            method=exc.method,
            path=exc.path,
            retry_after=exc.retry_after,
        )
        error.action = action
        return error


class AuthenticationError(APIStatusError):
    """401: the auth id or token is wrong."""


class ForbiddenError(APIStatusError):
    """403: the credentials are valid but may not do this."""


class NotFoundError(APIStatusError):
    """404: unknown campaign, or a number not linked to it."""


class CampaignNotFoundError(NotFoundError):
    """404 about the campaign itself (unknown campaign), not about one number in it."""


class RateLimitError(APIStatusError):
    """429: too many requests (Plivo's default limit is 300 per 5 s per account)."""


class ServerError(APIStatusError):
    """5xx: a fault at Plivo's side."""


class TransportError(PlivoError):
    """No usable answer: connection refused or dropped, or the attempt timed out.

    Raised after retries; the last underlying exception is chained as ``__cause__``.
    """

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        self.method = method
        self.path = path
        super().__init__(redact(message))


class CertificateVerificationError(TransportError):
    """The server's TLS certificate could not be verified: untrusted CA, expired, or issued
    for another host name. Raised after one attempt (trying again cannot help); a bulk job
    stops at it. ``host`` is the server's, ``reason`` OpenSSL's words (or None).
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        host: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.host = host
        self.reason = reason
        super().__init__(message, method=method, path=path)


class ProxyAuthenticationError(TransportError):
    """The HTTP proxy refused the session's proxy credentials (``407 Proxy Authentication
    Required``), on the ``CONNECT`` to an https origin or on a request to an http one.
    Raised after one attempt (wrong credentials sent again can lock a proxy account); a
    bulk job stops at it. ``proxy`` is the proxy's URL without credentials (or None).
    """

    def __init__(
        self, message: str, *, method: str = "", path: str = "", proxy: str | None = None
    ) -> None:
        self.proxy = proxy
        super().__init__(message, method=method, path=path)


class ResponseFormatError(PlivoError):
    """A success status with a body that is not what the API documents.

    Keeps the status and the raw text so the problem can be reported upstream.
    """

    def __init__(self, message: str, *, status_code: int, text: str) -> None:
        self.status_code = status_code
        message, text = redact(message), redact(text)
        self.text = text[:MAX_KEPT_BODY]
        preview = text if len(text) <= 200 else text[:200] + "..."
        super().__init__(f"{message} (HTTP {status_code}, body {preview!r})")


class SessionClosedError(PlivoError, RuntimeError):
    """The session was used after ``close()``."""


class JournalError(PlivoError):
    """A bulk job's journal could not be read or written (disk full, file removed, closed).

    Outcomes whose write failed are kept in memory and written by the next successful
    ``flush()``; until then every ``record()`` raises this error. A bulk job whose journal
    fails stops, and its report says why.
    """


class ConfigurationError(PlivoError, ValueError):
    """A session was configured wrongly (missing credentials, bad base_url, ...)."""


class InvalidNumberError(ValueError):
    """A phone number that is not a valid US long code; nothing was sent."""

    def __init__(self, message: str, *, number: object = None) -> None:
        self.number = number
        super().__init__(message)


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    429: RateLimitError,
}


def status_error(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status."""
    if status_code in _STATUS_CLASSES:
        return _STATUS_CLASSES[status_code]
    if status_code >= 500:
        return ServerError
    if 400 <= status_code < 500:
        return BadRequestError
    return APIStatusError
