"""NumLinkSession against a mocked aiohttp (aioresponses): configuration, lifecycle, request
shapes, errors, retries, pacing, and that the auth token never leaks."""

from __future__ import annotations

import asyncio
import base64
import logging
import math
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult
from conftest import AUTH_ID, AUTH_TOKEN, SessionFactory

import plivo_numlink._log as log_module
import plivo_numlink._transport as transport_module
from plivo_numlink import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    CampaignNumbers,
    ConfigurationError,
    ForbiddenError,
    InvalidNumberError,
    LinkAck,
    LinkStatus,
    NotFoundError,
    NumberStatus,
    NumLinkSession,
    PlivoError,
    RateLimitError,
    ResponseFormatError,
    RetryPolicy,
    ServerError,
    SessionClosedError,
    TransportError,
)
from plivo_numlink._config import DEFAULT_RATE_LIMIT
from plivo_numlink._endpoints import LIST_PAGE_SIZE
from plivo_numlink._log import RedactingFilter, register_secret
from plivo_numlink._protocol import (
    CAMPAIGN_TEMPLATE,
    NUMBER_TEMPLATE,
    user_agent,
)
from plivo_numlink._retry import short_reason as _short_reason
from plivo_numlink._transport import AttemptCounter

BASE = "https://api.plivo.com"
CAMPAIGN = "CUOGHIN"
NUMBER = "12125557777"
CAMPAIGN_URL = f"{BASE}/v1/Account/{AUTH_ID}/10dlc/Campaign/{CAMPAIGN}/Number/"
BASIC = "Basic " + base64.b64encode(f"{AUTH_ID}:{AUTH_TOKEN}".encode()).decode()
ACK = {"api_id": "ack-1", "message": f"Request to link {NUMBER} to campaign {CAMPAIGN} received"}


def number_url(number: str = NUMBER) -> str:
    return f"{CAMPAIGN_URL}{number}/"


def list_url(offset: int, limit: int = LIST_PAGE_SIZE) -> str:
    return f"{CAMPAIGN_URL}?limit={limit}&offset={offset}"


def numbers_body(*numbers: str, status: str = "COMPLETED") -> dict[str, Any]:
    return {
        "api_id": "list-1",
        "campaign_id": CAMPAIGN,
        "campaign_alias": "alias",
        "usecase": "MIXED",
        "phone_numbers": [{"number": n, "status": status} for n in numbers],
    }


def page_of(start: int, count: int) -> dict[str, Any]:
    return numbers_body(*(f"1212555{i:04d}" for i in range(start, start + count)))


def sent(mock: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """Every request the mock received: (method, url, keyword arguments)."""
    return [
        (method, str(url), call.kwargs)
        for (method, url), calls in mock.requests.items()
        for call in calls
    ]


def sent_count(mock: Any) -> int:
    return len(sent(mock))


class SleepRecorder:
    """A ``sleep=`` for sessions: records the waits, sleeps not at all."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# =============================================================================================
# Configuration


def test_credentials_come_from_the_arguments(no_plivo_env: None) -> None:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN)
    assert session.auth_id == AUTH_ID


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLIVO_AUTH_ID", "SA0000000000000000ENV")
    monkeypatch.setenv("PLIVO_AUTH_TOKEN", "env-token-value")
    assert NumLinkSession().auth_id == "SA0000000000000000ENV"


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLIVO_AUTH_ID", "SA0000000000000000ENV")
    monkeypatch.setenv("PLIVO_AUTH_TOKEN", "env-token-value")
    assert NumLinkSession(AUTH_ID, AUTH_TOKEN).auth_id == AUTH_ID


@pytest.mark.parametrize(
    ("kwargs", "env", "names"),
    [
        pytest.param({"auth_token": AUTH_TOKEN}, {}, ("auth_id", "PLIVO_AUTH_ID"), id="no-id"),
        pytest.param({"auth_id": AUTH_ID}, {}, ("auth_token", "PLIVO_AUTH_TOKEN"), id="no-token"),
        pytest.param({}, {}, ("auth_id", "PLIVO_AUTH_ID"), id="nothing"),
        pytest.param(
            {"auth_token": AUTH_TOKEN},
            {"PLIVO_AUTH_ID": ""},
            ("auth_id", "PLIVO_AUTH_ID"),
            id="empty-env-id",
        ),
        pytest.param(
            {"auth_id": AUTH_ID},
            {"PLIVO_AUTH_TOKEN": ""},
            ("auth_token", "PLIVO_AUTH_TOKEN"),
            id="empty-env-token",
        ),
        pytest.param(
            {"auth_id": "", "auth_token": AUTH_TOKEN},
            {},
            ("auth_id", "PLIVO_AUTH_ID"),
            id="empty-id",
        ),
    ],
)
def test_missing_credentials_name_the_argument_and_the_environment_variable(
    no_plivo_env: None,
    monkeypatch: pytest.MonkeyPatch,
    kwargs: dict[str, Any],
    env: dict[str, str],
    names: tuple[str, str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigurationError) as info:
        NumLinkSession(**kwargs)
    for name in names:
        assert name in str(info.value)


def test_configuration_error_is_a_value_error_and_a_plivo_error(no_plivo_env: None) -> None:
    with pytest.raises(ConfigurationError) as info:
        NumLinkSession()
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PlivoError)


BAD_CONFIG = [
    pytest.param({"auth_id": 123}, "auth_id", id="auth-id-not-text"),
    pytest.param({"auth_id": "MA/../../x"}, "auth_id", id="auth-id-path"),
    pytest.param({"auth_id": "MA 1"}, "auth_id", id="auth-id-space"),
    pytest.param({"auth_token": 123}, "auth_token", id="auth-token-not-text"),
    pytest.param({"base_url": "api.plivo.com"}, "base_url", id="base-url-no-scheme"),
    pytest.param({"base_url": "ftp://api.plivo.com"}, "base_url", id="base-url-ftp"),
    pytest.param({"base_url": "https://api.plivo.com?x=1"}, "base_url", id="base-url-query"),
    pytest.param({"base_url": "https://u:p@api.plivo.com"}, "base_url", id="base-url-userinfo"),
    pytest.param(
        {"base_url": f"https://{AUTH_ID}:{AUTH_TOKEN}@api.plivo.com"},
        "base_url",
        id="base-url-with-the-token",
    ),
    pytest.param(
        {"base_url": f"ftp://{AUTH_ID}:{AUTH_TOKEN}@api.plivo.com"},
        "base_url",
        id="bad-scheme-with-the-token",
    ),
    pytest.param({"base_url": "https://api.plivo.com:http"}, "base_url", id="base-url-port"),
    pytest.param({"base_url": "https://[::1"}, "base_url", id="base-url-ipv6"),
    pytest.param({"base_url": 42}, "base_url", id="base-url-not-a-string"),
    pytest.param({"concurrency": 0}, "concurrency", id="concurrency-zero"),
    pytest.param({"concurrency": -3}, "concurrency", id="concurrency-negative"),
    pytest.param({"concurrency": 2.5}, "concurrency", id="concurrency-float"),
    pytest.param({"concurrency": True}, "concurrency", id="concurrency-bool"),
    pytest.param({"concurrency": "4"}, "concurrency", id="concurrency-text"),
    pytest.param({"rate_limit": 0}, "rate_limit", id="rate-zero"),
    pytest.param({"rate_limit": -1.0}, "rate_limit", id="rate-negative"),
    pytest.param({"rate_limit": math.nan}, "rate_limit", id="rate-nan"),
    pytest.param({"rate_limit": math.inf}, "rate_limit", id="rate-inf"),
    pytest.param({"rate_limit": True}, "rate_limit", id="rate-bool"),
    pytest.param({"rate_limit": "50"}, "rate_limit", id="rate-text"),
    pytest.param({"timeout": 0}, "timeout", id="timeout-zero"),
    pytest.param({"timeout": -1}, "timeout", id="timeout-negative"),
    pytest.param({"timeout": math.inf}, "timeout", id="timeout-inf"),
    pytest.param({"timeout": None}, "timeout", id="timeout-none"),
    pytest.param({"retry": 3}, "retry", id="retry-not-a-policy"),
    pytest.param({"http_session": object()}, "http_session", id="http-session-wrong-type"),
]


def test_base_url_none_reads_the_environment_else_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # API.md, "Added in 0.2": base_url=None reads PLIVO_NUMLINK_BASE_URL (0.1 refused None).
    monkeypatch.delenv("PLIVO_NUMLINK_BASE_URL", raising=False)
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN, base_url=None)
    assert session.base_url == "https://api.plivo.com"
    assert NumLinkSession(AUTH_ID, AUTH_TOKEN).base_url == "https://api.plivo.com"
    monkeypatch.setenv("PLIVO_NUMLINK_BASE_URL", "http://127.0.0.1:8099/")
    assert NumLinkSession(AUTH_ID, AUTH_TOKEN).base_url == "http://127.0.0.1:8099"
    # An explicit base_url wins over the environment.
    explicit = NumLinkSession(AUTH_ID, AUTH_TOKEN, base_url="https://example.com")
    assert explicit.base_url == "https://example.com"
    monkeypatch.setenv("PLIVO_NUMLINK_BASE_URL", "ftp://nope")
    with pytest.raises(ConfigurationError, match="base_url"):
        NumLinkSession(AUTH_ID, AUTH_TOKEN)


@pytest.mark.parametrize(("kwargs", "name"), BAD_CONFIG)
def test_bad_configuration_is_refused_at_construction_naming_the_argument(
    kwargs: dict[str, Any], name: str
) -> None:
    arguments = {"auth_id": AUTH_ID, "auth_token": AUTH_TOKEN, **kwargs}
    with pytest.raises(ConfigurationError, match=name):
        NumLinkSession(**arguments)


@pytest.mark.parametrize(("kwargs", "name"), BAD_CONFIG)
def test_configuration_errors_never_show_the_token(kwargs: dict[str, Any], name: str) -> None:
    arguments = {"auth_id": AUTH_ID, "auth_token": AUTH_TOKEN, **kwargs}
    with pytest.raises(ConfigurationError) as info:
        NumLinkSession(**arguments)
    assert AUTH_TOKEN not in str(info.value)
    assert AUTH_TOKEN not in repr(info.value)


def test_the_configuration_is_readable_back() -> None:
    policy = RetryPolicy(attempts=2)
    session = NumLinkSession(
        AUTH_ID,
        AUTH_TOKEN,
        base_url="http://127.0.0.1:9/",
        concurrency=7,
        rate_limit=12.5,
        retry=policy,
    )
    assert session.base_url == "http://127.0.0.1:9"
    assert (session.concurrency, session.rate_limit, session.retry) == (7, 12.5, policy)


def test_rate_limit_defaults_to_the_library_default() -> None:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN)
    assert session.rate_limit == DEFAULT_RATE_LIMIT
    assert session.current_rate == DEFAULT_RATE_LIMIT


def test_rate_limit_none_turns_pacing_off() -> None:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN, rate_limit=None)
    assert session.rate_limit is None
    assert session.current_rate is None


# =============================================================================================
# The token stays secret


def test_repr_and_str_never_show_the_token() -> None:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN)
    for text in (repr(session), str(session)):
        assert AUTH_TOKEN not in text
        assert BASIC.split()[1] not in text


def test_repr_names_the_account_and_the_state() -> None:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN, rate_limit=None)
    assert AUTH_ID in repr(session)
    assert "open" in repr(session)


async def test_repr_says_closed_after_close() -> None:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN)
    await session.close()
    assert "closed" in repr(session)


# =============================================================================================
# Lifecycle


async def test_async_with_gives_the_session_and_closes_it(mock_api: Any) -> None:
    async with NumLinkSession(AUTH_ID, AUTH_TOKEN) as session:
        assert not session.closed
    assert session.closed


async def test_close_is_idempotent() -> None:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN)
    await session.close()
    await session.close()
    assert session.closed


async def test_a_closed_session_refuses_calls_and_sends_nothing(mock_api: Any) -> None:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN)
    await session.close()
    with pytest.raises(SessionClosedError, match="has been closed"):
        await session.get_number(CAMPAIGN, NUMBER)
    assert sent_count(mock_api) == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.link(CAMPAIGN, [NUMBER]),
        lambda s: s.unlink(CAMPAIGN, NUMBER),
        lambda s: s.get_number(CAMPAIGN, NUMBER),
        lambda s: s.list_numbers(CAMPAIGN),
    ],
    ids=["link", "unlink", "get_number", "list_numbers"],
)
async def test_every_call_on_a_closed_session_raises_session_closed_error(
    mock_api: Any, call: Callable[[NumLinkSession], Any]
) -> None:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN)
    await session.close()
    with pytest.raises(SessionClosedError):
        await call(session)


async def invoke(call: Callable[[NumLinkSession], Any], session: NumLinkSession) -> Any:
    """Call, and await the result when it is a coroutine (iter_* return a run object)."""
    result = call(session)
    return await result if asyncio.iscoroutine(result) else result


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.iter_link(CAMPAIGN, [NUMBER]),
        lambda s: s.iter_unlink(CAMPAIGN, [NUMBER]),
        lambda s: s.link_many(CAMPAIGN, [NUMBER]),
        lambda s: s.unlink_many(CAMPAIGN, [NUMBER]),
        lambda s: s.wait_for_numbers(CAMPAIGN, [NUMBER]),
        lambda s: s.sync(CAMPAIGN, [NUMBER]),
    ],
    ids=["iter_link", "iter_unlink", "link_many", "unlink_many", "wait_for_numbers", "sync"],
)
async def test_every_bulk_call_on_a_closed_session_raises_session_closed_error(
    mock_api: Any, call: Callable[[NumLinkSession], Any]
) -> None:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN)
    await session.close()
    with pytest.raises(SessionClosedError):
        await invoke(call, session)
    assert sent_count(mock_api) == 0


async def test_session_closed_error_is_a_plivo_error_and_a_runtime_error() -> None:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN)
    await session.close()
    with pytest.raises(PlivoError) as info:
        await session.get_number(CAMPAIGN, NUMBER)
    assert isinstance(info.value, RuntimeError)


async def test_entering_a_closed_session_raises_session_closed_error() -> None:
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN)
    await session.close()
    with pytest.raises(SessionClosedError):
        async with session:
            pass


async def test_a_session_works_without_async_with(mock_api: Any) -> None:
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN, rate_limit=None)
    try:
        assert (await session.get_number(CAMPAIGN, NUMBER)).number == NUMBER
    finally:
        await session.close()


async def test_an_owned_http_session_is_closed_with_the_session(mock_api: Any) -> None:
    async with NumLinkSession(AUTH_ID, AUTH_TOKEN) as session:
        http = session._requester._http
        assert http is not None
    assert http.closed


async def test_a_borrowed_http_session_is_used_and_never_closed(mock_api: Any) -> None:
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    async with aiohttp.ClientSession() as http:
        async with NumLinkSession(AUTH_ID, AUTH_TOKEN, http_session=http) as session:
            await session.get_number(CAMPAIGN, NUMBER)
            assert session._requester._http is http
        assert session.closed
        assert not http.closed


async def test_a_closed_borrowed_http_session_gives_a_clear_error(mock_api: Any) -> None:
    http = aiohttp.ClientSession()
    await http.close()
    session = NumLinkSession(AUTH_ID, AUTH_TOKEN, http_session=http)
    with pytest.raises(SessionClosedError, match=r"borrowed aiohttp\.ClientSession"):
        await session.get_number(CAMPAIGN, NUMBER)
    assert sent_count(mock_api) == 0


# =============================================================================================
# Request shapes


async def test_link_posts_the_normalized_numbers(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    await make_session().link(CAMPAIGN, ["+1 (212) 555-7777", "212.555.7778"])
    [(method, url, kwargs)] = sent(mock_api)
    assert (method, url) == ("POST", CAMPAIGN_URL)
    assert kwargs["json"] == {"numbers": ["12125557777", "12125557778"]}


async def test_link_returns_the_acknowledgement(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(CAMPAIGN_URL, payload=ACK, status=202)
    ack = await make_session().link(CAMPAIGN, [NUMBER])
    assert ack == LinkAck(api_id="ack-1", message=ACK["message"])


async def test_link_accepts_a_single_number_as_text(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    await make_session().link(CAMPAIGN, "+12125557777")
    assert sent(mock_api)[0][2]["json"] == {"numbers": [NUMBER]}


async def test_link_accepts_any_iterable_of_numbers(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    await make_session().link(CAMPAIGN, (n for n in ["2125557777", "2125557778"]))
    assert sent(mock_api)[0][2]["json"] == {"numbers": ["12125557777", "12125557778"]}


@pytest.mark.parametrize(
    ("url", "method", "extra"),
    [
        (None, None, {}),
        ("https://example.com/cb", None, {"url": "https://example.com/cb"}),
        (None, "get", {"method": "GET"}),
        ("https://example.com/cb", "post", {"url": "https://example.com/cb", "method": "POST"}),
    ],
)
async def test_link_sends_url_and_method_only_when_given(
    make_session: SessionFactory,
    mock_api: Any,
    url: str | None,
    method: str | None,
    extra: dict[str, str],
) -> None:
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    await make_session().link(CAMPAIGN, [NUMBER], url=url, method=method)
    assert sent(mock_api)[0][2]["json"] == {"numbers": [NUMBER], **extra}


async def test_link_with_no_numbers_is_refused_before_sending(
    make_session: SessionFactory, mock_api: Any
) -> None:
    with pytest.raises(ValueError, match="numbers is empty"):
        await make_session().link(CAMPAIGN, [])
    assert sent_count(mock_api) == 0


async def test_unlink_deletes_the_number_path_without_a_body(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.delete(number_url(), payload=ACK)
    ack = await make_session().unlink(CAMPAIGN, "(212) 555-7777")
    [(method, url, kwargs)] = sent(mock_api)
    assert (method, url) == ("DELETE", number_url())
    assert kwargs["json"] is None
    assert ack.api_id == "ack-1"


@pytest.mark.parametrize(
    ("url", "method", "body"),
    [
        ("https://example.com/cb", None, {"url": "https://example.com/cb"}),
        (None, "GET", {"method": "GET"}),
        ("http://example.com/cb", "Post", {"url": "http://example.com/cb", "method": "POST"}),
    ],
)
async def test_unlink_sends_url_and_method_as_json_when_given(
    make_session: SessionFactory,
    mock_api: Any,
    url: str | None,
    method: str | None,
    body: dict[str, str],
) -> None:
    mock_api.delete(number_url(), payload=ACK)
    await make_session().unlink(CAMPAIGN, NUMBER, url=url, method=method)
    assert sent(mock_api)[0][2]["json"] == body


async def test_get_number_gets_the_number_path(make_session: SessionFactory, mock_api: Any) -> None:
    mock_api.get(number_url(), payload=numbers_body(NUMBER, status="PROCESSING"))
    status = await make_session().get_number(CAMPAIGN, "+1 212 555 7777")
    [(method, url, _)] = sent(mock_api)
    assert (method, url) == ("GET", number_url())
    assert status == NumberStatus(NUMBER, LinkStatus.PROCESSING)


async def test_get_number_picks_the_asked_number_from_several(
    make_session: SessionFactory, mock_api: Any
) -> None:
    body = numbers_body("12125550000", NUMBER)
    body["phone_numbers"][1]["status"] = "FAILED"
    mock_api.get(number_url(), payload=body)
    assert (await make_session().get_number(CAMPAIGN, NUMBER)).status is LinkStatus.FAILED


@pytest.mark.parametrize("written", ["+12125557777", "2125557777", 12125557777])
async def test_get_number_accepts_the_number_written_another_way_and_normalizes_it(
    make_session: SessionFactory, mock_api: Any, written: object
) -> None:
    body = numbers_body()
    body["phone_numbers"] = [{"number": written, "status": "COMPLETED"}]
    mock_api.get(number_url(), payload=body)
    status = await make_session().get_number(CAMPAIGN, NUMBER)
    assert status.number == NUMBER


async def test_get_number_refuses_an_answer_about_another_number(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), payload=numbers_body("12125550000"))
    with pytest.raises(ResponseFormatError, match=NUMBER):
        await make_session().get_number(CAMPAIGN, NUMBER)


async def test_get_number_with_no_status_in_the_answer_is_a_format_error(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), payload=numbers_body())
    with pytest.raises(ResponseFormatError, match="lists no status"):
        await make_session().get_number(CAMPAIGN, NUMBER)


async def test_get_number_keeps_an_unknown_status(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), payload=numbers_body(NUMBER, status="ON_HOLD"))
    status = await make_session().get_number(CAMPAIGN, NUMBER)
    assert (status.status, status.raw_status) == (LinkStatus.UNKNOWN, "ON_HOLD")


async def test_list_numbers_asks_for_pages_with_limit_and_offset(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(list_url(0), payload=page_of(0, 20))
    mock_api.get(list_url(20), payload=page_of(20, 0))
    await make_session().list_numbers(CAMPAIGN)
    (method, url, kwargs), (_, _, next_kwargs) = sent(mock_api)
    assert (method, url) == ("GET", list_url(0))
    assert kwargs["params"] == {"limit": "20", "offset": "0"}
    assert kwargs["json"] is None
    assert next_kwargs["params"] == {"limit": "20", "offset": "20"}


async def test_a_short_first_page_is_not_taken_as_the_end(
    make_session: SessionFactory, mock_api: Any
) -> None:
    # Servers may cap pages below the limit asked for: only an empty page proves the end.
    mock_api.get(list_url(0), payload=numbers_body(NUMBER))
    mock_api.get(list_url(1), payload=numbers_body())
    campaign = await make_session().list_numbers(CAMPAIGN)
    assert [entry.number for entry in campaign] == [NUMBER]
    assert sent_count(mock_api) == 2


async def test_list_numbers_of_an_empty_campaign_is_one_request(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(list_url(0), payload=numbers_body())
    campaign = await make_session().list_numbers(CAMPAIGN)
    assert (campaign.campaign_id, campaign.phone_numbers) == (CAMPAIGN, ())
    assert sent_count(mock_api) == 1


async def test_list_numbers_gathers_every_page(make_session: SessionFactory, mock_api: Any) -> None:
    mock_api.get(list_url(0), payload=page_of(0, 20))
    mock_api.get(list_url(20), payload=page_of(20, 20))
    mock_api.get(list_url(40), payload=page_of(40, 3))
    campaign = await make_session().list_numbers(CAMPAIGN)
    assert [entry.number for entry in campaign] == [f"1212555{i:04d}" for i in range(43)]
    assert sent_count(mock_api) == 3


async def test_list_numbers_keeps_the_campaign_fields_of_the_first_page(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(list_url(0), payload=numbers_body(NUMBER))
    mock_api.get(list_url(1), payload={"phone_numbers": []})
    campaign = await make_session().list_numbers(CAMPAIGN)
    assert campaign == CampaignNumbers(
        api_id="list-1",
        campaign_id=CAMPAIGN,
        campaign_alias="alias",
        usecase="MIXED",
        phone_numbers=(NumberStatus(NUMBER, LinkStatus.COMPLETED),),
    )


async def test_list_numbers_stops_on_an_empty_page(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(list_url(0), payload=page_of(0, 20))
    mock_api.get(list_url(20), payload=page_of(20, 0))
    campaign = await make_session().list_numbers(CAMPAIGN)
    assert len(campaign) == 20
    assert sent_count(mock_api) == 2


async def test_list_numbers_follows_pages_capped_below_the_limit(
    make_session: SessionFactory, mock_api: Any
) -> None:
    # The server answers 5 at a time although 20 were asked for.
    mock_api.get(list_url(0), payload=page_of(0, 5))
    mock_api.get(list_url(5), payload=page_of(5, 5))
    mock_api.get(list_url(10), payload=page_of(10, 2))
    campaign = await make_session().list_numbers(CAMPAIGN)
    assert len(campaign) == 12


async def test_list_numbers_stops_when_a_page_adds_nothing_new(
    make_session: SessionFactory, mock_api: Any
) -> None:
    # A server that ignores the offset sends the same numbers again.
    mock_api.get(list_url(0), payload=page_of(0, 20))
    mock_api.get(list_url(20), payload=page_of(0, 20))
    campaign = await make_session().list_numbers(CAMPAIGN)
    assert len(campaign) == 20
    assert sent_count(mock_api) == 2


async def test_list_numbers_reports_a_number_seen_on_two_pages_once(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(list_url(0), payload=page_of(0, 20))
    mock_api.get(list_url(20), payload=page_of(19, 20))  # overlaps by one
    mock_api.get(list_url(40), payload=page_of(39, 1))
    campaign = await make_session().list_numbers(CAMPAIGN)
    numbers = [entry.number for entry in campaign]
    assert numbers == sorted(set(numbers))
    assert len(numbers) == 40


async def test_iter_pages_yields_each_page_with_the_page_size_asked(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(list_url(0, limit=2), payload=page_of(0, 2))
    mock_api.get(list_url(2, limit=2), payload=page_of(2, 1))
    pages = [page async for page in make_session().iter_pages(CAMPAIGN, page_size=2)]
    assert [len(page) for page in pages] == [2, 1]


@pytest.mark.parametrize("page_size", [0, -1, True, 1.5])
async def test_iter_pages_refuses_a_page_size_that_is_not_a_positive_integer(
    make_session: SessionFactory, mock_api: Any, page_size: Any
) -> None:
    with pytest.raises(ValueError, match="page_size"):
        async for _ in make_session().iter_pages(CAMPAIGN, page_size=page_size):
            pass
    assert sent_count(mock_api) == 0


async def test_every_request_carries_auth_accept_and_user_agent(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    await make_session().get_number(CAMPAIGN, NUMBER)
    headers = sent(mock_api)[0][2]["headers"]
    assert headers["Authorization"] == BASIC
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"] == user_agent()


async def test_redirects_are_not_followed(make_session: SessionFactory, mock_api: Any) -> None:
    # Following a redirect could carry the credentials to another host.
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    await make_session().get_number(CAMPAIGN, NUMBER)
    assert sent(mock_api)[0][2]["allow_redirects"] is False


async def test_a_base_url_path_prefix_is_kept(make_session: SessionFactory, mock_api: Any) -> None:
    prefix = "https://proxy.example.com/plivo"
    url = f"{prefix}/v1/Account/{AUTH_ID}/10dlc/Campaign/{CAMPAIGN}/Number/{NUMBER}/"
    mock_api.get(url, payload=numbers_body(NUMBER))
    await make_session(base_url=prefix + "/").get_number(CAMPAIGN, NUMBER)
    assert sent(mock_api)[0][1] == url


async def test_requests_sent_counts_every_attempt(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), status=503)
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    session = make_session()
    await session.get_number(CAMPAIGN, NUMBER)
    assert session.requests_sent == 2


# =============================================================================================
# Input safety: nothing is sent for bad input

BAD_CAMPAIGNS = [
    "../../Account",
    "..",
    "%2e%2e",
    "CUOG/HIN",
    "CUOGHIN?x=1",
    "CUOGHIN#x",
    "CUOG HIN",
    "CUOGHIN\x00",
    "CUOGHIN\n",
    "١٢٣",
    "C" * 65,
    "",
]

CALLS: dict[str, Callable[[NumLinkSession, str, str], Any]] = {
    "link": lambda s, c, n: s.link(c, [n]),
    "unlink": lambda s, c, n: s.unlink(c, n),
    "get_number": lambda s, c, n: s.get_number(c, n),
}
CAMPAIGN_CALLS = {**CALLS, "list_numbers": lambda s, c, n: s.list_numbers(c)}


@pytest.mark.parametrize("campaign_id", BAD_CAMPAIGNS)
@pytest.mark.parametrize("call", list(CAMPAIGN_CALLS))
async def test_a_bad_campaign_id_is_refused_before_sending(
    make_session: SessionFactory, mock_api: Any, call: str, campaign_id: str
) -> None:
    with pytest.raises(ValueError, match="campaign_id"):
        await CAMPAIGN_CALLS[call](make_session(), campaign_id, NUMBER)
    assert sent_count(mock_api) == 0


BAD_NUMBERS = [
    "../12125557777",
    "12125557777/..",
    "%2e%2e",
    "12125557777?x=1",
    "12125557777#x",
    "1212 555 7777/",
    "12125557777\x00",
    "12125557777\r\nX: y",
    "١٢١٢٥٥٥٧٧٧٧",
    "1" * 5000,
    "",
    "555-7777",
]


@pytest.mark.parametrize("number", BAD_NUMBERS)
@pytest.mark.parametrize("call", list(CALLS))
async def test_a_bad_number_is_refused_before_sending(
    make_session: SessionFactory, mock_api: Any, call: str, number: str
) -> None:
    with pytest.raises(InvalidNumberError):
        await CALLS[call](make_session(), CAMPAIGN, number)
    assert sent_count(mock_api) == 0


async def test_one_bad_number_in_a_link_stops_the_whole_request(
    make_session: SessionFactory, mock_api: Any
) -> None:
    with pytest.raises(InvalidNumberError, match="'oops'"):
        await make_session().link(CAMPAIGN, [NUMBER, "oops"])
    assert sent_count(mock_api) == 0


@pytest.mark.parametrize(
    ("url", "method", "complaint"),
    [
        ("ftp://example.com/cb", None, "url"),
        ("/relative", None, "url"),
        ("https://example.com/c b", None, "url"),
        (None, "PUT", "method"),
        (None, "", "method"),
    ],
)
@pytest.mark.parametrize("call", ["link", "unlink"])
async def test_a_bad_callback_is_refused_before_sending(
    make_session: SessionFactory,
    mock_api: Any,
    call: str,
    url: str | None,
    method: str | None,
    complaint: str,
) -> None:
    session = make_session()
    send = session.link if call == "link" else session.unlink
    number: Any = [NUMBER] if call == "link" else NUMBER
    with pytest.raises(ValueError, match=complaint):
        await send(CAMPAIGN, number, url=url, method=method)
    assert sent_count(mock_api) == 0


# =============================================================================================
# Errors


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (405, BadRequestError),
        (409, BadRequestError),
        (422, BadRequestError),
        (501, ServerError),
    ],
)
async def test_a_non_retryable_status_raises_its_error_after_one_attempt(
    make_session: SessionFactory, mock_api: Any, status: int, cls: type[APIStatusError]
) -> None:
    mock_api.post(CAMPAIGN_URL, status=status, payload={"api_id": "e-1", "error": "nope"})
    with pytest.raises(cls) as info:
        await make_session().link(CAMPAIGN, [NUMBER])
    assert info.value.status_code == status
    assert sent_count(mock_api) == 1


async def test_a_status_error_carries_plivo_s_message_api_id_and_body(
    make_session: SessionFactory, mock_api: Any
) -> None:
    body = {"api_id": "e-42", "error": f"The number {NUMBER} is not linked to this campaign"}
    mock_api.delete(number_url(), status=404, payload=body)
    with pytest.raises(NotFoundError) as info:
        await make_session().unlink(CAMPAIGN, NUMBER)
    error = info.value
    assert (error.api_id, error.message, error.body) == ("e-42", body["error"], body)
    assert (error.method, error.path) == ("DELETE", NUMBER_TEMPLATE)


async def test_a_status_error_message_names_the_status_and_the_path_template(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(CAMPAIGN_URL, status=400, payload={"error": "bad"})
    with pytest.raises(BadRequestError, match=r"HTTP 400 \(POST /v1/Account/\{auth_id\}"):
        await make_session().link(CAMPAIGN, [NUMBER])


async def test_a_retryable_status_raises_its_error_after_the_last_attempt(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), status=503, body="<html>down</html>", repeat=True)
    with pytest.raises(ServerError) as info:
        await make_session().get_number(CAMPAIGN, NUMBER)
    assert info.value.status_code == 503
    assert info.value.text == "<html>down</html>"
    assert sent_count(mock_api) == 3


async def test_a_connection_failure_becomes_a_transport_error_with_the_cause_chained(
    make_session: SessionFactory, mock_api: Any
) -> None:
    cause = aiohttp.ClientConnectionError("connection reset")
    mock_api.get(number_url(), exception=cause, repeat=True)
    with pytest.raises(TransportError) as info:
        await make_session().get_number(CAMPAIGN, NUMBER)
    assert info.value.__cause__ is cause
    assert (info.value.method, info.value.path) == ("GET", NUMBER_TEMPLATE)
    assert "connection reset" in str(info.value)
    assert sent_count(mock_api) == 3


async def test_a_timeout_becomes_a_transport_error_with_the_cause_chained(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), exception=asyncio.TimeoutError(), repeat=True)
    with pytest.raises(TransportError, match="timed out after 2 s") as info:
        await make_session(timeout=2).get_number(CAMPAIGN, NUMBER)
    assert isinstance(info.value.__cause__, asyncio.TimeoutError)
    assert sent_count(mock_api) == 3


async def test_transport_error_is_a_plivo_error_not_a_status_error(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), exception=aiohttp.ClientConnectionError(), repeat=True)
    with pytest.raises(PlivoError) as info:
        await make_session().get_number(CAMPAIGN, NUMBER)
    assert not isinstance(info.value, APIStatusError)


@pytest.mark.parametrize(
    "body",
    [
        # An empty 2xx body is an acceptance for link (test_bad_input specifies it).
        pytest.param("<html><body>Oops</body></html>", id="html"),
        pytest.param('{"api_id": "a", "mess', id="truncated"),
        pytest.param("[1, 2]", id="array"),
        pytest.param('{"api_id": 7}', id="wrong-type"),
    ],
)
async def test_a_malformed_success_body_is_a_format_error_and_not_retried(
    make_session: SessionFactory, mock_api: Any, body: str
) -> None:
    mock_api.post(CAMPAIGN_URL, status=202, body=body, repeat=True)
    with pytest.raises(ResponseFormatError) as info:
        await make_session().link(CAMPAIGN, [NUMBER])
    assert (info.value.status_code, info.value.text) == (202, body)
    assert sent_count(mock_api) == 1


async def test_a_malformed_page_is_a_format_error(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(list_url(0), payload={"phone_numbers": [{"number": NUMBER, "status": None}]})
    with pytest.raises(ResponseFormatError, match="phone_numbers"):
        await make_session().list_numbers(CAMPAIGN)


async def test_an_answer_larger_than_the_limit_is_not_read(
    make_session: SessionFactory, mock_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_module, "MAX_BODY_BYTES", 64)
    mock_api.post(CAMPAIGN_URL, body="x" * 100)
    with pytest.raises(ResponseFormatError, match="larger than 64 bytes"):
        await make_session().link(CAMPAIGN, [NUMBER])


async def test_an_answer_announcing_a_length_over_the_limit_is_not_read(
    make_session: SessionFactory, mock_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_module, "MAX_BODY_BYTES", 64)
    mock_api.post(CAMPAIGN_URL, body="{}", headers={"Content-Length": "1000000"})
    with pytest.raises(ResponseFormatError, match="larger than 64 bytes"):
        await make_session().link(CAMPAIGN, [NUMBER])


async def test_an_answer_in_an_unknown_charset_is_read_as_utf8(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(
        CAMPAIGN_URL,
        body='{"api_id": "a", "message": "re\u00e7u"}'.encode(),
        content_type="application/json; charset=x-no-such-charset",
    )
    assert (await make_session().link(CAMPAIGN, [NUMBER])).message == "re\u00e7u"


async def test_an_answer_in_a_declared_charset_is_decoded_with_it(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(
        CAMPAIGN_URL,
        body='{"api_id": "a", "message": "re\u00e7u"}'.encode("latin-1"),
        content_type="application/json; charset=latin-1",
    )
    assert (await make_session().link(CAMPAIGN, [NUMBER])).message == "re\u00e7u"


# =============================================================================================
# Retries


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_a_retryable_status_is_retried_until_success(
    make_session: SessionFactory, mock_api: Any, status: int
) -> None:
    mock_api.post(CAMPAIGN_URL, status=status, payload={"error": "later"})
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    assert (await make_session().link(CAMPAIGN, [NUMBER])).api_id == "ack-1"
    assert sent_count(mock_api) == 2


async def test_a_connection_error_is_retried_until_success(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(CAMPAIGN_URL, exception=aiohttp.ServerDisconnectedError())
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    assert (await make_session().link(CAMPAIGN, [NUMBER])).api_id == "ack-1"


async def test_a_timeout_is_retried_until_success(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), exception=asyncio.TimeoutError())
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    assert (await make_session().get_number(CAMPAIGN, NUMBER)).number == NUMBER


async def test_a_retry_resends_the_same_request(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(CAMPAIGN_URL, status=500)
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    await make_session().link(CAMPAIGN, [NUMBER], url="https://example.com/cb")
    first, second = sent(mock_api)
    assert first == second


async def test_one_attempt_means_no_retry(make_session: SessionFactory, mock_api: Any) -> None:
    mock_api.get(number_url(), status=503, repeat=True)
    with pytest.raises(ServerError):
        await make_session(retry=RetryPolicy(attempts=1)).get_number(CAMPAIGN, NUMBER)
    assert sent_count(mock_api) == 1


async def test_attempts_count_every_try(make_session: SessionFactory, mock_api: Any) -> None:
    mock_api.get(number_url(), status=503, repeat=True)
    policy = RetryPolicy(attempts=5, wait_initial=0, wait_max=0)
    with pytest.raises(ServerError):
        await make_session(retry=policy).get_number(CAMPAIGN, NUMBER)
    assert sent_count(mock_api) == 5


async def test_backoff_grows_exponentially_up_to_wait_max(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), status=503, repeat=True)
    sleep = SleepRecorder()
    policy = RetryPolicy(attempts=5, wait_initial=1, wait_max=3, jitter=0)
    with pytest.raises(ServerError):
        await make_session(retry=policy, sleep=sleep).get_number(CAMPAIGN, NUMBER)
    assert sleep.waits == [1.0, 2.0, 3.0, 3.0]


async def test_backoff_has_jitter_within_its_band(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), status=503, repeat=True)
    sleep = SleepRecorder()
    policy = RetryPolicy(attempts=4, wait_initial=1, wait_max=8, jitter=0.25)
    with pytest.raises(ServerError):
        await make_session(retry=policy, sleep=sleep).get_number(CAMPAIGN, NUMBER)
    for wait, base in zip(sleep.waits, [1.0, 2.0, 4.0], strict=True):
        assert 0.75 * base <= wait <= base


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": "0.25"}, 0.25),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
    ],
)
async def test_retry_after_replaces_the_backoff(
    make_session: SessionFactory, mock_api: Any, headers: dict[str, str], wait: float
) -> None:
    mock_api.post(CAMPAIGN_URL, status=429, payload={"error": "Too many"}, headers=headers)
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    sleep = SleepRecorder()
    policy = RetryPolicy(attempts=3, wait_initial=5, wait_max=5)
    await make_session(retry=policy, sleep=sleep).link(CAMPAIGN, [NUMBER])
    assert sleep.waits == [pytest.approx(wait)]


async def test_retry_after_is_honoured_on_a_503_too(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), status=503, headers={"Retry-After": "4"})
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    sleep = SleepRecorder()
    await make_session(sleep=sleep).get_number(CAMPAIGN, NUMBER)
    assert sleep.waits == [4.0]


async def test_a_retry_after_longer_than_the_cap_is_not_slept(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(CAMPAIGN_URL, status=429, headers={"Retry-After": "61"}, repeat=True)
    sleep = SleepRecorder()
    policy = RetryPolicy(attempts=3, max_retry_after=60)
    with pytest.raises(RateLimitError) as info:
        await make_session(retry=policy, sleep=sleep).link(CAMPAIGN, [NUMBER])
    assert info.value.retry_after == 61.0
    assert sleep.waits == []
    assert sent_count(mock_api) == 1


async def test_a_retry_after_at_the_cap_is_slept(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(CAMPAIGN_URL, status=429, headers={"Retry-After": "60"})
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    sleep = SleepRecorder()
    policy = RetryPolicy(attempts=3, max_retry_after=60)
    await make_session(retry=policy, sleep=sleep).link(CAMPAIGN, [NUMBER])
    assert sleep.waits == [60.0]


async def test_a_refused_retry_after_does_not_stall_later_requests(
    make_session: SessionFactory, mock_api: Any
) -> None:
    # The server asks for an hour; the policy allows 5 s. The call fails at once, and the
    # next call of the same session must not sit out the hour in the rate limiter either.
    mock_api.post(CAMPAIGN_URL, status=429, headers={"Retry-After": "3600"})
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    sleep = SleepRecorder()
    policy = RetryPolicy(attempts=3, max_retry_after=5)
    session = make_session(retry=policy, sleep=sleep, rate_limit=100)
    with pytest.raises(RateLimitError):
        await session.link(CAMPAIGN, [NUMBER])
    await session.get_number(CAMPAIGN, NUMBER)
    assert sleep.waits
    assert max(sleep.waits) <= 5.0


async def test_the_library_s_own_errors_are_never_retried(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), body="not json", repeat=True)
    sleep = SleepRecorder()
    with pytest.raises(ResponseFormatError):
        await make_session(sleep=sleep).get_number(CAMPAIGN, NUMBER)
    assert sleep.waits == []


async def test_a_session_closed_while_backing_off_stops_retrying(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), status=503, repeat=True)
    sessions: list[Any] = []

    async def close_instead_of_sleeping(seconds: float) -> None:
        await sessions[0].close()

    session = make_session(sleep=close_instead_of_sleeping)
    sessions.append(session)
    with pytest.raises(SessionClosedError):
        await session.get_number(CAMPAIGN, NUMBER)
    assert sent_count(mock_api) == 1


async def test_a_spent_retry_quota_stops_retrying_and_says_so(
    make_session: SessionFactory, mock_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="plivo_numlink")
    mock_api.get(number_url(), status=503, repeat=True)
    session = make_session()
    session.retry_quota.available = 0
    with pytest.raises(ServerError):
        await session.get_number(CAMPAIGN, NUMBER)
    assert sent_count(mock_api) == 1
    assert any("retry quota is spent" in r.getMessage() for r in caplog.records)


async def test_retries_after_a_429_cost_no_retry_quota(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), status=429)
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    session = make_session()
    session.retry_quota.available = 0
    assert (await session.get_number(CAMPAIGN, NUMBER)).number == NUMBER


# =============================================================================================
# The machinery the bulk layer builds on


async def test_link_many_sends_through_the_session_and_counts_attempts(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(CAMPAIGN_URL, status=503)
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    report = await make_session().link_many(CAMPAIGN, ["+1 212 555 7777"])
    [outcome] = report.outcomes
    assert (outcome.number, outcome.ok, outcome.attempts) == (NUMBER, True, 2)
    assert sent(mock_api)[0][2]["json"] == {"numbers": [NUMBER]}


async def test_unlink_many_sends_through_the_session(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.delete(number_url(), payload=ACK)
    report = await make_session().unlink_many(CAMPAIGN, [NUMBER])
    assert report.ok
    assert [(m, u) for m, u, _ in sent(mock_api)] == [("DELETE", number_url())]


async def test_a_gate_that_refuses_stops_the_attempt_before_sending(
    make_session: SessionFactory, mock_api: Any
) -> None:
    class Stopped(Exception):
        pass

    def gate() -> None:
        raise Stopped

    session = make_session()
    with pytest.raises(Stopped):
        await session._requester.request(
            "GET", NUMBER_TEMPLATE, number_url()[len(BASE) :], gate=gate
        )
    assert sent_count(mock_api) == 0
    assert session.requests_sent == 0


async def test_a_job_counting_its_attempts_sees_every_retry_of_its_calls(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), status=503)
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    session = make_session()
    counted = session._requester.sent.child()
    path = number_url()[len(BASE) :]
    await session._requester.request("GET", NUMBER_TEMPLATE, path, counter=counted)
    assert counted.count == 2
    assert session.requests_sent == 2


async def test_call_stats_count_every_attempt_of_a_call(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), exception=aiohttp.ClientConnectionError())
    mock_api.get(number_url(), status=500)
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    session = make_session()
    stats = AttemptCounter(session._requester.sent)
    answer = await session._requester.request(
        "GET", NUMBER_TEMPLATE, number_url()[len(BASE) :], counter=stats
    )
    assert (stats.count, session.requests_sent) == (3, 3)
    assert answer.status == 200


# =============================================================================================
# Concurrency and pacing


async def test_a_request_waiting_out_a_backoff_does_not_hold_a_concurrency_slot(
    make_session: SessionFactory, mock_api: Any
) -> None:
    backing_off = asyncio.Event()
    release = asyncio.Event()

    async def blocking_sleep(seconds: float) -> None:
        backing_off.set()
        await release.wait()

    session = make_session(concurrency=1, sleep=blocking_sleep)
    mock_api.get(number_url(), status=503)
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    mock_api.get(number_url("12125550000"), payload=numbers_body("12125550000"))

    first = asyncio.create_task(session.get_number(CAMPAIGN, NUMBER))
    await asyncio.wait_for(backing_off.wait(), 1)
    # The only slot is free while the first call backs off: the second goes through.
    other = await asyncio.wait_for(session.get_number(CAMPAIGN, "12125550000"), 1)
    assert other.number == "12125550000"
    assert not first.done()
    release.set()
    assert (await first).number == NUMBER


async def test_no_more_requests_are_in_flight_than_the_concurrency(
    make_session: SessionFactory, mock_api: Any
) -> None:
    in_flight = 0
    most = 0
    release = asyncio.Event()

    async def hold(url: Any, **kwargs: Any) -> CallbackResult:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await release.wait()
        in_flight -= 1
        return CallbackResult(payload=numbers_body(NUMBER))

    mock_api.get(number_url(), callback=hold, repeat=True)
    session = make_session(concurrency=3)
    tasks = [asyncio.create_task(session.get_number(CAMPAIGN, NUMBER)) for _ in range(10)]
    for _ in range(50):
        await asyncio.sleep(0)
    assert in_flight == 3
    release.set()
    await asyncio.gather(*tasks)
    assert most == 3


async def test_starts_are_paced_by_the_session_rate(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), payload=numbers_body(NUMBER), repeat=True)
    sleep = SleepRecorder()
    session = make_session(rate_limit=10, sleep=sleep, clock=lambda: 100.0)
    await asyncio.gather(*(session.get_number(CAMPAIGN, NUMBER) for _ in range(4)))
    # The first starts at once, the others wait for slots 0.1 s apart.
    assert sleep.waits == pytest.approx([0.1, 0.2, 0.3])


async def test_a_429_slows_the_session_down(make_session: SessionFactory, mock_api: Any) -> None:
    mock_api.post(CAMPAIGN_URL, status=429, payload={"error": "Too many requests"})
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    session = make_session(rate_limit=20, sleep=SleepRecorder())
    await session.link(CAMPAIGN, [NUMBER])
    assert session.current_rate == pytest.approx(14.0)


async def test_a_429_with_retry_after_pauses_the_next_start(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.post(CAMPAIGN_URL, status=429, headers={"Retry-After": "3"})
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    sleep = SleepRecorder()
    await make_session(rate_limit=20, sleep=sleep).link(CAMPAIGN, [NUMBER])
    # The retry waits 3 s; the injected sleep does not let time pass, so the limiter's own
    # pause (also 3 s from the 429) is still to be waited out when the retry starts.
    assert sleep.waits[0] == 3.0
    assert sleep.waits[1] == pytest.approx(3.0, abs=0.05)


# =============================================================================================
# Logging, and the token nowhere in it


def all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        parts.append(repr(record.__dict__))
    parts.append(caplog.text)
    return "\n".join(parts)


async def test_a_retry_is_logged_with_method_path_template_and_attempt(
    make_session: SessionFactory, mock_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="plivo_numlink")
    mock_api.post(CAMPAIGN_URL, status=503, payload={"error": "unavailable"})
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    await make_session().link(CAMPAIGN, [NUMBER])
    [record] = [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert record.name == "plivo_numlink"
    assert record.levelno == logging.DEBUG
    message = record.getMessage()
    assert f"POST {CAMPAIGN_TEMPLATE}" in message
    assert "attempt 1/3" in message
    assert "HTTP 503: unavailable" in message


async def test_each_retry_is_logged_with_its_attempt_number(
    make_session: SessionFactory, mock_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="plivo_numlink")
    mock_api.get(number_url(), exception=aiohttp.ClientConnectionError("reset"))
    mock_api.get(number_url(), exception=aiohttp.ClientConnectionError("reset"))
    mock_api.get(number_url(), payload=numbers_body(NUMBER))
    await make_session().get_number(CAMPAIGN, NUMBER)
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert ["attempt 1/3" in retries[0], "attempt 2/3" in retries[1]] == [True, True]
    assert all(f"GET {NUMBER_TEMPLATE}" in m for m in retries)
    assert all("ClientConnectionError: reset" in m for m in retries)


async def test_giving_up_is_logged_as_a_warning(
    make_session: SessionFactory, mock_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="plivo_numlink")
    mock_api.get(number_url(), status=502, repeat=True)
    with pytest.raises(ServerError):
        await make_session().get_number(CAMPAIGN, NUMBER)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"giving up on GET {NUMBER_TEMPLATE} after 3 attempt(s)" in warning.getMessage()


async def test_a_plain_client_error_is_not_logged(
    make_session: SessionFactory, mock_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="plivo_numlink")
    mock_api.get(number_url(), status=404, payload={"error": "not linked"})
    with pytest.raises(NotFoundError):
        await make_session().get_number(CAMPAIGN, NUMBER)
    assert caplog.records == []


async def test_the_token_appears_in_no_log_record_through_retries_failures_and_errors(
    make_session: SessionFactory, mock_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mock_api.post(CAMPAIGN_URL, status=429, headers={"Retry-After": "0"})
    mock_api.post(CAMPAIGN_URL, status=503)
    mock_api.post(CAMPAIGN_URL, payload=ACK)
    mock_api.get(number_url(), exception=aiohttp.ClientConnectionError("reset"), repeat=True)
    mock_api.delete(number_url(), status=401, payload={"error": "Authentication failed"})
    mock_api.get(list_url(0), status=500, repeat=True)
    session = make_session(rate_limit=1000, sleep=SleepRecorder())
    await session.link(CAMPAIGN, [NUMBER])
    with pytest.raises(TransportError):
        await session.get_number(CAMPAIGN, NUMBER)
    with pytest.raises(AuthenticationError):
        await session.unlink(CAMPAIGN, NUMBER)
    with pytest.raises(ServerError):
        await session.list_numbers(CAMPAIGN)
    assert len(caplog.records) >= 6
    text = all_log_text(caplog)
    assert AUTH_TOKEN not in text
    assert BASIC.split()[1] not in text


async def test_the_token_appears_in_no_exception_message(
    make_session: SessionFactory, mock_api: Any
) -> None:
    mock_api.get(number_url(), exception=aiohttp.ClientConnectionError("reset"), repeat=True)
    mock_api.delete(number_url(), status=401, payload={"error": "Authentication failed"})
    mock_api.post(CAMPAIGN_URL, body="<html>", status=200)
    session = make_session()
    errors: list[BaseException] = []
    for call in (
        session.get_number(CAMPAIGN, NUMBER),
        session.unlink(CAMPAIGN, NUMBER),
        session.link(CAMPAIGN, [NUMBER]),
    ):
        with pytest.raises(PlivoError) as info:
            await call
        errors.append(info.value)
    for error in errors:
        for text in (str(error), repr(error), str(error.__cause__), repr(error.__cause__)):
            assert AUTH_TOKEN not in text
            assert BASIC.split()[1] not in text


@pytest.fixture
def fresh_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from no registered secrets: other tests' (even a token like "test") are global
    and would mask words in these tests' messages too."""
    monkeypatch.setattr(log_module, "_secrets", set())


@pytest.mark.usefixtures("fresh_secrets")
def test_a_token_logged_by_a_caller_on_the_library_logger_is_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    NumLinkSession(AUTH_ID, AUTH_TOKEN)  # registers the token
    caplog.set_level(logging.DEBUG, logger="plivo_numlink")
    logging.getLogger("plivo_numlink").info("using token %s for %s", AUTH_TOKEN, AUTH_ID)
    [record] = caplog.records
    assert record.getMessage() == f"using token *** for {AUTH_ID}"


@pytest.mark.usefixtures("fresh_secrets")
def test_a_token_in_a_logged_exception_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    NumLinkSession(AUTH_ID, AUTH_TOKEN)
    caplog.set_level(logging.DEBUG, logger="plivo_numlink")
    try:
        raise RuntimeError(f"bad token {AUTH_TOKEN}")
    except RuntimeError:
        logging.getLogger("plivo_numlink").exception("failed")
    assert AUTH_TOKEN not in caplog.text
    assert "bad token ***" in caplog.text


@pytest.mark.usefixtures("fresh_secrets")
def test_a_logged_exception_without_secrets_is_left_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    NumLinkSession(AUTH_ID, AUTH_TOKEN)
    caplog.set_level(logging.DEBUG, logger="plivo_numlink")
    try:
        raise RuntimeError("harmless")
    except RuntimeError:
        logging.getLogger("plivo_numlink").exception("failed")
    [record] = caplog.records
    assert record.exc_info is not None


@pytest.mark.usefixtures("fresh_secrets")
def test_a_format_mistake_on_the_library_logger_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    NumLinkSession(AUTH_ID, AUTH_TOKEN)
    caplog.set_level(logging.DEBUG, logger="plivo_numlink")
    logging.getLogger("plivo_numlink").warning("%d numbers", "many")
    [record] = caplog.records
    assert "%d numbers" in record.getMessage()
    assert "many" in record.getMessage()


@pytest.mark.usefixtures("fresh_secrets")
def test_a_format_mistake_does_not_leak_the_token(caplog: pytest.LogCaptureFixture) -> None:
    NumLinkSession(AUTH_ID, AUTH_TOKEN)
    caplog.set_level(logging.DEBUG, logger="plivo_numlink")
    logging.getLogger("plivo_numlink").warning("%d tries with %s", "x", AUTH_TOKEN)
    assert AUTH_TOKEN not in all_log_text(caplog)


@pytest.mark.usefixtures("fresh_secrets")
def test_the_filter_masks_every_registered_secret() -> None:
    register_secret("first-secret-value")
    register_secret("second-secret-value")
    record = logging.LogRecord(
        "plivo_numlink", logging.INFO, __file__, 1, "%s and %s",
        ("first-secret-value", "second-secret-value"), None,
    )  # fmt: skip
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "*** and ***"


@pytest.mark.usefixtures("fresh_secrets")
def test_the_filter_leaves_records_without_secrets_unchanged() -> None:
    register_secret("some-secret-value")
    record = logging.LogRecord("plivo_numlink", logging.INFO, __file__, 1, "%d numbers", (3,), None)
    RedactingFilter().filter(record)
    assert (record.msg, record.args) == ("%d numbers", (3,))


def test_the_filter_does_nothing_when_no_secret_is_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(log_module, "_secrets", set())
    record = logging.LogRecord("plivo_numlink", logging.INFO, __file__, 1, "%s", ("x",), None)
    assert RedactingFilter().filter(record) is True
    assert record.args == ("x",)


def test_secrets_too_short_to_mask_safely_are_not_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(log_module, "_secrets", set())
    register_secret("abc")
    assert log_module._secrets == set()


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (None, "no error"),
        (ServerError("down", status_code=503), "HTTP 503: down"),
        (TransportError("plain"), "TransportError: plain"),
    ],
)
def test_short_reason_describes_a_failure_in_one_line(
    exc: BaseException | None, reason: str
) -> None:
    assert _short_reason(exc) == reason
