"""Options shared by the subcommands, and what they become: a NumLinkSession (which
validates them), a campaign id and an opened NumberInput."""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click

import plivo_numlink as pn

from ._runner import CliError, user_errors

if TYPE_CHECKING:
    from ._output import Feedback

Decorator = Callable[[Any], Any]


def opt(*decls: str, **settings: Any) -> Decorator:
    """``click.option`` (``text``: its help), showing the default and environment variable."""
    shows = {f"show_{key}": key in settings for key in ("default", "envvar")}
    return click.option(*decls, help=settings.pop("text", None), **shows, **settings)  # type: ignore[arg-type]


def options(*decorators: Decorator) -> Decorator:
    """Several decorators as one, applied in the order given (as if stacked)."""

    def apply(func: Any) -> Any:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


SENDING = ("--batch-size", "--callback-url", "--callback-method", "--wait")


def ignored(*decls: str) -> Decorator:
    """API.md's common options that mean nothing here: accepted, since scripts pass the common
    set to every subcommand, but never offered in --help and without effect."""
    flag = {"--wait"}
    hidden = (click.option(d, is_flag=d in flag, hidden=True, expose_value=False) for d in decls)
    return options(*hidden)


def _rate_limit(ctx: click.Context, param: click.Parameter, value: str) -> float | None:
    text = value.strip().lower()
    with contextlib.suppress(ValueError):
        rate = 0.0 if text in ("none", "off", "no") else float(text)
        if math.isfinite(rate) and rate >= 0:
            return rate or None
    raise click.BadParameter(f"{value!r} is not requests per second >= 0 (0 or 'none': no pacing)")


def _report_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        if os.path.splitext(value)[1].lower() not in (".json", ".csv"):
            raise click.BadParameter(f"{value!r} must end in .json or .csv (the format follows)")
        directory = os.path.dirname(os.path.abspath(value))
        if not os.path.isdir(directory):
            raise click.BadParameter(f"the directory {directory!r} does not exist")
    return value


def _read_token(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value == "-":
        return str(click.prompt("Plivo auth token", hide_input=True, err=True))
    return value


_METHOD = click.Choice(["GET", "POST"], case_sensitive=False)
INT_1 = click.IntRange(min=1)

_TOKEN_TEXT = "Prefer the environment variable; '-' prompts for it. Never printed."
_TOKEN = {"metavar": "TOKEN", "callback": _read_token, "text": _TOKEN_TEXT}
_BASE = {"default": pn.defaults.BASE_URL, "text": "API origin (e.g. a fake-server's URL)."}
_RATE_TEXT = "Requests started per second at most; 0 or 'none': no pacing."
_RATE = {"default": str(pn.defaults.RATE_LIMIT), "callback": _rate_limit, "text": _RATE_TEXT}
connection_options = options(
    opt("--auth-id", envvar="PLIVO_AUTH_ID", metavar="ID"),
    opt("--auth-token", envvar="PLIVO_AUTH_TOKEN", **_TOKEN),
    opt("--base-url", envvar="PLIVO_NUMLINK_BASE_URL", metavar="URL", **_BASE),
    opt("--rate-limit", metavar="N", **_RATE),
    opt("--proxy", metavar="URL", text="http://[user:pass@]host:port; else HTTPS_PROXY, NO_PROXY."),
)
_MOST = {"default": pn.defaults.CONCURRENCY, "text": "Most at once."}
concurrency_option = opt("--concurrency", type=INT_1, **_MOST)
campaign_option = opt("--campaign", "campaign_id", metavar="ID", text="Else the first argument.")
input_options = options(
    opt("-f", "--file", "path", metavar="PATH", text="Numbers file ('-': stdin)."),
    opt("--column", metavar="NAME", text="CSV column of the numbers (name or 1-based)."),
)
report_options = options(
    opt("--report", "report_path", metavar="PATH", callback=_report_path, text="A .json or .csv."),
    opt("--json", "as_json", is_flag=True, text="Print the report as JSON on stdout."),
    opt("-q", "--quiet", is_flag=True, text="No progress or notes on stderr."),
)
_PROGRESS = "On stderr: a bar, plain lines (for logs) or none; auto: bar on a terminal."
_MODES = click.Choice(("auto", "bar", "lines", "none"))
output_options = options(
    report_options, opt("--progress", type=_MODES, default="auto", text=_PROGRESS)
)
callback_options = options(
    opt("--callback-url", metavar="URL", text="Status callback URL sent with requests."),
    opt("--callback-method", type=_METHOD, metavar="GET|POST", text="Its HTTP method."),
)
_SECONDS = click.FloatRange(min=0, min_open=True)
_POLL = {"default": pn.defaults.POLL_INTERVAL, "metavar": "S", "text": "Seconds between polls."}
poll_interval_option = opt("--poll-interval", type=_SECONDS, **_POLL)


def wait_timeout_option(*names: str) -> Decorator:
    text = "Stop waiting after S seconds (numbers still processing: pending)."
    default = pn.defaults.WAIT_TIMEOUT
    range_ = click.FloatRange(min=0)
    return opt(*names, "wait_timeout", type=range_, default=default, metavar="S", text=text)


def dry_run_option(what: str) -> Decorator:
    return opt("--dry-run", is_flag=True, text=f"{what}; change nothing (no credentials needed).")


_NUMBERS = click.argument("args", nargs=-1, metavar="[CAMPAIGN] [NUMBER]...")
_FIRST = options(_NUMBERS, campaign_option, input_options, connection_options, concurrency_option)
_EMPTY = opt("--allow-empty", is_flag=True, text="An input without numbers is not an error.")
_DRY = "Check the input, show the requests; change nothing (sync --unlink-extra reads the list)."


def numbers_command(name: str, epilog: str, *decorators: Decorator, out: Any = None) -> Decorator:
    """A command that reads numbers, with its own options between the common ones."""
    last = (_EMPTY, opt("--dry-run", is_flag=True, text=_DRY), out or output_options)
    return options(click.command(name, epilog=epilog), _FIRST, *decorators, *last)


def split_campaign(campaign_id: str | None, args: Sequence[str]) -> tuple[str, list[str]]:
    """``--campaign ID`` or the first positional argument; the rest are numbers."""
    rest = list(args)
    if campaign_id is None:
        if not rest:
            raise click.UsageError("no campaign: give it as the first argument or with --campaign")
        campaign_id = rest.pop(0)
    elif rest and re.fullmatch(r"[0-9]*[A-Za-z][A-Za-z0-9]*", rest[0]):
        raise click.UsageError(f"campaign given twice: --campaign {campaign_id} and {rest[0]}")
    with contextlib.suppress(ValueError):
        pn.normalize_number(campaign_id)
        raise CliError(f"CAMPAIGN {campaign_id} looks like a phone number: give the campaign first")
    with user_errors():
        return pn.validate_campaign_id(campaign_id), rest


def connect(opts: dict[str, Any]) -> pn.NumLinkSession:
    """The session the connection options ask for; one clear line if they cannot work."""
    auth_id, auth_token = opts.pop("auth_id"), opts.pop("auth_token")
    if not auth_id:
        raise CliError("no auth id: pass --auth-id or set PLIVO_AUTH_ID")
    if not auth_token:
        raise CliError("no auth token: set PLIVO_AUTH_TOKEN (or pass --auth-token -, to type it)")
    names = ("base_url", "concurrency", "rate_limit", "proxy")
    settings = {name: opts.pop(name) for name in names if name in opts}
    with user_errors():
        return pn.NumLinkSession(auth_id, auth_token, **settings)


@contextlib.contextmanager
def number_input(
    numbers: list[str], opts: dict[str, Any], feedback: Feedback | None = None
) -> Iterator[pn.NumberInput]:
    """The numbers, from the arguments, ``-f PATH`` or ``-f -`` (stdin), opened."""
    path, column = opts["path"], opts["column"]
    if numbers and path is not None:
        raise click.UsageError("give numbers as arguments or with -f, not both")
    if not numbers and path is None:  # stdin, unless it is a terminal
        if sys.stdin.isatty():
            raise click.UsageError("no numbers: give them as arguments, or -f FILE (-f - is stdin)")
        path = "-"
    stream = sys.stdin.buffer if path == "-" else path
    name = "stdin" if path == "-" else path or "the arguments"
    try:
        source = pn.NumberInput(numbers, file=stream, column=column, name=name).open()
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CliError(re.sub(r"^column\b", "--column", str(exc))) from None
    if source.empty and not opts["allow_empty"]:
        raise CliError(f"no numbers in the input ({name}); --allow-empty accepts that")
    with contextlib.closing(source):
        if feedback is not None and source.header is not None:
            where = f"{source.name}: first row taken as a header; numbers from column"
            feedback.note(f"{where} {source.column_label}")
        if feedback is not None and path == "-" and sys.stdin.isatty():
            feedback.note("reading numbers from the terminal; end with Ctrl-D")
        yield source
