"""Result models: frozen values built by the one cattrs converter, tolerant of what Plivo
may add, strict (with a clear ResponseFormatError) about what it must not send."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from plivo_numlink import (
    CampaignNumbers,
    LinkAck,
    LinkStatus,
    NumberStatus,
    ResponseFormatError,
)
from plivo_numlink._models import converter, structure_body

LIST_BODY: dict[str, Any] = {
    "api_id": "4e1f954c-baf3-11ec-bafe-0242ac110003",
    "campaign_id": "CUOGHIN",
    "campaign_alias": "my campaign",
    "usecase": "MIXED",
    "phone_numbers": [
        {"number": "12125557777", "status": "COMPLETED"},
        {"number": "12125557778", "status": "PROCESSING"},
        {"number": "12125557779", "status": "FAILED"},
    ],
}


def build(data: Any, cls: type[Any]) -> Any:
    return structure_body(data, cls, status_code=200, text="<raw>")


# ---------------------------------------------------------------------------------------------
# LinkStatus


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("PROCESSING", LinkStatus.PROCESSING),
        ("COMPLETED", LinkStatus.COMPLETED),
        ("FAILED", LinkStatus.FAILED),
        ("completed", LinkStatus.COMPLETED),
        (" Failed ", LinkStatus.FAILED),
        ("PENDING", LinkStatus.UNKNOWN),
        ("", LinkStatus.UNKNOWN),
        ("UNKNOWN", LinkStatus.UNKNOWN),
    ],
)
def test_link_status_parse_maps_any_text_to_a_member(raw: str, expected: LinkStatus) -> None:
    assert LinkStatus.parse(raw) is expected


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (LinkStatus.COMPLETED, True),
        (LinkStatus.FAILED, True),
        (LinkStatus.PROCESSING, False),
        (LinkStatus.UNKNOWN, False),
    ],
)
def test_link_status_is_final_only_for_completed_and_failed(
    status: LinkStatus, final: bool
) -> None:
    assert status.is_final is final


def test_link_status_prints_as_its_value() -> None:
    assert str(LinkStatus.COMPLETED) == "COMPLETED"
    assert f"{LinkStatus.PROCESSING}" == "PROCESSING"


def test_link_status_compares_equal_to_its_text() -> None:
    assert LinkStatus.FAILED == "FAILED"


# ---------------------------------------------------------------------------------------------
# Frozen values


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (LinkAck(api_id="a", message="m"), "message"),
        (NumberStatus(number="12125557777", status=LinkStatus.COMPLETED), "status"),
        (CampaignNumbers(campaign_id="CUOGHIN"), "phone_numbers"),
    ],
)
def test_models_are_frozen(value: Any, field: str) -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(value, field, None)


def test_number_status_equality_ignores_the_raw_status_text() -> None:
    a = NumberStatus(number="12125557777", status=LinkStatus.COMPLETED, raw_status="COMPLETED")
    b = NumberStatus(number="12125557777", status=LinkStatus.COMPLETED, raw_status="completed")
    assert a == b
    assert hash(a) == hash(b)


# ---------------------------------------------------------------------------------------------
# CampaignNumbers helpers


def test_campaign_numbers_iterates_and_counts_its_numbers() -> None:
    campaign = build(LIST_BODY, CampaignNumbers)
    assert len(campaign) == 3
    assert [entry.number for entry in campaign] == ["12125557777", "12125557778", "12125557779"]


def test_campaign_numbers_contains_a_listed_number() -> None:
    campaign = build(LIST_BODY, CampaignNumbers)
    assert "12125557778" in campaign
    assert "12125550000" not in campaign


def test_campaign_numbers_status_of_a_listed_number() -> None:
    campaign = build(LIST_BODY, CampaignNumbers)
    assert campaign.status_of("12125557779") is LinkStatus.FAILED


def test_campaign_numbers_status_of_an_absent_number_is_none() -> None:
    campaign = build(LIST_BODY, CampaignNumbers)
    assert campaign.status_of("12125550000") is None


# ---------------------------------------------------------------------------------------------
# Structuring documented bodies


def test_list_body_is_structured_field_by_field() -> None:
    campaign = build(LIST_BODY, CampaignNumbers)
    assert campaign == CampaignNumbers(
        api_id="4e1f954c-baf3-11ec-bafe-0242ac110003",
        campaign_id="CUOGHIN",
        campaign_alias="my campaign",
        usecase="MIXED",
        phone_numbers=(
            NumberStatus("12125557777", LinkStatus.COMPLETED),
            NumberStatus("12125557778", LinkStatus.PROCESSING),
            NumberStatus("12125557779", LinkStatus.FAILED),
        ),
    )


def test_phone_numbers_become_a_tuple() -> None:
    campaign = build(LIST_BODY, CampaignNumbers)
    assert isinstance(campaign.phone_numbers, tuple)


def test_link_ack_is_structured_from_the_documented_body() -> None:
    body = {
        "api_id": "abc",
        "message": "Request to link 14156667778 to campaign CUOGHIN was received",
    }
    assert build(body, LinkAck) == LinkAck(api_id="abc", message=body["message"])


def test_link_ack_keeps_the_optional_error_and_remark_fields() -> None:
    ack = build({"api_id": "a", "error": "e", "remark": "r"}, LinkAck)
    assert (ack.error, ack.remark) == ("e", "r")


def test_missing_optional_fields_default_to_none() -> None:
    assert build({}, LinkAck) == LinkAck()
    assert build({}, CampaignNumbers) == CampaignNumbers()


def test_null_phone_numbers_is_an_empty_tuple() -> None:
    assert build({"phone_numbers": None}, CampaignNumbers).phone_numbers == ()


def test_unknown_fields_are_ignored() -> None:
    body = {**LIST_BODY, "meta": {"limit": 20, "next": None}, "brand_id": "B1"}
    body["phone_numbers"] = [{"number": "12125557777", "status": "COMPLETED", "since": 1}]
    campaign = build(body, CampaignNumbers)
    assert campaign.phone_numbers == (NumberStatus("12125557777", LinkStatus.COMPLETED),)


def test_unknown_status_is_kept_as_unknown_with_its_raw_text() -> None:
    body = {"phone_numbers": [{"number": "12125557777", "status": "PENDING_REVIEW"}]}
    entry = build(body, CampaignNumbers).phone_numbers[0]
    assert entry.status is LinkStatus.UNKNOWN
    assert entry.raw_status == "PENDING_REVIEW"


def test_known_status_keeps_its_raw_text_too() -> None:
    body = {"phone_numbers": [{"number": "12125557777", "status": "completed"}]}
    entry = build(body, CampaignNumbers).phone_numbers[0]
    assert (entry.status, entry.raw_status) == (LinkStatus.COMPLETED, "completed")


def test_a_number_sent_as_a_json_integer_becomes_text() -> None:
    body = {"phone_numbers": [{"number": 12125557777, "status": "COMPLETED"}]}
    assert build(body, CampaignNumbers).phone_numbers[0].number == "12125557777"


def test_converter_unstructures_a_status_to_its_text() -> None:
    entry = NumberStatus("12125557777", LinkStatus.COMPLETED, raw_status="COMPLETED")
    assert converter.unstructure(entry)["status"] == "COMPLETED"


# ---------------------------------------------------------------------------------------------
# Malformed bodies


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ([], "list"),
        (None, "NoneType"),
        ("text", "str"),
        (42, "int"),
    ],
)
def test_a_body_that_is_not_an_object_is_a_response_format_error(data: Any, kind: str) -> None:
    with pytest.raises(
        ResponseFormatError, match=f"expected a JSON object for LinkAck, got {kind}"
    ):
        build(data, LinkAck)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"api_id": 5}, "api_id", id="api-id-number"),
        pytest.param({"message": ["x"]}, "message", id="message-list"),
        pytest.param({"campaign_id": {"a": 1}}, "campaign_id", id="campaign-id-object"),
        pytest.param({"phone_numbers": "12125557777"}, "phone_numbers", id="numbers-string"),
        pytest.param({"phone_numbers": {"number": "1"}}, "phone_numbers", id="numbers-object"),
    ],
)
def test_a_field_of_the_wrong_type_is_named_in_the_error(body: dict[str, Any], field: str) -> None:
    cls = CampaignNumbers if set(body) & {"campaign_id", "phone_numbers"} else LinkAck
    with pytest.raises(ResponseFormatError, match=rf"\$\.{field}"):
        build(body, cls)


@pytest.mark.parametrize(
    ("item", "what"),
    [
        pytest.param({"number": "12125557777", "status": 3}, "'status'", id="status-number"),
        pytest.param({"number": "12125557777"}, "'status'", id="status-missing"),
        pytest.param({"status": "COMPLETED"}, "'number'", id="number-missing"),
        pytest.param({"number": True, "status": "COMPLETED"}, "'number'", id="number-bool"),
        pytest.param({"number": 1.5, "status": "COMPLETED"}, "'number'", id="number-float"),
        pytest.param("12125557777", "object", id="item-string"),
        pytest.param(None, "object", id="item-null"),
    ],
)
def test_a_malformed_number_entry_is_named_in_the_error(item: Any, what: str) -> None:
    body = {"phone_numbers": [{"number": "12125550000", "status": "COMPLETED"}, item]}
    with pytest.raises(ResponseFormatError) as info:
        build(body, CampaignNumbers)
    message = str(info.value)
    assert "phone_numbers" in message
    assert what in message


def test_a_malformed_body_error_keeps_the_status_and_raw_text() -> None:
    with pytest.raises(ResponseFormatError) as info:
        structure_body({"api_id": 5}, LinkAck, status_code=202, text='{"api_id": 5}')
    assert info.value.status_code == 202
    assert info.value.text == '{"api_id": 5}'


def test_a_malformed_body_error_chains_the_validation_error() -> None:
    with pytest.raises(ResponseFormatError) as info:
        build({"api_id": 5}, LinkAck)
    assert info.value.__cause__ is not None


def test_the_converter_refuses_a_non_string_where_text_is_required() -> None:
    assert converter.structure("x", str) == "x"
    with pytest.raises(TypeError, match="expected a string, got int"):
        converter.structure(5, str)


def test_a_missing_required_field_is_named_in_the_error() -> None:
    @attrs.frozen
    class Needs:
        api_id: str

    with pytest.raises(ResponseFormatError, match=r"required field missing @ \$\.api_id"):
        build({}, Needs)


def test_a_bad_number_entry_on_its_own_is_named_in_the_error() -> None:
    with pytest.raises(ResponseFormatError, match="'status' must be a string, got int"):
        build({"number": "12125557777", "status": 1}, NumberStatus)


def test_every_bad_field_is_reported_not_just_the_first() -> None:
    with pytest.raises(ResponseFormatError) as info:
        build({"campaign_id": 7, "usecase": []}, CampaignNumbers)
    assert "$.campaign_id" in str(info.value)
    assert "$.usecase" in str(info.value)


def test_a_listing_as_a_dict_keeps_an_unknown_status_as_plivo_wrote_it() -> None:
    listing = CampaignNumbers(
        campaign_id="CUOGHIN",
        phone_numbers=(
            NumberStatus("12125550001", LinkStatus.COMPLETED),
            NumberStatus("12125550002", LinkStatus.UNKNOWN, raw_status="ON_HOLD"),
        ),
    )
    assert listing.to_dict() == {
        "campaign_id": "CUOGHIN",
        "campaign_alias": None,
        "usecase": None,
        "count": 2,
        "phone_numbers": [
            {"number": "12125550001", "status": "COMPLETED"},
            {"number": "12125550002", "status": "ON_HOLD"},
        ],
    }
