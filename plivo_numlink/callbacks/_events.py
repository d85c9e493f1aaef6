"""Status callback events: what a callback reports, parsed from its parameters.

:func:`parse_event` is pure and never raises: field names are not documented, so it reads
several spellings and keeps every parameter in ``CallbackEvent.raw``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import TypeAlias, cast

import attrs

from .._numbers import try_normalize_number
from ._signatures import Params

__all__ = ["CallbackEvent", "CallbackKind", "CallbackStatus", "ParamDict", "parse_event"]

#: A callback's parameters as :func:`request_params` returns them (lists for repeated keys).
ParamDict: TypeAlias = dict[str, str | list[str]]


class CallbackKind(str, enum.Enum):
    """What a callback reports on."""

    LINKING = "linking"
    UNLINKING = "unlinking"
    #: An event name this library does not know (the raw text is in ``raw_kind``).
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: str | None) -> CallbackKind:
        """The member for ``number_linking``/``linking`` and the like (any case), or UNKNOWN."""
        key = "".join(ch for ch in (value or "").lower() if ch.isalnum())
        if key in ("numberlinking", "linking"):
            return cls.LINKING
        if key in ("numberunlinking", "unlinking"):
            return cls.UNLINKING
        return cls.UNKNOWN

    def __str__(self) -> str:
        return self.value


class CallbackStatus(str, enum.Enum):
    """Where a link or unlink request stands, as a callback reports it."""

    CREATED = "created"
    SUCCESS = "success"
    #: Plivo's advice for this one is to retry the request.
    FAILED = "failed"
    #: A value this library does not know (the raw text is in ``raw_status``).
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: str | None) -> CallbackStatus:
        """The member for ``value`` (any case), or UNKNOWN."""
        text = (value or "").strip().lower()
        if text == cls.UNKNOWN.value:
            return cls.UNKNOWN
        try:
            return cls(text)
        except ValueError:
            return cls.UNKNOWN

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class CallbackEvent:
    """One status callback, parsed. Every field Plivo sent stays available in ``raw``."""

    kind: CallbackKind
    #: Normalized (``12125557777``) when it is a valid US number, else the text as sent.
    number: str | None
    campaign_id: str | None
    status: CallbackStatus
    #: Why a request failed, when the callback says.
    reason: str | None = None
    #: The status text as sent (useful when ``status`` is UNKNOWN).
    raw_status: str | None = None
    #: The event name as sent (useful when ``kind`` is UNKNOWN).
    raw_kind: str | None = None
    #: Every parameter of the callback, including ones this library does not know.
    raw: ParamDict = attrs.field(factory=dict, hash=False)
    #: The signature nonces :func:`~plivo_numlink.callbacks.verify` accepted it with (what
    #: ``ReplayGuard.forget(event)`` drops again); empty for an event not from ``verify``.
    #: Not part of equality: the same callback verified twice is the same event.
    nonces: tuple[str, ...] = attrs.field(default=(), eq=False, repr=False)

    @property
    def failed(self) -> bool:
        """True when the request failed (Plivo's advice: send it again)."""
        return self.status is CallbackStatus.FAILED


# Field names are not documented; each tuple lists spellings, most likely first. Keys are
# compared with case and punctuation dropped, so ``EventType`` and ``event_type`` are one.
_KIND_KEYS = ("event", "eventtype", "eventname", "type")
_NUMBER_KEYS = ("number", "phonenumber")
_CAMPAIGN_KEYS = ("campaignid",)
_STATUS_KEYS = ("status",)
_REASON_KEYS = (
    "reason",
    "failurereason",
    "error",
    "errormessage",
    "errorreason",
    "remark",
)


def _squash(key: str) -> str:
    return "".join(ch for ch in key.lower() if ch.isalnum())


def _first(value: object) -> str | None:
    if isinstance(value, str):
        text = value
    elif isinstance(value, Sequence) and value:
        text = value[0] if isinstance(value[0], str) else str(value[0])
    elif value is None or isinstance(value, Sequence):
        return None
    else:
        text = str(value)
    # Blank is treated as absent: a success callback may well carry ``reason=""``.
    return text if text.strip() else None


def _lookup(index: Mapping[str, object], keys: Sequence[str]) -> str | None:
    for key in keys:
        if key in index:
            text = _first(index[key])
            if text is not None:
                return text
    return None


def _plain(params: Params) -> ParamDict:
    raw: ParamDict = {}
    for key, declared in params.items():
        # ``object``: callers pass dicts built by hand; a stray int or None must not crash us.
        value = cast(object, declared)
        if isinstance(value, str):
            raw[str(key)] = value
        elif value is None:
            raw[str(key)] = ""  # blank: read as absent
        elif isinstance(value, Sequence):
            raw[str(key)] = [item if isinstance(item, str) else str(item) for item in value]
        else:
            raw[str(key)] = str(value)
    return raw


def parse_event(params: Params) -> CallbackEvent:
    """Turn a callback's parameters into a :class:`CallbackEvent`; never raises.

    Accepted spellings (any case, ``_`` optional): kind from ``event``, ``event_type`` or
    ``type``; number from ``number`` or ``phone_number``; campaign from ``campaign_id``;
    status from ``status``; reason from ``reason``, ``failure_reason``, ``error`` or
    ``remark``. A repeated parameter counts by its first value. Missing or blank fields are
    ``None`` (kind and status: ``UNKNOWN``).
    """
    raw = _plain(params)
    index: dict[str, object] = {}
    for key, value in raw.items():
        index.setdefault(_squash(key), value)
    raw_kind = _lookup(index, _KIND_KEYS)
    raw_status = _lookup(index, _STATUS_KEYS)
    number = _lookup(index, _NUMBER_KEYS)
    if number is not None:
        normalized, _ = try_normalize_number(number)
        number = normalized or number
    return CallbackEvent(
        kind=CallbackKind.parse(raw_kind),
        number=number,
        campaign_id=_lookup(index, _CAMPAIGN_KEYS),
        status=CallbackStatus.parse(raw_status),
        reason=_lookup(index, _REASON_KEYS),
        raw_status=raw_status,
        raw_kind=raw_kind,
        raw=raw,
    )
