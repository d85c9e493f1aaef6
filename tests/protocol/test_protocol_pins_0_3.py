"""Pins on answer parsing that a mutation sample found unpinned (issue 18): a number the
server spells another way, the size above which an error body is not decoded, and the key
order of a structured error's text."""

from __future__ import annotations

import json

import pytest

from plivo_numlink import LinkStatus, ResponseFormatError
from plivo_numlink._errors import MAX_KEPT_BODY
from plivo_numlink._protocol import Answer, error_from_response, find_status


def one_number_answer(*entries: tuple[str, str]) -> Answer:
    body = {
        "api_id": "a1",
        "campaign_id": "CUOGHIN",
        "phone_numbers": [{"number": n, "status": s} for n, s in entries],
    }
    return Answer(200, json.dumps(body))


@pytest.mark.parametrize("spelled", ["+12125557777", "2125557777", "+1 (212) 555-7777"])
def test_find_status_takes_the_number_written_another_way_under_the_asked_form(
    spelled: str,
) -> None:
    answer = one_number_answer(("12125550000", "FAILED"), (spelled, "COMPLETED"))
    entry = find_status(answer, "12125557777")
    assert entry.number == "12125557777"
    assert entry.status is LinkStatus.COMPLETED


def test_find_status_never_takes_another_number_s_status() -> None:
    answer = one_number_answer(("+12125550000", "COMPLETED"), ("junk", "COMPLETED"))
    with pytest.raises(ResponseFormatError, match="lists no status for 12125557777"):
        find_status(answer, "12125557777")


def error_body_of_length(length: int) -> str:
    head = '{"error": "campaign suspended", "pad": "'
    text = head + "x" * (length - len(head) - 2) + '"}'
    assert len(text) == length
    return text


def test_an_error_body_of_exactly_max_kept_body_characters_is_decoded() -> None:
    text = error_body_of_length(MAX_KEPT_BODY)
    error = error_from_response(400, {}, text, method="POST", path="/x")
    assert error.message == "campaign suspended"
    assert isinstance(error.body, dict)


def test_an_error_body_one_character_over_max_kept_body_is_not_decoded() -> None:
    text = error_body_of_length(MAX_KEPT_BODY + 1)
    error = error_from_response(400, {}, text, method="POST", path="/x")
    assert error.body is None
    assert error.message.startswith('{"error": "campaign suspended", "pad": "xxx')
    assert error.message.endswith("...")


def test_max_kept_body_is_64_kib() -> None:
    assert MAX_KEPT_BODY == 64 * 1024


def test_a_structured_error_s_text_lists_its_keys_sorted() -> None:
    body = {"error": {"reason": "campaign suspended", "code": 7, "at": "link"}}
    error = error_from_response(400, {}, json.dumps(body), method="POST", path="/x")
    assert error.message == '{"at": "link", "code": 7, "reason": "campaign suspended"}'


def test_numbers_named_lists_each_asked_number_once_and_no_other() -> None:
    from plivo_numlink._protocol import numbers_named

    text = "12125557777 refused; 12125550000 unknown; +1 212 555 7777 again; 999"
    assert numbers_named(text, ["12125557777", "12125551111"]) == ["12125557777"]
    assert numbers_named(text, []) == []
