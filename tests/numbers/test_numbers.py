"""Input validation: numbers are normalized US long codes, campaign ids plain identifiers,
callback settings checked, and no input can reach a request path unchecked."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plivo_numlink import InvalidNumberError, normalize_number
from plivo_numlink._numbers import (
    try_normalize_number,
    validate_callback,
    validate_campaign_id,
)

# ---------------------------------------------------------------------------------------------
# Numbers


@pytest.mark.parametrize(
    "raw",
    [
        "12125557777",
        "+12125557777",
        "2125557777",
        "+1 212-555-7777",
        "+1 (212) 555-7777",
        "(212) 555-7777",
        "212.555.7777",
        "1 212 555 7777",
        "  +1 212 555 7777  ",
        "1-212-555-7777",
        "+1\t212\u00a0555 7777",  # tabs and no-break spaces as pasted from documents
    ],
)
def test_normalize_number_accepts_what_users_write(raw: str) -> None:
    assert normalize_number(raw) == "12125557777"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2002000000", "12002000000"),  # lowest valid area code and exchange
        ("9999999999", "19999999999"),
        ("14156667778", "14156667778"),
    ],
)
def test_normalize_number_keeps_nanp_edge_values(raw: str, expected: str) -> None:
    assert normalize_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("+", id="plus-only"),
        pytest.param("212555777", id="nine-digits"),
        pytest.param("221255577777", id="twelve-digits"),
        pytest.param("22125557777", id="eleven-digits-not-starting-1"),
        pytest.param("+442071234567", id="uk-number"),
        pytest.param("1125557777", id="area-code-starting-1"),
        pytest.param("0125557777", id="area-code-starting-0"),
        pytest.param("2121557777", id="exchange-starting-1"),
        pytest.param("2120557777", id="exchange-starting-0"),
        pytest.param("++12125557777", id="double-plus"),
        pytest.param("1212555777a", id="letter"),
        pytest.param("1-800-FLOWERS", id="vanity"),
        pytest.param("12125557777/", id="slash"),
        pytest.param("../12125557777", id="dot-dot-slash"),
        pytest.param("%2e%2e/12125557777", id="percent-encoded-dots"),
        pytest.param("12125557777%2F", id="percent-encoded-slash"),
        pytest.param("12125557777?x=1", id="query"),
        pytest.param("12125557777#f", id="fragment"),
        pytest.param("12125557777\x00", id="nul"),
        pytest.param("12125557777\r\nX-Evil: 1", id="header-injection"),
        pytest.param("١٢١٢٥٥٥٧٧٧٧", id="arabic-indic-digits"),
        pytest.param("１２１２５５５７７７７", id="fullwidth-digits"),
        pytest.param("1212555777\u0667", id="one-non-ascii-digit"),
        pytest.param("1" * 65, id="very-long"),
        pytest.param("1" * 10_000, id="huge"),
        pytest.param("+1 212 555 7777 ext 12", id="extension"),
        pytest.param("12125557777,12125557778", id="two-numbers"),
    ],
)
def test_normalize_number_rejects_anything_but_a_us_long_code(raw: str) -> None:
    with pytest.raises(InvalidNumberError):
        normalize_number(raw)


NORMALIZED = re.compile(r"1[2-9][0-9]{2}[2-9][0-9]{6}")


@given(st.text(max_size=80))
def test_any_text_is_either_refused_or_normalized_to_eleven_ascii_digits(raw: str) -> None:
    try:
        number = normalize_number(raw)
    except InvalidNumberError:
        return
    assert NORMALIZED.fullmatch(number)


WRITTEN_NUMBER = r"(\+ ?1|1)?[ .(-]{0,2}[2-9][0-9]{2}[ .)-]{0,2}[2-9][0-9]{2}[ .-]{0,2}[0-9]{4}"


@given(st.from_regex(WRITTEN_NUMBER, fullmatch=True))
def test_numbers_written_with_separators_keep_their_digits(raw: str) -> None:
    digits = re.sub(r"[^0-9]", "", raw)
    assert normalize_number(raw) == (digits if len(digits) == 11 else "1" + digits)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("+2125557777", id="morocco-prefix"),
        pytest.param("+354 555 1234", id="iceland"),
        pytest.param("+46 8 523 4567", id="sweden"),
        pytest.param("+ 212 555 7777", id="plus-space"),
    ],
)
def test_a_plus_must_be_followed_by_the_us_country_code(raw: str) -> None:
    # "+" announces a country code: ten digits after it are a foreign number that only
    # looks like a US one, and must not be linked as one.
    with pytest.raises(InvalidNumberError, match=r"\+1"):
        normalize_number(raw)


def test_newline_around_a_number_is_whitespace_and_stripped() -> None:
    # Lines read from a file end in "\n": that must not make the number invalid.
    assert normalize_number("12125557777\n") == "12125557777"


@pytest.mark.parametrize("raw", [None, 12125557777, 1.5, b"12125557777", ["12125557777"]])
def test_normalize_number_rejects_non_strings(raw: object) -> None:
    with pytest.raises(InvalidNumberError, match="must be a string"):
        normalize_number(raw)


def test_invalid_number_error_is_a_value_error_carrying_the_input() -> None:
    with pytest.raises(ValueError) as info:
        normalize_number("not a number")
    assert isinstance(info.value, InvalidNumberError)
    assert info.value.number == "not a number"


def test_invalid_number_message_quotes_the_input() -> None:
    with pytest.raises(InvalidNumberError, match="'1212'"):
        normalize_number("1212")


def test_invalid_number_message_shortens_very_long_input() -> None:
    with pytest.raises(InvalidNumberError) as info:
        normalize_number("9" * 5000)
    message = str(info.value)
    assert len(message) < 200
    assert "5000 characters" in message


def test_try_normalize_number_returns_the_number_and_no_reason() -> None:
    assert try_normalize_number("+1 212 555 7777") == ("12125557777", None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        (42, "must be a string, not int"),
        ("1" * 100, "too long"),
        ("1212555777x", "characters other than digits"),
        ("١٢١٢٥٥٥٧٧٧٧", "characters other than digits"),
        ("1212555", "not a valid US number"),
    ],
)
def test_try_normalize_number_gives_a_reason_instead_of_raising(raw: object, reason: str) -> None:
    number, why = try_normalize_number(raw)
    assert number is None
    assert why is not None
    assert reason in why


# ---------------------------------------------------------------------------------------------
# Campaign ids


@pytest.mark.parametrize("campaign_id", ["CUOGHIN", "C", "cmpt123", "A" * 64, "0123456789"])
def test_validate_campaign_id_accepts_plain_identifiers(campaign_id: str) -> None:
    assert validate_campaign_id(campaign_id) == campaign_id


@pytest.mark.parametrize(
    "campaign_id",
    [
        pytest.param("", id="empty"),
        pytest.param("A" * 65, id="too-long"),
        pytest.param("A" * 100_000, id="huge"),
        pytest.param("..", id="dot-dot"),
        pytest.param("../Number", id="dot-dot-slash"),
        pytest.param("%2e%2e", id="percent-encoded-dots"),
        pytest.param("CUOGHIN%2F", id="percent-encoded-slash"),
        pytest.param("CUOG/HIN", id="slash"),
        pytest.param("CUOGHIN?limit=1", id="query"),
        pytest.param("CUOGHIN#x", id="fragment"),
        pytest.param("CUOG HIN", id="space"),
        pytest.param(" CUOGHIN", id="leading-space"),
        pytest.param("CUOGHIN\n", id="trailing-newline"),
        pytest.param("CUOGHIN\x00", id="nul"),
        pytest.param("CUOGHIN\r\nX-Evil: 1", id="header-injection"),
        pytest.param("CUOG-HIN", id="dash"),
        pytest.param("CUOG_HIN", id="underscore"),
        pytest.param("ÇUOGHIN", id="non-ascii-letter"),
        pytest.param("١٢٣", id="non-ascii-digits"),
    ],
)
def test_validate_campaign_id_rejects_anything_but_a_plain_identifier(campaign_id: str) -> None:
    with pytest.raises(ValueError, match="campaign_id"):
        validate_campaign_id(campaign_id)


@given(st.text(max_size=80))
def test_any_campaign_id_is_either_refused_or_a_plain_identifier(campaign_id: str) -> None:
    try:
        validate_campaign_id(campaign_id)
    except ValueError:
        return
    assert re.fullmatch(r"[A-Za-z0-9]{1,64}", campaign_id)


@pytest.mark.parametrize("campaign_id", [None, 123, b"CUOGHIN"])
def test_validate_campaign_id_rejects_non_strings(campaign_id: object) -> None:
    with pytest.raises(ValueError, match="campaign_id must be a string"):
        validate_campaign_id(campaign_id)


def test_campaign_id_error_is_not_an_invalid_number_error() -> None:
    with pytest.raises(ValueError) as info:
        validate_campaign_id("../x")
    assert not isinstance(info.value, InvalidNumberError)


# ---------------------------------------------------------------------------------------------
# Callback url and method


def test_validate_callback_with_nothing_given_returns_an_empty_body() -> None:
    assert validate_callback(None, None) == {}


def test_validate_callback_returns_only_the_url_when_only_the_url_is_given() -> None:
    assert validate_callback("https://example.com/cb", None) == {"url": "https://example.com/cb"}


def test_validate_callback_returns_only_the_method_when_only_the_method_is_given() -> None:
    assert validate_callback(None, "GET") == {"method": "GET"}


@pytest.mark.parametrize(
    ("method", "expected"),
    [("GET", "GET"), ("POST", "POST"), ("get", "GET"), ("post", "POST"), ("PoSt", "POST")],
)
def test_validate_callback_accepts_get_or_post_in_any_case(method: str, expected: str) -> None:
    assert validate_callback(None, method) == {"method": expected}


@pytest.mark.parametrize(
    "method", ["", "PUT", "DELETE", "HEAD", "GET ", " POST", "GET\n", "POSTS", "G\x00ET", 1, b"GET"]
)
def test_validate_callback_rejects_other_methods(method: object) -> None:
    with pytest.raises(ValueError, match="method must be 'GET' or 'POST'"):
        validate_callback(None, method)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/cb",
        "https://example.com/cb",
        "https://example.com:8443/cb?x=1&y=2",
        "https://127.0.0.1/cb",
        "https://[::1]:8080/cb",
        "HTTPS://EXAMPLE.COM/cb",
    ],
)
def test_validate_callback_accepts_absolute_http_urls(url: str) -> None:
    assert validate_callback(url, None) == {"url": url}


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("", id="empty"),
        pytest.param("example.com/cb", id="no-scheme"),
        pytest.param("//example.com/cb", id="scheme-relative"),
        pytest.param("/cb", id="path-only"),
        pytest.param("ftp://example.com/cb", id="ftp"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("http://", id="no-host"),
        pytest.param("https:///cb", id="empty-host"),
        pytest.param("https://example.com/c b", id="space"),
        pytest.param("https://example.com/cb\x00", id="nul"),
        pytest.param("https://example.com/cb\x01x", id="control"),
        pytest.param("https://example.com/cb\n", id="trailing-newline"),
        pytest.param("https://exa\tmple.com/cb", id="tab-in-host"),
        pytest.param("https://example.com/cb\r\nX-Evil: 1", id="header-injection"),
        pytest.param("https://[::1/cb", id="broken-ipv6"),
        pytest.param("https://example.com:abc/cb", id="port-not-a-number"),
        pytest.param("https://example.com:99999/cb", id="port-out-of-range"),
    ],
)
def test_validate_callback_rejects_urls_that_are_not_absolute_http(url: str) -> None:
    with pytest.raises(ValueError, match="url"):
        validate_callback(url, None)


@pytest.mark.parametrize("url", [123, b"https://example.com/cb"])
def test_validate_callback_rejects_a_non_string_url(url: object) -> None:
    with pytest.raises(ValueError, match="url must be a string"):
        validate_callback(url, None)  # type: ignore[arg-type]
