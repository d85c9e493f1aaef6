"""Input validation: phone numbers, campaign ids and callback settings.

Everything that ends up in a request path or body passes through here first, so that no
input can change which URL is requested and bad input fails before anything is sent.

Numbers are US long codes (10DLC is a US registration). We check the North American
Numbering Plan's structure (``1`` + ``NXX`` area code + ``NXX`` exchange + four digits, N =
2-9) by hand rather than with a carrier metadata library: such metadata goes stale as area
codes are assigned, and Plivo itself is the authority on whether a number exists. What we
must guarantee locally is only that the text is a well-formed number made of ASCII digits.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ._errors import InvalidNumberError

__all__ = [
    "normalize_number",
    "try_normalize_number",
    "validate_callback",
    "validate_campaign_id",
]

#: Separators people write inside numbers: ``+1 (212) 555-7777``, ``212.555.7777``.
_SEPARATORS = re.compile(r"[\s().\-]+")
_NANP = re.compile(r"1?([2-9][0-9]{2}[2-9][0-9]{2}[0-9]{4})")
_CAMPAIGN_ID = re.compile(r"[A-Za-z0-9]{1,64}")
_MAX_NUMBER_TEXT = 64


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def try_normalize_number(raw: object) -> tuple[str | None, str | None]:
    """Return ``(normalized, None)`` for a valid US long code, else ``(None, reason)``.

    The bulk engine uses this form: an invalid number becomes an outcome, not an exception.
    """
    if not isinstance(raw, str):
        return None, f"number must be a string, not {type(raw).__name__}"
    if len(raw) > _MAX_NUMBER_TEXT:
        return None, f"number {_shorten(raw)!r} is too long ({len(raw)} characters)"
    text = raw.strip()
    if not text:
        return None, "number is empty"
    international = text.startswith("+")
    if international:
        text = text[1:]
    digits = _SEPARATORS.sub("", text)
    # ``str.isdigit`` accepts other scripts' digits; only ASCII ones may reach the wire.
    if not digits.isascii() or not digits.isdigit():
        return None, f"number {_shorten(raw)!r} contains characters other than digits"
    if international and not digits.startswith("1"):
        # "+" announces a country code: "+46 8 523 4567" is a Swedish number that merely
        # looks like a US one without it, and must not be linked as one.
        return None, f"number {_shorten(raw)!r} is not a US number (it must start with +1)"
    match = _NANP.fullmatch(digits)
    if match is None:
        return None, (
            f"number {_shorten(raw)!r} is not a valid US number "
            "(expected 10 digits, or 11 starting with 1, area code and exchange not "
            "starting with 0 or 1)"
        )
    return "1" + match.group(1), None


def normalize_number(raw: object) -> str:
    """Normalize a US long code to digits with country code and no ``+``.

    ``"+1 (212) 555-7777"``, ``"212-555-7777"`` and ``"12125557777"`` all give
    ``"12125557777"``. Raises :class:`InvalidNumberError` (a ``ValueError``) otherwise.
    """
    number, reason = try_normalize_number(raw)
    if number is None:
        raise InvalidNumberError(reason or "invalid number", number=raw)
    return number


def validate_campaign_id(campaign_id: object) -> str:
    """Return ``campaign_id`` if it is a plain identifier (1-64 ASCII letters and digits)."""
    if not isinstance(campaign_id, str):
        raise ValueError(f"campaign_id must be a string, not {type(campaign_id).__name__}")
    if not _CAMPAIGN_ID.fullmatch(campaign_id):
        raise ValueError(
            f"campaign_id {_shorten(campaign_id)!r} is not a plain identifier "
            "(1 to 64 ASCII letters and digits)"
        )
    return campaign_id


def validate_callback(url: str | None, method: str | None) -> dict[str, str]:
    """Check the optional status-callback ``url`` and ``method``; return them for the body.

    Only what was given is returned, so the request carries ``url``/``method`` only when the
    caller set them. ``method`` is upper-cased.
    """
    body: dict[str, str] = {}
    if url is not None:
        if not isinstance(url, str):
            raise ValueError(f"url must be a string, not {type(url).__name__}")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises ValueError for a port that is not 0-65535)
        except ValueError:
            raise ValueError(f"url {_shorten(url)!r} is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url {_shorten(url)!r} is not an absolute http(s) URL")
        if any(ch.isspace() or ord(ch) < 32 for ch in url):
            raise ValueError(f"url {_shorten(url)!r} contains whitespace or control characters")
        body["url"] = url
    if method is not None:
        if not isinstance(method, str) or method.upper() not in ("GET", "POST"):
            raise ValueError(f"method must be 'GET' or 'POST', not {method!r}")
        body["method"] = method.upper()
    return body
