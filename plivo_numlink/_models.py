"""Result objects of the single calls, and the one cattrs converter that builds them.

Every answer body goes through :func:`structure_body`, which turns cattrs' validation
errors into one :class:`ResponseFormatError` naming the bad field. Unknown fields are
ignored (Plivo adds fields over time) and unknown status values are kept as
``LinkStatus.UNKNOWN`` with the raw text in ``NumberStatus.raw_status``.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError
from cattrs.v import format_exception

from ._errors import ResponseFormatError
from ._numbers import try_normalize_number

__all__ = [
    "CampaignNumbers",
    "LinkAck",
    "LinkStatus",
    "NumberStatus",
    "converter",
    "structure_body",
]

T = TypeVar("T")


class LinkStatus(str, enum.Enum):
    """Where a number's link to a campaign stands at Plivo."""

    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    #: A value this library does not know; the raw text is in ``NumberStatus.raw_status``.
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: str) -> LinkStatus:
        """The member for ``value`` (any case), or ``UNKNOWN``."""
        try:
            member = cls(value.strip().upper())
        except ValueError:
            return cls.UNKNOWN
        return member

    @property
    def is_final(self) -> bool:
        """COMPLETED and FAILED do not change by themselves any more."""
        return self in (LinkStatus.COMPLETED, LinkStatus.FAILED)

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class LinkAck:
    """Plivo's acknowledgement of a link or unlink request (processing goes on after it)."""

    api_id: str | None = None
    message: str | None = None
    #: Other official SDKs model these optional fields on the same answer.
    error: str | None = None
    remark: str | None = None


@attrs.frozen
class NumberStatus:
    """One number's state in a campaign."""

    number: str
    status: LinkStatus
    #: The status text exactly as the server sent it (useful when ``status`` is UNKNOWN).
    raw_status: str = attrs.field(default="", eq=False)


@attrs.frozen
class CampaignNumbers:
    """A campaign and the numbers linked to it (every page gathered)."""

    campaign_id: str | None = None
    campaign_alias: str | None = None
    usecase: str | None = None
    phone_numbers: tuple[NumberStatus, ...] = ()
    api_id: str | None = None

    def __iter__(self) -> Any:
        return iter(self.phone_numbers)

    def __len__(self) -> int:
        return len(self.phone_numbers)

    def __contains__(self, number: object) -> bool:
        return any(entry.number == number for entry in self.phone_numbers)

    def to_dict(self) -> dict[str, Any]:
        """The listing as JSON-ready data (what ``plivo-numlink list --json`` prints): the
        campaign's fields, ``count``, and ``phone_numbers`` as ``{"number", "status"}`` with a
        status this library does not know as Plivo wrote it."""
        unknown = LinkStatus.UNKNOWN
        numbers = [
            {"number": e.number, "status": (e.status is unknown and e.raw_status) or e.status.value}
            for e in self.phone_numbers
        ]
        return {
            "campaign_id": self.campaign_id,
            "campaign_alias": self.campaign_alias,
            "usecase": self.usecase,
            "count": len(numbers),
            "phone_numbers": numbers,
        }

    def status_of(self, number: str) -> LinkStatus | None:
        """The status of ``number`` (normalized form), or ``None`` when it is not listed."""
        for entry in self.phone_numbers:
            if entry.number == number:
                return entry.status
        return None


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False, prefer_attrib_converters=False)

    def structure_status(value: Any, _: type) -> NumberStatus:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        number = value.get("number")
        status = value.get("status")
        if not isinstance(number, str):
            # Some answers carry numbers as JSON numbers; accept those, reject the rest.
            if isinstance(number, int) and not isinstance(number, bool):
                number = str(number)
            else:
                raise TypeError(f"'number' must be a string, got {type(number).__name__}")
        if not isinstance(status, str):
            raise TypeError(f"'status' must be a string, got {type(status).__name__}")
        # Results carry numbers in the library's one form even if a server writes "+1...".
        normalized = try_normalize_number(number)[0]
        return NumberStatus(
            number=normalized or number, status=LinkStatus.parse(status), raw_status=status
        )

    conv.register_structure_hook(NumberStatus, structure_status)

    def structure_optional_str(value: Any, _: type) -> str | None:
        if value is None or isinstance(value, str):
            return value
        raise TypeError(f"expected a string, got {type(value).__name__}")

    conv.register_structure_hook_func(lambda t: t == (str | None), structure_optional_str)

    def structure_str(value: Any, cls: type[str]) -> str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        # A hook for a class also serves its subclasses: the str-valued enums (LinkStatus,
        # OutcomeKind) come here too, and must be read as their members, not plain strings.
        return value if cls is str else cls(value)

    conv.register_structure_hook(str, structure_str)

    def structure_numbers(value: Any, _: type) -> tuple[NumberStatus, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        entries = []
        for index, item in enumerate(value):
            try:
                entries.append(structure_status(item, NumberStatus))
            except TypeError as exc:
                raise TypeError(f"item {index}: {exc}") from None
        return tuple(entries)

    conv.register_structure_hook_func(lambda t: t == tuple[NumberStatus, ...], structure_numbers)
    conv.register_unstructure_hook(LinkStatus, lambda status: status.value)
    return conv


#: The library's one converter: results in from JSON, reports out to JSON and CSV.
converter = _make_converter()


def _format_exception(exc: BaseException, type_: type | None) -> str:
    # Our structure hooks raise TypeErrors that say exactly what was wrong ("item 1:
    # 'status' must be a string, got int"); cattrs' default text would only name the type.
    if isinstance(exc, TypeError) and exc.args:
        return str(exc)
    return format_exception(exc, type_)


def _describe(exc: BaseException) -> str:
    """A short text naming the bad field of a cattrs validation error."""
    if isinstance(exc, ClassValidationError):
        notes = cattrs.transform_error(exc, format_exception=_format_exception)
        return "; ".join(notes)
    if isinstance(exc, ForbiddenExtraKeysError):  # pragma: no cover - extra keys are allowed
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def structure_body(data: Any, cls: type[T], *, status_code: int, text: str) -> T:
    """Build ``cls`` from a decoded JSON body, or raise :class:`ResponseFormatError`."""
    if not isinstance(data, dict):
        raise ResponseFormatError(
            f"expected a JSON object for {cls.__name__}, got {type(data).__name__}",
            status_code=status_code,
            text=text,
        )
    try:
        return converter.structure(data, cls)
    except Exception as exc:
        raise ResponseFormatError(
            f"malformed {cls.__name__}: {_describe(exc)}", status_code=status_code, text=text
        ) from exc
