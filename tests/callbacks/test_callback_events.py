"""parse_event and the event types: spellings, normalisation, junk; the public names."""

from __future__ import annotations

from typing import Any

import pytest

from plivo_numlink import callbacks
from plivo_numlink.callbacks import CallbackEvent, CallbackKind, CallbackStatus, parse_event

FAKE_SERVER_FAILED: dict[str, str | list[str]] = {
    "event": "number_linking",
    "campaign_id": "CUOGHIN",
    "number": "12125557777",
    "status": "failed",
    "reason": "retry the request",
    "timestamp": "2024-05-01T12:00:00Z",
}


def test_parse_event_reads_what_the_fake_server_sends() -> None:
    event = parse_event(FAKE_SERVER_FAILED)
    assert event == CallbackEvent(
        kind=CallbackKind.LINKING,
        number="12125557777",
        campaign_id="CUOGHIN",
        status=CallbackStatus.FAILED,
        reason="retry the request",
        raw_status="failed",
        raw_kind="number_linking",
        raw=FAKE_SERVER_FAILED,
    )
    assert event.failed


@pytest.mark.parametrize("key", ["event", "event_type", "EventType", "type", "Event"])
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("number_linking", CallbackKind.LINKING),
        ("NUMBER_UNLINKING", CallbackKind.UNLINKING),
        ("linking", CallbackKind.LINKING),
        ("Unlinking", CallbackKind.UNLINKING),
        ("number_porting", CallbackKind.UNKNOWN),
    ],
)
def test_parse_event_kind_spellings(key: str, text: str, kind: CallbackKind) -> None:
    event = parse_event({key: text})
    assert event.kind is kind
    assert event.raw_kind == text


@pytest.mark.parametrize("key", ["number", "phone_number", "PhoneNumber", "Number"])
def test_parse_event_number_spellings(key: str) -> None:
    assert parse_event({key: "12125557777"}).number == "12125557777"


def test_parse_event_normalizes_the_number() -> None:
    assert parse_event({"number": "+1 (212) 555-7777"}).number == "12125557777"


def test_parse_event_keeps_an_invalid_number_as_sent() -> None:
    assert parse_event({"number": "0042"}).number == "0042"


@pytest.mark.parametrize("key", ["campaign_id", "CampaignID", "campaignId"])
def test_parse_event_campaign_spellings(key: str) -> None:
    assert parse_event({key: "CUOGHIN"}).campaign_id == "CUOGHIN"


@pytest.mark.parametrize("key", ["status", "Status"])
@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("created", CallbackStatus.CREATED),
        ("SUCCESS", CallbackStatus.SUCCESS),
        ("Failed", CallbackStatus.FAILED),
        (" success ", CallbackStatus.SUCCESS),
    ],
)
def test_parse_event_status_any_case(key: str, text: str, status: CallbackStatus) -> None:
    event = parse_event({key: text})
    assert event.status is status
    assert event.raw_status == text


def test_parse_event_reads_the_word_unknown_as_unknown() -> None:
    assert parse_event({"status": "UNKNOWN"}).status is CallbackStatus.UNKNOWN


def test_enums_print_as_plivo_writes_them() -> None:
    assert str(CallbackKind.UNLINKING) == "unlinking"
    assert str(CallbackStatus.SUCCESS) == "success"


def test_parse_event_keeps_an_unknown_status_text() -> None:
    event = parse_event({"status": "pending_review"})
    assert event.status is CallbackStatus.UNKNOWN
    assert event.raw_status == "pending_review"


@pytest.mark.parametrize("key", ["reason", "failure_reason", "error", "remark", "Reason"])
def test_parse_event_reason_spellings(key: str) -> None:
    assert parse_event({key: "retry the request"}).reason == "retry the request"


def test_parse_event_prefers_reason_over_remark() -> None:
    assert parse_event({"remark": "second", "reason": "first"}).reason == "first"


def test_parse_event_blank_reason_is_none() -> None:
    assert parse_event({"status": "success", "reason": ""}).reason is None


def test_parse_event_list_value_counts_by_its_first_element() -> None:
    event = parse_event({"number": ["12125557777", "13125550000"], "status": ["success"]})
    assert event.number == "12125557777"
    assert event.status is CallbackStatus.SUCCESS


def test_parse_event_keeps_extra_fields_in_raw() -> None:
    params = {**FAKE_SERVER_FAILED, "brand_id": "B123", "tags": ["a", "b"]}
    raw = parse_event(params).raw
    assert raw == params
    assert type(raw) is dict


def test_parse_event_raw_is_a_copy() -> None:
    params = dict(FAKE_SERVER_FAILED)
    event = parse_event(params)
    params["status"] = "success"
    assert event.raw["status"] == "failed"


def test_parse_event_with_no_fields() -> None:
    event = parse_event({})
    assert event == CallbackEvent(
        kind=CallbackKind.UNKNOWN,
        number=None,
        campaign_id=None,
        status=CallbackStatus.UNKNOWN,
    )


def test_parse_event_survives_non_string_values() -> None:
    junk: Any = {"number": None, "status": 5, "event": [], "campaign_id": ["", "X"]}
    event = parse_event(junk)
    assert event.number is None
    assert event.status is CallbackStatus.UNKNOWN
    assert event.raw_status == "5"
    assert event.kind is CallbackKind.UNKNOWN
    assert event.campaign_id is None


def test_callback_event_is_frozen_and_hashable() -> None:
    event = parse_event(FAKE_SERVER_FAILED)
    with pytest.raises(AttributeError):
        event.status = CallbackStatus.SUCCESS  # type: ignore[misc]
    assert hash(event) == hash(parse_event(dict(FAKE_SERVER_FAILED)))


def test_public_names() -> None:
    assert set(callbacks.__all__) == {
        "DEFAULT_BODY_TIMEOUT",
        "DEFAULT_MAX_BODY_SIZE",
        "DEFAULT_REPLAY_WINDOW",
        "CallbackApp",
        "CallbackEvent",
        "CallbackKind",
        "CallbackReceiver",
        "CallbackRejected",
        "CallbackStatus",
        "EventHub",
        "Params",
        "ReplayGuard",
        "asgi_app",
        "canonical_string_v3",
        "handler",
        "is_valid_signature",
        "parse_event",
        "request_params",
        "signature_v2",
        "signature_v3",
        "verify",
    }


@pytest.mark.parametrize("key", ["eventName", "event_name"])
def test_parse_event_reads_the_kind_from_an_event_name_field(key: str) -> None:
    event = parse_event({key: "number_unlinking", "number": "12125557777"})
    assert event.kind is CallbackKind.UNLINKING


@pytest.mark.parametrize("key", ["errorMessage", "error_message", "error_reason"])
def test_parse_event_reads_the_reason_from_an_error_message_field(key: str) -> None:
    event = parse_event({"status": "failed", key: "retry the request"})
    assert event.reason == "retry the request"
