"""Sans-I/O helpers: paths, headers and configuration checks, and recorded answers turned
into data or typed errors, all without a network."""

from __future__ import annotations

import base64
import json
import platform
import re

import aiohttp
import pytest
from multidict import CIMultiDict

from plivo_numlink import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    CampaignNumbers,
    ForbiddenError,
    LinkAck,
    LinkStatus,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    __version__,
)
from plivo_numlink._errors import MAX_KEPT_BODY, status_error
from plivo_numlink._protocol import (
    CAMPAIGN_TEMPLATE,
    DEFAULT_BASE_URL,
    NUMBER_TEMPLATE,
    auth_header,
    campaign_path,
    decode_json,
    error_from_response,
    number_path,
    parse_success,
    user_agent,
    validate_auth_id,
    validate_base_url,
)

# ---------------------------------------------------------------------------------------------
# Headers


def test_user_agent_names_the_library_its_version_python_and_aiohttp() -> None:
    assert user_agent() == (
        f"plivo-numlink/{__version__} Python/{platform.python_version()} "
        f"aiohttp/{aiohttp.__version__}"
    )


def test_auth_header_is_http_basic_of_id_and_token() -> None:
    value = auth_header("MA0123456789ABCDEFGH", "tok:en")
    scheme, encoded = value.split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded) == b"MA0123456789ABCDEFGH:tok:en"


def test_auth_header_encodes_a_non_ascii_token_as_utf8() -> None:
    encoded = auth_header("MA1", "p\u00e4ss").split(" ")[1]
    assert base64.b64decode(encoded) == "MA1:p\u00e4ss".encode()


# ---------------------------------------------------------------------------------------------
# Paths


def test_campaign_path() -> None:
    assert campaign_path("MA1", "CUOGHIN") == "/v1/Account/MA1/10dlc/Campaign/CUOGHIN/Number/"


def test_number_path() -> None:
    assert (
        number_path("MA1", "CUOGHIN", "12125557777")
        == "/v1/Account/MA1/10dlc/Campaign/CUOGHIN/Number/12125557777/"
    )


def test_templates_match_the_paths_they_stand_for() -> None:
    assert CAMPAIGN_TEMPLATE.format(auth_id="A", campaign_id="C") == campaign_path("A", "C")
    assert NUMBER_TEMPLATE.format(auth_id="A", campaign_id="C", number="1") == number_path(
        "A", "C", "1"
    )


# ---------------------------------------------------------------------------------------------
# Configuration checks


@pytest.mark.parametrize(
    "auth_id",
    ["MA0123456789ABCDEFGH", "SA0123456789ABCDEFGH", "x", "A" * 64, "MA-1", "test_auth"],
)
def test_validate_auth_id_accepts_plain_identifiers(auth_id: str) -> None:
    assert validate_auth_id(auth_id) == auth_id


@pytest.mark.parametrize(
    "auth_id",
    ["", "A" * 65, "MA/../x", "MA%2F", "MA 1", "MA\n", "MA?x", "MA#x", "MÄ1", ".", ".."],
)
def test_validate_auth_id_rejects_anything_that_could_alter_the_path(auth_id: str) -> None:
    with pytest.raises(ValueError, match="auth_id"):
        validate_auth_id(auth_id)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.plivo.com", "https://api.plivo.com"),
        ("https://api.plivo.com/", "https://api.plivo.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("https://proxy.example.com/plivo/", "https://proxy.example.com/plivo"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_validate_base_url_returns_the_origin_without_trailing_slash(
    base_url: str, expected: str
) -> None:
    assert validate_base_url(base_url) == expected


def test_default_base_url_is_plivo() -> None:
    assert validate_base_url(DEFAULT_BASE_URL) == "https://api.plivo.com"


@pytest.mark.parametrize(
    "base_url",
    [
        pytest.param("", id="empty"),
        pytest.param("api.plivo.com", id="no-scheme"),
        pytest.param("//api.plivo.com", id="scheme-relative"),
        pytest.param("ftp://api.plivo.com", id="ftp"),
        pytest.param("https://", id="no-host"),
        pytest.param("https://user:pw@api.plivo.com", id="credentials"),
        pytest.param("https://api.plivo.com?x=1", id="query"),
        pytest.param("https://api.plivo.com#frag", id="fragment"),
        pytest.param("https://api.plivo.com:abc", id="port-not-a-number"),
        pytest.param("https://api.plivo.com:99999", id="port-out-of-range"),
        pytest.param("https://[::1", id="broken-ipv6"),
    ],
)
def test_validate_base_url_rejects_anything_but_an_http_origin(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        validate_base_url(base_url)


@pytest.mark.parametrize("base_url", [None, 42, b"https://api.plivo.com"])
def test_validate_base_url_rejects_non_strings(base_url: object) -> None:
    with pytest.raises(ValueError, match="base_url must be a string"):
        validate_base_url(base_url)


# ---------------------------------------------------------------------------------------------
# decode_json


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", [1, 2]),
        ('"text"', "text"),
        ("", None),
        ("   \n", None),
        ("<html>502 Bad Gateway</html>", None),
        ('{"a": ', None),
        ("[" * 100_000, None),  # nesting deep enough to exhaust the recursion limit
    ],
)
def test_decode_json_gives_data_or_none(text: str, expected: object) -> None:
    assert decode_json(text) == expected


# ---------------------------------------------------------------------------------------------
# Error answers


def error(
    status: int,
    body: object = None,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
) -> APIStatusError:
    if text is None:
        text = json.dumps(body)
    return error_from_response(
        status,
        CIMultiDict(headers or {}),
        text,
        method="POST",
        path=CAMPAIGN_TEMPLATE,
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (405, BadRequestError),
        (408, BadRequestError),
        (409, BadRequestError),
        (422, BadRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (599, ServerError),
        (302, APIStatusError),
    ],
)
def test_each_status_gets_its_error_class(status: int, cls: type[APIStatusError]) -> None:
    exc = error(status, {"api_id": "x", "error": "e"})
    assert type(exc) is cls
    assert status_error(status) is cls


def test_error_carries_status_api_id_message_and_body() -> None:
    body = {"api_id": "abc-123", "error": "The number 14155550123 is not a valid number"}
    exc = error(400, body)
    assert exc.status_code == 400
    assert exc.api_id == "abc-123"
    assert exc.message == "The number 14155550123 is not a valid number"
    assert exc.body == body


def test_error_keeps_the_raw_text_method_and_path_template() -> None:
    exc = error(404, text='{"error": "not found"}')
    assert exc.text == '{"error": "not found"}'
    assert (exc.method, exc.path) == ("POST", CAMPAIGN_TEMPLATE)


def test_error_str_names_status_request_message_and_api_id() -> None:
    exc = error(404, {"api_id": "abc", "error": "The number 1 is not linked to this campaign"})
    assert str(exc) == (
        f"HTTP 404 (POST {CAMPAIGN_TEMPLATE}): "
        "The number 1 is not linked to this campaign [api_id=abc]"
    )


def test_error_str_without_request_or_api_id_is_short() -> None:
    assert str(APIStatusError("boom", status_code=500)) == "HTTP 500: boom"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"error": "e1", "message": "m1"}, "e1", id="error-first"),
        pytest.param({"message": "m1", "detail": "d1"}, "m1", id="then-message"),
        pytest.param({"detail": "d1"}, "d1", id="then-detail"),
        pytest.param({"error": "", "message": "m1"}, "m1", id="empty-error-skipped"),
        pytest.param({"error": {"number": ["invalid"]}}, '{"number": ["invalid"]}', id="object"),
        pytest.param({"error": ["a", "b"]}, '["a", "b"]', id="list"),
        pytest.param({"error": 5}, '{"error": 5}', id="number-falls-back-to-text"),
        pytest.param({"api_id": "x"}, '{"api_id": "x"}', id="no-message-field"),
        pytest.param(["error"], '["error"]', id="array-body"),
    ],
)
def test_error_message_comes_from_the_first_useful_field(body: object, message: str) -> None:
    assert error(400, body).message == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "(empty body)"),
        ("  \n ", "(empty body)"),
        ("<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>", None),
        ("Too Many Requests", "Too Many Requests"),
    ],
)
def test_error_with_a_body_that_is_not_json_keeps_a_preview(text: str, message: str | None) -> None:
    exc = error(502, text=text)
    assert exc.body is None
    assert exc.api_id is None
    if message is None:
        assert exc.message == "<html><body> <h1>502 Bad Gateway</h1> </body></html>"
    else:
        assert exc.message == message


def test_error_preview_of_a_long_body_is_shortened() -> None:
    exc = error(500, text="x" * 5000)
    assert exc.message == "x" * 200 + "..."
    assert exc.text == "x" * 5000


def test_error_ignores_an_api_id_that_is_not_text() -> None:
    assert error(400, {"api_id": 7, "error": "e"}).api_id is None


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({}, None),
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "junk"}, None),
    ],
)
def test_error_carries_the_server_retry_after(
    headers: dict[str, str], retry_after: float | None
) -> None:
    assert error(429, {"error": "Too many requests"}, headers=headers).retry_after == retry_after


# ---------------------------------------------------------------------------------------------
# Success answers


def test_parse_success_builds_a_link_ack() -> None:
    ack = parse_success(202, '{"api_id": "a", "message": "received"}', LinkAck)
    assert ack == LinkAck(api_id="a", message="received")


def test_parse_success_builds_campaign_numbers() -> None:
    text = json.dumps(
        {
            "api_id": "a",
            "campaign_id": "CUOGHIN",
            "phone_numbers": [{"number": "12125557777", "status": "COMPLETED"}],
        }
    )
    campaign = parse_success(200, text, CampaignNumbers)
    assert campaign.status_of("12125557777") is LinkStatus.COMPLETED


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        pytest.param("", "empty body", id="empty"),
        pytest.param(" \r\n", "empty body", id="blank"),
        pytest.param("<html><h1>Service Unavailable</h1></html>", "not JSON", id="html"),
        pytest.param('{"api_id": "a", "message": "rec', "not JSON", id="truncated"),
        pytest.param("OK", "not JSON", id="plain-text"),
        pytest.param('{"api_id": "a"} trailing', "not JSON", id="trailing-garbage"),
        pytest.param("[" * 100_000, "not JSON", id="nested-too-deep"),
        pytest.param("[]", "expected a JSON object", id="array"),
        pytest.param("null", "expected a JSON object", id="null"),
        pytest.param('"text"', "expected a JSON object", id="string"),
        pytest.param('{"api_id": ["a"]}', "api_id", id="wrong-type"),
    ],
)
def test_parse_success_turns_a_malformed_body_into_a_response_format_error(
    text: str, complaint: str
) -> None:
    with pytest.raises(ResponseFormatError, match=re.escape(complaint)) as info:
        parse_success(200, text, LinkAck)
    assert info.value.status_code == 200
    # The exception keeps the body, up to 64 KiB of it (issue 10).
    assert info.value.text == text[:MAX_KEPT_BODY]


def test_response_format_error_names_the_expected_model() -> None:
    with pytest.raises(ResponseFormatError, match="CampaignNumbers"):
        parse_success(200, "", CampaignNumbers)


def test_response_format_error_names_where_json_decoding_failed() -> None:
    with pytest.raises(ResponseFormatError, match="at position 11"):
        parse_success(200, '{"api_id": ', LinkAck)


def test_response_format_error_message_shows_the_status_and_a_preview_of_the_body() -> None:
    with pytest.raises(ResponseFormatError) as info:
        parse_success(201, "<html>" + "x" * 1000, LinkAck)
    message = str(info.value)
    assert "HTTP 201" in message
    assert "'<html>xxx" in message
    assert len(message) < 400
