"""Options shared by the subcommands, their value types, and what they turn into.

The connection options become a :class:`~plivo_numlink.NumLinkSession` (which validates
them), the campaign and number arguments a campaign id and a
:class:`~plivo_numlink.NumberInput`.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .. import NumberInput, NumLinkSession, defaults, validate_campaign_id
from ._runner import CliError, user_errors

if TYPE_CHECKING:
    from ._output import Feedback

    _ParamType = click.ParamType[Any]
else:  # click < 8.2 has no type parameter
    _ParamType = click.ParamType

F = TypeVar("F", bound=Callable[..., Any])
PROGRESS_MODES = ("auto", "bar", "lines", "none")


class RateLimitType(_ParamType):
    """Requests per second; ``0`` or ``none`` turns pacing off."""

    name = "N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, float):
            return value
        text = str(value).strip().lower()
        if text in ("none", "off", "no"):
            return None
        try:
            rate = float(text)
        except ValueError:
            self.fail(f"{value!r} is not a number of requests per second (or 'none')", param, ctx)
        if not math.isfinite(rate) or rate < 0:
            self.fail(f"{value!r} must be >= 0 (0 or 'none' turns pacing off)", param, ctx)
        return rate or None


class LatencyType(_ParamType):
    """Seconds, or ``LOW,HIGH`` for a uniform range."""

    name = "S|LOW,HIGH"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float | tuple):
            return value
        try:
            numbers = [float(part) for part in str(value).split(",")]
        except ValueError:
            self.fail(f"{value!r} is not seconds or LOW,HIGH", param, ctx)
        if len(numbers) > 2 or any(not math.isfinite(n) or n < 0 for n in numbers):
            self.fail(f"{value!r} is not seconds >= 0 or LOW,HIGH", param, ctx)
        if len(numbers) == 1:
            return numbers[0]
        if numbers[0] > numbers[1]:
            self.fail(f"{value!r}: LOW must not be above HIGH", param, ctx)
        return (numbers[0], numbers[1])


class ErrorRateType(_ParamType):
    """``STATUS=PROBABILITY``, e.g. ``503=0.05``."""

    name = "STATUS=P"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        status_text, sep, rate_text = str(value).partition("=")
        try:
            status, rate = int(status_text), float(rate_text)
        except ValueError:
            status, rate = 0, -1.0
        if not sep or not 400 <= status <= 599 or not 0 <= rate <= 1:
            self.fail(
                f"{value!r} is not STATUS=P (HTTP status 400-599, probability 0-1)", param, ctx
            )
        return (status, rate)


def _check_report_path(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    if os.path.splitext(value)[1].lower() not in (".json", ".csv"):
        raise click.BadParameter(f"{value!r} must end in .json or .csv (the format follows it)")
    directory = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(directory):
        raise click.BadParameter(f"the directory {directory!r} does not exist")
    return value


def _read_token(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value == "-":
        return click.prompt("Plivo auth token", hide_input=True, err=True)
    return value


def options(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Several decorators as one, applied in the order given (as if stacked)."""

    def apply(func: Any) -> Any:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


_CALLBACK_METHOD = click.Choice(["GET", "POST"], case_sensitive=False)
_SECONDS = click.FloatRange(min=0, min_open=True)

connection_options = options(
    click.option("--auth-id", envvar="PLIVO_AUTH_ID", show_envvar=True, metavar="ID"),
    click.option(
        "--auth-token",
        envvar="PLIVO_AUTH_TOKEN",
        show_envvar=True,
        metavar="TOKEN",
        callback=_read_token,
        help="Prefer the environment variable; '-' prompts for it. Never printed.",
    ),
    click.option(
        "--base-url",
        envvar="PLIVO_NUMLINK_BASE_URL",
        show_envvar=True,
        default=defaults.BASE_URL,
        show_default=True,
        metavar="URL",
        help="API origin (e.g. a fake-server's URL).",
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(min=1),
        default=defaults.CONCURRENCY,
        show_default=True,
        help="Most requests in flight at once.",
    ),
    click.option(
        "--rate-limit",
        type=RateLimitType(),
        default=str(defaults.RATE_LIMIT),
        show_default=True,
        help="Most requests started per second; 0 or 'none': no pacing.",
    ),
)
campaign_option = click.option(
    "--campaign", "campaign_id", metavar="ID", help="Without it, CAMPAIGN is the first argument."
)
input_options = options(
    click.option("-f", "--file", "path", metavar="PATH", help="Numbers file ('-': stdin)."),
    click.option("--column", metavar="NAME", help="CSV column of the numbers (name or 1-based)."),
)
output_options = options(
    click.option(
        "--report",
        "report_path",
        metavar="PATH",
        callback=_check_report_path,
        help="Write every number's outcome to PATH (.json or .csv).",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout."),
    click.option("-q", "--quiet", is_flag=True, help="No progress or notes on stderr."),
    click.option(
        "--progress",
        type=click.Choice(PROGRESS_MODES),
        default="auto",
        show_default=True,
        help="On stderr: a bar, plain lines (for logs) or none; auto: bar on a terminal.",
    ),
)
callback_options = options(
    click.option("--callback-url", metavar="URL", help="Status callback URL sent with requests."),
    click.option(
        "--callback-method", type=_CALLBACK_METHOD, metavar="GET|POST", help="Its HTTP method."
    ),
)
poll_interval_option = click.option(
    "--poll-interval",
    type=_SECONDS,
    default=defaults.POLL_INTERVAL,
    show_default=True,
    metavar="S",
    help="Seconds between polls while waiting.",
)


def wait_timeout_option(*names: str) -> Callable[[F], F]:
    return click.option(
        *names,
        "wait_timeout",
        type=click.FloatRange(min=0),
        default=defaults.WAIT_TIMEOUT,
        show_default=True,
        metavar="S",
        help="Stop waiting after S seconds (numbers still processing: pending).",
    )


#: Common options that some subcommands accept only so that one set of options works with
#: every subcommand (e.g. in a script's shared variable).
_NO_EFFECT_SETTINGS: dict[str, dict[str, Any]] = {
    "--batch-size": {"type": click.IntRange(min=1), "metavar": "INTEGER"},
    "--callback-url": {"metavar": "URL"},
    "--callback-method": {"type": _CALLBACK_METHOD, "metavar": "GET|POST"},
    "--wait": {"is_flag": True},
}


def no_effect(command: str, why: str, *flags: str) -> Callable[[F], F]:
    """Common options that ``command`` accepts (and checks) but does not use."""
    return options(
        *(
            click.option(
                flag,
                expose_value=False,
                help=f"(no effect for {command}: {why})",
                **_NO_EFFECT_SETTINGS[flag],
            )
            for flag in flags
        )
    )


def dry_run_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--dry-run", is_flag=True, help=f"{what}; send nothing (no credentials needed)."
    )


def split_campaign(campaign_id: str | None, args: Sequence[str]) -> tuple[str, list[str]]:
    """``--campaign ID`` or the first positional argument; the rest are numbers."""
    rest = list(args)
    if campaign_id is None:
        if not rest:
            raise click.UsageError("no campaign: give it as the first argument or with --campaign")
        campaign_id = rest.pop(0)
    try:
        return validate_campaign_id(campaign_id), rest
    except ValueError as exc:
        raise CliError(str(exc)) from None


def connect(opts: dict[str, Any]) -> NumLinkSession:
    """The session the connection options ask for; one clear line if they cannot work."""
    auth_id, auth_token = opts.pop("auth_id"), opts.pop("auth_token")
    if not auth_id:
        raise CliError("no auth id: pass --auth-id or set PLIVO_AUTH_ID")
    if not auth_token:
        raise CliError(
            "no auth token: set PLIVO_AUTH_TOKEN (or pass --auth-token -, which prompts)"
        )
    with user_errors():
        return NumLinkSession(
            auth_id,
            auth_token,
            base_url=opts.pop("base_url"),
            concurrency=opts.pop("concurrency"),
            rate_limit=opts.pop("rate_limit"),
        )


@contextlib.contextmanager
def number_input(
    numbers: list[str], path: str | None, column: str | None, feedback: Feedback | None = None
) -> Iterator[NumberInput]:
    """The numbers, from the arguments, ``-f PATH`` or ``-f -`` (stdin), opened."""
    if numbers and path is not None:
        raise click.UsageError("give numbers as arguments or with -f, not both")
    if not numbers and path is None:
        raise click.UsageError(
            "no numbers: give them as arguments, or with -f FILE (-f - reads stdin)"
        )
    if path is None and column is not None:
        raise CliError("--column applies to numbers read with -f only")
    if path == "-":
        source = NumberInput(file=sys.stdin.buffer, column=column, name="stdin")
    else:
        source = NumberInput(numbers, file=path, column=column, name=path or "the arguments")
    try:
        source.open()
    except OSError as exc:
        raise CliError(f"cannot read {source.name}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CliError(re.sub(r"^column\b", "--column", str(exc))) from None
    try:
        if feedback is not None and source.header is not None:
            feedback.note(
                f"{source.name}: first row taken as a header; numbers from column "
                f"{source.column_label}"
            )
        if feedback is not None and path == "-" and sys.stdin.isatty():
            feedback.note("reading numbers from the terminal; end with Ctrl-D")
        yield source
    finally:
        source.close()
