"""Running a command: library errors as one-line messages and exit codes, Ctrl-C as a clean
stop (a task cancellation: requests in flight are abandoned and the HTTP session closed)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import IO, Any, NoReturn, TypeVar

import click

import plivo_numlink as pn

T = TypeVar("T")

EXIT_OK = 0
EXIT_NOT_OK = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT; SIGTERM (a container stop, timeout): 143
#: The signals that stop a command cleanly, and what each is called in its report.
STOP_SIGNALS: dict[int, str] = {signal.SIGINT: "by the user (Ctrl-C)", signal.SIGTERM: "by SIGTERM"}
_stopped_by: list[int] = [signal.SIGINT]  # the last signal that stopped a command


def interrupted_reason() -> str:
    return f"interrupted {STOP_SIGNALS[_stopped_by[0]]}"


def exit_interrupted() -> NoReturn:
    """Exit as a process stopped by the signal that interrupted it: 130 or 143."""
    raise SystemExit(128 + _stopped_by[0])


CREDENTIALS_HINT = "check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN"
CAMPAIGN_HINT = "check the campaign id"


def shown(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``): data must not drive the terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class CliError(click.ClickException):
    """An error the user can fix: printed as one ``error: ...`` line, no traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {shown(self.format_message())}", err=True)


class CliFailure(CliError):
    """A request that failed for reasons other than the configuration (exit 1)."""

    exit_code = EXIT_NOT_OK


@contextlib.contextmanager
def user_errors(campaign: str | None = None) -> Iterator[None]:
    """Turn the library's configuration and API errors into one-line CLI errors."""
    where = f"campaign {campaign}: " if campaign else ""
    try:
        yield
    except (pn.AuthenticationError, pn.ForbiddenError) as exc:
        raise CliError(f"{where}{exc}; {CREDENTIALS_HINT}") from None
    except pn.NotFoundError as exc:  # the CLI reads no single number: the campaign is unknown
        raise CliError(f"{where}{exc}; {CAMPAIGN_HINT}") from None
    except pn.ConfigurationError as exc:
        raise CliError(str(exc).replace("base_url", "--base-url")) from None
    except pn.JournalError as exc:  # raised only while opening it, before anything is sent
        raise CliError(str(exc)) from None
    except pn.PlivoError as exc:
        raise CliFailure(str(exc)) from None
    except ValueError as exc:  # a bad callback or column: found before any request
        raise CliError(re.sub(r"^(url|method)\b", r"--callback-\1", str(exc))) from None


def run(coro: Coroutine[Any, Any, T], campaign: str | None = None) -> T:
    """``asyncio.run(coro)``, with the library's errors as CLI errors (naming ``campaign``)."""
    with user_errors(campaign):
        return asyncio.run(coro)


def run_to_end(work: Coroutine[Any, Any, T], campaign: str | None = None) -> T:
    """Run ``work``; on Ctrl-C, say so and exit 130."""
    interrupted, result = run(interruptible(work), campaign)
    if interrupted or result is None:
        click.echo("interrupted", err=True)
        exit_interrupted()
    return result


def _route_signals(
    signals: Sequence[int], callback: Callable[[int], None]
) -> Callable[[bool], None]:
    """Route ``signals`` to ``callback(signum)`` in the running loop; return the undo function.
    (Where that is not possible, Ctrl-C raises KeyboardInterrupt, which interruptible catches.)"""
    loop = asyncio.get_running_loop()
    previous = {signum: signal.getsignal(signum) for signum in signals}
    try:
        for signum in signals:
            loop.add_signal_handler(signum, callback, signum)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
        return lambda stopping: None

    def restore(stopping: bool) -> None:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)
            # Once interrupted, a second Ctrl-C or SIGTERM must not lose the report being
            # written (the command group puts the previous handlers back when it ends).
            handler = _again if stopping else handler
            if handler is not None:
                signal.signal(signum, handler)

    return restore


def _again(signum: int, frame: object) -> None:
    os.write(2, b"interrupted again: finishing cleanly (the report is kept), please wait\n")


async def _catch_interrupt(work: Awaitable[T]) -> tuple[bool, T | None]:
    try:
        return False, await work
    except KeyboardInterrupt:
        return True, None


async def interruptible(
    work: Awaitable[T], signals: Sequence[int] = tuple(STOP_SIGNALS)
) -> tuple[bool, T | None]:
    """Await ``work``; Ctrl-C or SIGTERM cancels it. Returns ``(interrupted, result or None)``."""
    task = asyncio.ensure_future(_catch_interrupt(work))
    interrupted = False
    _stopped_by[0] = signal.SIGINT

    def on_signal(signum: int) -> None:
        nonlocal interrupted
        interrupted = True
        _stopped_by[0] = signum
        task.cancel()

    restore = _route_signals(signals, on_signal)
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        # Python 3.11+ without our handler: asyncio.run cancels the main task on Ctrl-C.
        if not interrupted and sys.version_info >= (3, 11) and current and current.cancelling():
            current.uncancel()  # pragma: no cover - only where add_signal_handler is unavailable
            interrupted = True  # pragma: no cover
        if not interrupted:
            raise
        return True, None
    finally:
        restore(interrupted)
