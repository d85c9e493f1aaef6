"""Observability: OpenTelemetry traces and metrics at one seam, and the session's counters.

The only module that touches OpenTelemetry. It is imported lazily (``opentelemetry-api``
is the optional ``plivo-numlink[otel]`` extra): ``import plivo_numlink`` never imports it,
and with it absent :func:`load` returns ``None`` and nothing is recorded. Callers hold a
:class:`Telemetry` or ``None``; ``None`` (the default when no SDK is configured) costs the
hot path one ``is None`` check per attempt and nothing else.

What is recorded (docs/observability.md lists it for users):

- one CLIENT span per HTTP attempt, ``{METHOD} {url.template}``, by the HTTP client
  semantic conventions (:class:`Attempt`, opened by the transport after the retry loop
  and the rate limiter, so each retry is its own span with ``http.request.resend_count``);
- one INTERNAL span per public call, ``plivo_numlink.<call>`` (:class:`Call`), the
  ancestor of its attempts, with the bulk counts at its end;
- the metrics ``http.client.request.duration``, ``plivo_numlink.retries``,
  ``plivo_numlink.pacing.delay``, ``plivo_numlink.pacing.rate``,
  ``plivo_numlink.bulk.outcomes`` and ``plivo_numlink.callbacks``.

Privacy: phone numbers and the auth id never reach a span or a metric (``url.full`` has
them replaced by ``REDACTED``); no exception message is recorded (messages may quote a
number or the server's text); metric attributes hold no number, account or campaign id.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import sys
import time
import weakref
from collections.abc import Awaitable, Coroutine, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import attrs

from ._numbers import validate_campaign_id

__all__ = [
    "REDACTED",
    "Attempt",
    "Call",
    "SessionStats",
    "Telemetry",
    "load",
    "record_callback",
]

T = TypeVar("T")

#: What replaces a phone number or the auth id in ``url.full``.
REDACTED = "REDACTED"
#: The instrumentation scope (tracer and meter name).
SCOPE = "plivo_numlink"
#: The prefix of every call span's name and of this library's own attributes.
PREFIX = "plivo_numlink."

#: Path template segments that identify an account or a number.
_SECRET_SEGMENTS = frozenset({"{auth_id}", "{number}"})
#: Providers that record nothing: the API's defaults until an SDK is installed.
_NOOP_PROVIDERS = frozenset(
    {"ProxyTracerProvider", "NoOpTracerProvider", "_ProxyMeterProvider", "NoOpMeterProvider"}
)
#: The environment variables through which the API loads a global provider itself.
_TRACER_ENV, _METER_ENV = "OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER"
#: Seconds; the HTTP semantic conventions' advice for ``http.client.request.duration``.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
_DELAY_BUCKETS = (0, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@attrs.frozen
class SessionStats:
    """A snapshot of a session's traffic (:meth:`NumLinkSession.stats`).

    The counts are of HTTP attempts since the session was made: ``requests`` sent (every
    retry counts), ``retries`` among them, ``throttled`` (answered 429) and ``errors``
    (failed: no answer, or an answer of 400 or more, 429s included); ``in_flight`` are
    being sent now. ``rate`` is the pace the rate limiter allows now (requests per second;
    lower than ``rate_limit`` after 429s) and ``ceiling`` the server's allowance as it last
    measured it; both ``None`` when nothing paces (``rate_limit=None``), ``ceiling`` also
    until throttling was real. ``retry_tokens``: what is left of the session's retry quota.
    """

    requests: int
    retries: int
    throttled: int
    errors: int
    in_flight: int
    rate: float | None
    ceiling: float | None
    retry_tokens: int


# -- OpenTelemetry, imported on first use ---------------------------------------------------


class _Api:
    """The OpenTelemetry API modules, once imported."""

    def __init__(self) -> None:
        from opentelemetry import context, metrics, trace

        self.context = context
        self.metrics = metrics
        self.trace = trace
        self.client = trace.SpanKind.CLIENT
        self.internal = trace.SpanKind.INTERNAL
        self.error = trace.StatusCode.ERROR


_api: _Api | None = None
_api_missing = False


def _load_api() -> _Api | None:
    global _api, _api_missing
    if _api is None and not _api_missing:
        try:
            _api = _Api()
        except ImportError:
            _api_missing = True
    return _api


def _records(provider: Any) -> bool:
    return provider is not None and type(provider).__name__ not in _NOOP_PROVIDERS


class _Instruments:
    """The metric instruments of one meter provider (made once: the SDK warns on repeats)."""

    def __init__(self, meter: Any) -> None:
        self.duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.retries = meter.create_counter(
            PREFIX + "retries",
            unit="{retry}",
            description="HTTP attempts that retried a failed one, by the failure's error.type.",
        )
        self.pacing_delay = meter.create_histogram(
            PREFIX + "pacing.delay",
            unit="s",
            description="Time an HTTP attempt waited for the rate limiter.",
            explicit_bucket_boundaries_advisory=_DELAY_BUCKETS,
        )
        self.pacing_rate = meter.create_gauge(
            PREFIX + "pacing.rate",
            unit="{request}/s",
            description="The pace the rate limiter allows now.",
        )
        self.outcomes = meter.create_counter(
            PREFIX + "bulk.outcomes",
            unit="{number}",
            description="Numbers settled by bulk link and unlink calls, by outcome kind.",
        )
        self.callbacks = meter.create_counter(
            PREFIX + "callbacks",
            unit="{request}",
            description="Status callbacks answered, by kind and the status answered.",
        )


_instruments: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()


def _instruments_of(api: _Api, provider: Any) -> _Instruments:
    try:
        found = _instruments.get(provider)
    except TypeError:  # pragma: no cover - a provider that cannot be weakly referenced
        found = None
    if found is None:
        from ._version import __version__

        found = _Instruments(provider.get_meter(SCOPE, __version__))
        with contextlib.suppress(TypeError):
            _instruments[provider] = found
    return found


def load(tracer_provider: Any, meter_provider: Any, base_url: str) -> Telemetry | None:
    """What a session records, or ``None`` when it records nothing.

    A provider given is used; ``None`` means the global one when ``opentelemetry-api`` is
    installed. Providers that record nothing (the API's defaults before an SDK is set up)
    count as absent, so that a session without an SDK pays nothing per request. Before the
    application imported OpenTelemetry, no global provider can be set: nothing is imported.
    """
    if tracer_provider is None:
        tracer_provider = _global("trace", _TRACER_ENV)
    if meter_provider is None:
        meter_provider = _global("metrics", _METER_ENV)
    tracing, metering = _records(tracer_provider), _records(meter_provider)
    api = _load_api() if tracing or metering else None
    if api is None:
        return None
    from ._version import __version__

    tracer = tracer_provider.get_tracer(SCOPE, __version__) if tracing else None
    instruments = _instruments_of(api, meter_provider) if metering else None
    return Telemetry(api, tracer, instruments, base_url)


def _global(kind: str, variable: str) -> Any:
    """The global tracer (``kind`` "trace") or meter ("metrics") provider, or None.

    None also before the application imported that part of OpenTelemetry (setting a global
    provider imports it), unless the environment names one for the API to load itself.
    """
    if f"opentelemetry.{kind}" not in sys.modules and not os.environ.get(variable):
        return None
    api = _load_api()
    if api is None:
        return None
    if kind == "trace":
        return api.trace.get_tracer_provider()
    return api.metrics.get_meter_provider()


def record_callback(meter_provider: Any, kind: str | None, status: int) -> None:
    """Count one answered status callback in ``plivo_numlink.callbacks``.

    For the callback receivers: call once per request answered, with the event's kind
    (``None`` when the request was refused before it was read) and the HTTP status
    answered. ``meter_provider`` ``None`` means the global one; without
    ``opentelemetry-api`` nothing is imported or recorded.
    """
    if meter_provider is None:
        meter_provider = _global("metrics", _METER_ENV)
    api = _load_api() if _records(meter_provider) else None
    if api is None:
        return
    attributes: dict[str, Any] = {"http.response.status_code": status}
    if kind is not None:
        attributes[PREFIX + "callback.kind"] = kind
    _instruments_of(api, meter_provider).callbacks.add(1, attributes)


# -- what a session records -----------------------------------------------------------------


class Telemetry:
    """A session's tracer (or ``None``) and metric instruments (or ``None``)."""

    def __init__(
        self, api: _Api, tracer: Any, instruments: _Instruments | None, base_url: str
    ) -> None:
        self.api = api
        self.tracer = tracer
        self.instruments = instruments
        parts = urlsplit(base_url)
        self.host = parts.hostname or ""
        default_port = 443 if parts.scheme == "https" else 80
        try:
            self.port = parts.port or default_port
        except ValueError:  # pragma: no cover - the configuration checked the URL
            self.port = default_port
        host = f"[{self.host}]" if ":" in self.host else self.host
        # Without any user:password@ the base URL might hold.
        self.origin = f"{parts.scheme}://{host}:{self.port}{parts.path.rstrip('/')}"
        self._rate: float | None = None
        #: What every attempt of one (method, url.template) shares, made once (see _Route).
        self._routes: dict[tuple[str, str], _Route] = {}

    def attempt(
        self,
        method: str,
        template: str,
        path: str,
        params: Mapping[str, str] | None,
        resends: int,
        paced: float | None,
    ) -> Attempt:
        """Open the record of one HTTP attempt, about to be sent (after the rate limiter).

        ``resends``: how many attempts of the same request came before; ``paced``: the
        seconds it waited for the rate limiter (``None`` without one).
        """
        route = self._routes.get((method, template))
        if route is None:
            route = self._routes[method, template] = _Route(self, method, template)
        return Attempt(route, path, params, resends, paced)

    def retried(self, failure: BaseException | None) -> None:
        """A request is sent again after ``failure``."""
        if self.instruments is not None:
            self.instruments.retries.add(1, {"error.type": error_type(failure)})

    def pace(self, rate: float) -> None:
        """The rate limiter's pace after an answer (recorded when it changed)."""
        if rate != self._rate and self.instruments is not None:
            self._rate = rate
            self.instruments.pacing_rate.set(rate)

    # -- calls --------------------------------------------------------------------------------

    def open_call(self, name: str, campaign_id: object) -> Call:
        """Start the span of one public call (not made current: see :meth:`Call.spawn`)."""
        return Call(self, name, campaign_id)

    @contextlib.contextmanager
    def call(self, name: str, campaign_id: object) -> Iterator[Call]:
        """The span of one public call, current (the parent of its attempts) while in it."""
        call = Call(self, name, campaign_id)
        token = call.attach()
        try:
            yield call
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            call.detach(token)
            call.end()


def error_type(failure: BaseException | None) -> str:
    """``error.type``: the status code of an error answer as text, else the class name."""
    if failure is None:
        return "_OTHER"
    status = getattr(failure, "status_code", None)
    if isinstance(status, int) and status >= 400:
        return str(status)
    return type(failure).__name__


def redact_path(template: str, path: str) -> str:
    """``path`` with the segments that are the auth id or a number replaced by REDACTED."""
    return _redact(path, template, _secret_positions(template))


def _secret_positions(template: str) -> tuple[int, tuple[int, ...]]:
    """The template's segment count and the positions of its secret segments."""
    names = template.split("/")
    return len(names), tuple(i for i, name in enumerate(names) if name in _SECRET_SEGMENTS)


def _redact(path: str, template: str, positions: tuple[int, tuple[int, ...]]) -> str:
    count, secret = positions
    parts = path.split("/")
    if len(parts) != count:  # pragma: no cover - every path is made from its template
        return template
    for i in secret:
        parts[i] = REDACTED
    return "/".join(parts)


class _Route:
    """What the attempts of one method and URL template share: made once per session.

    The constant attributes (one dict, copied per attempt, never handed to the SDK itself),
    the span's name and where the template's secret segments are.
    """

    __slots__ = (
        "attributes",
        "instruments",
        "method",
        "name",
        "positions",
        "telemetry",
        "template",
    )

    def __init__(self, telemetry: Telemetry, method: str, template: str) -> None:
        self.telemetry = telemetry
        self.instruments = telemetry.instruments
        self.method = method
        self.template = template
        self.name = f"{method} {template}"
        self.positions = _secret_positions(template)
        self.attributes: dict[str, Any] = {
            "http.request.method": method,
            "server.address": telemetry.host,
            "server.port": telemetry.port,
            "url.template": template,
        }


class Attempt:
    """One HTTP attempt's span and measurements; :meth:`end` it once, however it ends.

    The span is made at the end, whole, with the start time noted here: one call into the
    SDK with every attribute, rather than a span kept open and added to (half the cost).
    """

    __slots__ = ("paced", "params", "path", "resends", "route", "start", "started")

    def __init__(
        self,
        route: _Route,
        path: str,
        params: Mapping[str, str] | None,
        resends: int,
        paced: float | None,
    ) -> None:
        self.route = route
        self.path = path
        self.params = params
        self.resends = resends
        self.paced = paced
        self.start = time.time_ns()
        self.started = time.perf_counter()

    def end(self, status: int | None, failure: BaseException | None = None) -> None:
        """The attempt was answered with ``status``, or failed with ``failure`` unanswered."""
        duration = time.perf_counter() - self.started
        route = self.route
        # What the duration metric shares with the span: no identifier in it. A fresh dict
        # per attempt (an SDK may keep the one it is given), made from the route's.
        attributes = route.attributes.copy()
        error: str | None = None
        if status is not None:
            attributes["http.response.status_code"] = status
            if status >= 400:
                error = str(status)
        elif failure is not None:
            error = type(failure).__name__
        if error is not None:
            attributes["error.type"] = error
        instruments = route.instruments
        if instruments is not None:
            instruments.duration.record(duration, attributes)
            if self.paced is not None:
                instruments.pacing_delay.record(self.paced)
        telemetry = route.telemetry
        tracer = telemetry.tracer
        if tracer is None:
            return
        url = telemetry.origin + _redact(self.path, route.template, route.positions)
        if self.params:
            url += "?" + urlencode(self.params)
        # A copy: an SDK may keep the metric's attributes (with no url.full in them).
        attributes = attributes.copy() if instruments is not None else attributes
        attributes["url.full"] = url
        if self.resends:
            attributes["http.request.resend_count"] = self.resends
        if self.paced is not None:
            attributes[PREFIX + "pacing.delay"] = self.paced
        span = tracer.start_span(
            route.name,
            kind=telemetry.api.client,
            attributes=attributes,
            start_time=self.start,
            record_exception=False,
            set_status_on_exception=False,
        )
        if error is not None:
            span.set_status(telemetry.api.error)
        span.end()


class Call:
    """The INTERNAL span of one public call (or nothing, with metrics alone)."""

    __slots__ = ("_context", "name", "span", "telemetry")

    def __init__(self, telemetry: Telemetry, name: str, campaign_id: object) -> None:
        self.telemetry = telemetry
        self.name = name
        self.span: Any = None
        self._context: contextvars.Context | None = None
        if telemetry.tracer is not None:
            attributes: dict[str, Any] = {}
            # An invalid campaign id fails the call; it is no attribute.
            with contextlib.suppress(ValueError):
                attributes[PREFIX + "campaign_id"] = validate_campaign_id(campaign_id)
            self.span = telemetry.tracer.start_span(
                PREFIX + name,
                kind=telemetry.api.internal,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            )

    def attach(self) -> object:
        if self.span is None:
            return None
        api = self.telemetry.api
        return api.context.attach(api.trace.set_span_in_context(self.span))

    def detach(self, token: object) -> None:
        if token is not None:
            self.telemetry.api.context.detach(token)

    def spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """A task running ``coroutine`` with this span current (its attempts' parent)."""
        if self.span is None:
            return asyncio.ensure_future(coroutine)
        if self._context is None:
            self._context = contextvars.copy_context()
            self._context.run(self.attach)
        return self._context.run(asyncio.ensure_future, coroutine)

    def fail(self, exc: BaseException) -> None:
        if self.span is not None:
            self.span.set_attribute("error.type", type(exc).__name__)
            self.span.set_status(self.telemetry.api.error)

    def finish(self, counts: Mapping[str, int], *, requests: int, stopped: bool = False) -> None:
        """A bulk call's end: ``counts`` (outcome kind, as text, to count) on its span."""
        span = self.span
        if span is not None:
            span.set_attribute(PREFIX + "number_count", sum(counts.values()))
            span.set_attribute(PREFIX + "request_count", requests)
            for kind, count in counts.items():
                span.set_attribute(f"{PREFIX}outcome.{kind}", count)
            if stopped:
                span.set_attribute(PREFIX + "stopped", True)
                span.set_status(self.telemetry.api.error)

    def count_outcomes(self, operation: str, counts: Mapping[str, int]) -> None:
        """Add a bulk ``operation``'s (``link``, ``unlink``) outcome counts to the counter."""
        instruments = self.telemetry.instruments
        if instruments is not None:
            for kind, count in counts.items():
                attributes = {PREFIX + "operation": operation, PREFIX + "outcome": kind}
                instruments.outcomes.add(count, attributes)

    def end(self) -> None:
        if self.span is not None:
            self.span.end()


async def traced(
    telemetry: Telemetry | None, name: str, campaign_id: object, call: Awaitable[T]
) -> T:
    """Await ``call`` inside the span of the public call ``name``."""
    if telemetry is None:
        return await call
    with telemetry.call(name, campaign_id):
        return await call
