"""The library's logger, with a filter that keeps auth tokens out of every record.

We never log a token ourselves; the filter is a second line of defence against a token
reaching a record through an exception text or a caller's own message on our logger.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["contains_secret", "logger", "redact", "register_secret"]

logger = logging.getLogger("plivo_numlink")

_MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(secret: str) -> None:
    """Mask ``secret`` in every record logged through the ``plivo_numlink`` logger."""
    if len(secret) >= 4:  # masking a tiny string would mangle unrelated text
        with _lock:
            _secrets.add(secret)


def _redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def redact(text: str) -> str:
    """``text`` with every registered secret masked (server text, before it is kept)."""
    return _redact(text) if _secrets else text


def contains_secret(text: str) -> bool:
    """Whether ``text`` shows a registered secret."""
    return any(secret in text for secret in _secrets)


class RedactingFilter(logging.Filter):
    """Replaces registered secrets in a record's message, arguments and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:
            # A format string that does not fit its arguments: a filter must not make the
            # logging call raise, and the handler's error report would print the arguments
            # unredacted. Keep both, as plain text.
            message = f"{record.msg} {record.args!r}"
            record.msg, record.args = message, None
        redacted = _redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            if _redact(exc_text) != exc_text:
                record.exc_text = _redact(exc_text)
                record.exc_info = None
        return True


logger.addFilter(RedactingFilter())
# A library leaves output to the application: no "No handlers" fallback to stderr.
logger.addHandler(logging.NullHandler())
