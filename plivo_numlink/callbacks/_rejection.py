"""Why a status callback is refused: :class:`CallbackRejected`, and text fit for a log line.

Every refusal, by :func:`~plivo_numlink.callbacks.verify` or by a receiver, is one
:class:`CallbackRejected`: the HTTP status to answer, a short ``reason`` (the answer's body)
and a longer ``detail`` for the log. Both hold request text only escaped and cut short, and
never a token or a signature.
"""

from __future__ import annotations

__all__ = ["MAX_LOGGED", "CallbackRejected", "printable"]

#: Longest text of the request's own put in a log line or a rejection; the rest is cut.
MAX_LOGGED = 300


def printable(text: object, limit: int = MAX_LOGGED) -> str:
    """``text`` fit for a log line: control characters escaped (as ``repr`` writes them),
    and cut to ``limit`` characters, so request data cannot forge or flood log lines."""
    text = str(text)
    if len(text) > limit:
        text = f"{text[:limit]}...({len(text) - limit} more)"
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class CallbackRejected(Exception):
    """A status callback refused: answer it with :attr:`status` and :attr:`reason`.

    ``status`` is the HTTP status to answer:

    - 400: the request cannot be read (a body that does not parse, a URL or Host that
      names no host);
    - 403: the signature is missing, does not match, or was seen before (a replay);
    - 408: the body was not received within ``body_timeout`` (receivers only);
    - 413: the body is larger than ``max_body_size``;
    - 503: the shared replay store failed or did not answer (Plivo retries later).

    ``reason`` is the short text the receivers answer with (``"invalid signature"``,
    ``"replayed"``, ``"body too large"``...). ``detail`` (also ``str(exc)``) says more, for
    a log line: for a signature that did not match, the method and URL it was checked
    against and the names of the signature headers seen. Both are safe to log: request text
    in them is escaped and cut short, and no token or signature value is ever in them.
    """

    def __init__(self, status: int, reason: str, detail: str | None = None) -> None:
        self.status = status
        self.reason = printable(reason)
        self.detail = printable(detail, 4 * MAX_LOGGED) if detail is not None else None
        super().__init__(self.detail or f"{status} {self.reason}")

    def __repr__(self) -> str:
        return f"CallbackRejected({self.status}, {self.reason!r})"
