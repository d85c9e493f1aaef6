"""The commands that change a campaign or wait on it: ``link``, ``unlink``, ``sync``, ``wait``.

Each is a thin layer over the library's bulk calls: the input goes to them as it is read
(they validate and deduplicate it), and Ctrl-C stops the job with
:meth:`~plivo_numlink.BulkRun.stop`, whose report still accounts for every input line.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn, TypeVar

import attrs
import click

from .. import BulkReport, BulkRun, NumberInput, NumLinkSession, OutcomeKind, defaults
from ._options import (
    callback_options,
    campaign_option,
    connect,
    connection_options,
    dry_run_option,
    input_options,
    no_effect,
    number_input,
    options,
    output_options,
    poll_interval_option,
    split_campaign,
    wait_timeout_option,
)
from ._output import CAMPAIGN_PATH, NUMBER_PATH, Feedback, finish, plural, show_plan
from ._runner import EXIT_INTERRUPTED, INTERRUPTED_REASON, interruptible, run

F = TypeVar("F", bound=Callable[..., Any])

EPILOG = (
    "Numbers: as arguments, or -f FILE (one per line, or CSV: --column picks the column; a "
    "first row of plain text with no number in it is a header), or -f - for stdin. Blank lines "
    "and #-comments are skipped; lines that are not UTF-8 or not a number are reported as "
    "invalid. Ctrl-C stops cleanly: the report still accounts for every number (exit 130)."
)


@attrs.frozen
class Job:
    """What a bulk command was asked to do."""

    action: str
    campaign_id: str
    batch_size: int = 1
    callback: dict[str, str] = attrs.Factory(dict)
    wait: bool = False
    wait_timeout: float = defaults.WAIT_TIMEOUT
    poll_interval: float = defaults.POLL_INTERVAL
    unlink_extra: bool = False

    @property
    def polling(self) -> str:
        return f"polling every {self.poll_interval:g} s, for up to {self.wait_timeout:g} s"


def _bulk_command(name: str, help_text: str, *, batch: bool) -> Callable[[Any], Any]:
    batch_size = (
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=defaults.BATCH_SIZE,
            show_default=True,
            help="Numbers per link request.",
        )
        if batch
        else no_effect(name, "one number per request", "--batch-size")
    )
    extra = click.option(
        "--unlink-extra", is_flag=True, help="Also unlink the campaign's numbers not in the input."
    )
    return options(
        click.command(name, help=help_text, epilog=EPILOG),
        click.argument("args", nargs=-1, metavar="[CAMPAIGN] [NUMBER]..."),
        campaign_option,
        input_options,
        connection_options,
        batch_size,
        *([extra] if name == "sync" else []),
        callback_options,
        click.option("--wait", is_flag=True, help="Then poll until Plivo has processed them."),
        wait_timeout_option("--wait-timeout"),
        poll_interval_option,
        dry_run_option("Check the input and show the requests"),
        output_options,
    )


@_bulk_command(
    "link", "Link numbers to a campaign, in batches, with retries and pacing.", batch=True
)
def link_command(**opts: Any) -> None:
    _run_bulk("link", opts)


@_bulk_command("unlink", "Unlink numbers from a campaign, one request each.", batch=False)
def unlink_command(**opts: Any) -> None:
    _run_bulk("unlink", opts)


@_bulk_command(
    "sync",
    "Make a campaign hold exactly the given numbers: link what is missing or FAILED (and "
    "with --unlink-extra, unlink the rest). Safe to run again.",
    batch=True,
)
def sync_command(**opts: Any) -> None:
    _run_bulk("sync", opts)


def _run_bulk(action: str, opts: dict[str, Any]) -> NoReturn:
    campaign_id, numbers = split_campaign(opts.pop("campaign_id"), opts.pop("args"))
    url, method = opts.pop("callback_url"), opts.pop("callback_method")
    callback = {"url": url} if url is not None else {}
    if method:
        callback["method"] = method.upper()
    job = Job(
        action,
        campaign_id,
        batch_size=opts.pop("batch_size", 1),
        callback=callback,
        wait=opts.pop("wait"),
        wait_timeout=opts.pop("wait_timeout"),
        poll_interval=opts.pop("poll_interval"),
        unlink_extra=opts.pop("unlink_extra", False),
    )
    feedback = Feedback(opts.pop("progress"), quiet=opts.pop("quiet"))
    as_json: bool = opts.pop("as_json")
    path, column = opts.pop("path"), opts.pop("column")
    if opts.pop("dry_run"):
        with number_input(numbers, path, column) as source:
            _dry_run(job, source, as_json=as_json)
    session = connect(opts)
    with number_input(numbers, path, column, feedback) as source:
        try:
            work = _sync_main if action == "sync" else _bulk_main
            report, interrupted = run(work(session, job, source, feedback, path == "-"))
        finally:
            feedback.close()
    if report is None:
        click.echo(
            "interrupted: sync keeps no partial results; run it again (it is safe to repeat)",
            err=True,
        )
        raise SystemExit(EXIT_INTERRUPTED)
    finish(
        report,
        feedback=feedback,
        as_json=as_json,
        report_path=opts.pop("report_path"),
        interrupted=interrupted,
    )


def _read_until(source: Iterable[str], stopped: Callable[[], bool]) -> Iterator[str]:
    """``source``'s entries until ``stopped()``: a terminal is not read after Ctrl-C."""
    entries = iter(source)
    while not stopped():
        try:
            yield next(entries)
        except StopIteration:
            return


async def _drain(run: BulkRun) -> None:
    async with run:
        async for _ in run:
            pass


async def _bulk_main(
    session: NumLinkSession, job: Job, source: NumberInput, feedback: Feedback, stdin: bool
) -> tuple[BulkReport, bool]:
    interrupted = False
    terminal = stdin and sys.stdin.isatty()
    entries = _read_until(source, lambda: interrupted) if terminal else source
    async with session:
        options: dict[str, Any] = {**job.callback, "on_outcome": feedback.advance}
        if job.action == "link":
            bulk = session.iter_link(job.campaign_id, entries, batch_size=job.batch_size, **options)
        else:
            bulk = session.iter_unlink(job.campaign_id, entries, **options)
        verb = "linking" if job.action == "link" else "unlinking"
        feedback.start_job(f"{verb} ({job.campaign_id})", source.estimate_total())
        try:
            interrupted, _ = await interruptible(_drain(bulk))
        except OSError:
            pass  # the job stopped; its report says "reading the input failed: ..."
        finally:
            feedback.finish_job()
        if interrupted:
            if terminal:
                feedback.note("the rest of the terminal input is not read")
            bulk.stop(INTERRUPTED_REASON)
        report = bulk.report()
        if job.wait and not interrupted and report.stopped_reason is None:
            waiting = sum(o.kind in (OutcomeKind.ACCEPTED, OutcomeKind.ALREADY) for o in report)
            feedback.start_phase(
                f"waiting for Plivo to finish processing {plural(waiting, 'number')} "
                f"({job.polling})"
            )
            try:
                interrupted, waited = await interruptible(
                    session.wait_for_report(
                        report, timeout=job.wait_timeout, poll_interval=job.poll_interval
                    )
                )
            finally:
                feedback.finish_phase()
            report = waited or report
    if interrupted:
        report = attrs.evolve(report, stopped_reason=report.stopped_reason or INTERRUPTED_REASON)
    return source.annotate(report), interrupted


async def _sync_main(
    session: NumLinkSession, job: Job, source: NumberInput, feedback: Feedback, stdin: bool
) -> tuple[BulkReport | None, bool]:
    async with session:
        extra = " (unlinking extra numbers)" if job.unlink_extra else ""
        feedback.start_phase(f"syncing campaign {job.campaign_id} with {source.name}{extra}")
        try:
            interrupted, report = await interruptible(
                session.sync(
                    job.campaign_id,
                    source,
                    unlink_extra=job.unlink_extra,
                    batch_size=job.batch_size,
                    wait=job.wait,
                    wait_timeout=job.wait_timeout,
                    poll_interval=job.poll_interval,
                    **job.callback,
                )
            )
        finally:
            feedback.finish_phase()
    return (source.annotate(report) if report is not None else None), interrupted


def _dry_run(job: Job, source: NumberInput, *, as_json: bool) -> NoReturn:
    """Read and check the input; show the requests a real run would send."""
    checked = source.check(job.action)
    valid = sum(o.kind is not OutcomeKind.INVALID for o in checked)
    campaign_path = CAMPAIGN_PATH % job.campaign_id
    number_path = NUMBER_PATH % job.campaign_id
    requests: list[dict[str, Any]] = []
    if job.action == "sync":
        requests.append(
            {"method": "GET", "path": campaign_path, "count": None, "why": "read the campaign"}
        )
    if job.action in ("link", "sync"):
        at_most = " the numbers missing or FAILED (at most this many)"
        requests.append(
            {
                "method": "POST",
                "path": campaign_path,
                "count": math.ceil(valid / job.batch_size),
                "numbers": valid,
                "batch_size": job.batch_size,
                "why": "link" + (at_most if job.action == "sync" else ""),
            }
        )
    if job.action == "unlink":
        requests.append(
            {
                "method": "DELETE",
                "path": number_path,
                "count": valid,
                "numbers": valid,
                "why": "unlink",
            }
        )
    if job.unlink_extra:
        why = "unlink each linked number not in the input"
        requests.append({"method": "DELETE", "path": number_path, "count": None, "why": why})
    if job.wait:
        requests.append(
            {
                "method": "GET",
                "path": f"{campaign_path} or {number_path}",
                "count": None,
                "why": f"poll every {job.poll_interval:g} s for up to {job.wait_timeout:g} s",
            }
        )
    show_plan(
        job.action,
        job.campaign_id,
        requests,
        as_json=as_json,
        checked=checked,
        callback=job.callback,
    )


@click.command("wait", epilog=EPILOG.split(" Ctrl-C")[0])
@click.argument("args", nargs=-1, metavar="[CAMPAIGN] [NUMBER]...")
@campaign_option
@input_options
@connection_options
@wait_timeout_option("--timeout", "--wait-timeout")
@poll_interval_option
@click.option("--unlinked", is_flag=True, help="Wait until the numbers are gone (after unlink).")
@no_effect(
    "wait", "it sends no link requests", "--batch-size", "--callback-url", "--callback-method"
)
@no_effect("wait", "it always waits", "--wait")
@dry_run_option("Check the input and show the polls")
@output_options
def wait_command(**opts: Any) -> None:
    """Wait until Plivo has processed the numbers (COMPLETED or FAILED)."""
    campaign_id, numbers = split_campaign(opts.pop("campaign_id"), opts.pop("args"))
    path, column = opts.pop("path"), opts.pop("column")
    job = Job(
        "wait",
        campaign_id,
        wait=True,
        wait_timeout=opts.pop("wait_timeout"),
        poll_interval=opts.pop("poll_interval"),
    )
    unlinked: bool = opts.pop("unlinked")
    if opts.pop("dry_run"):
        with number_input(numbers, path, column) as source:
            _dry_run(job, source, as_json=opts.pop("as_json"))
    session = connect(opts)
    feedback = Feedback(opts.pop("progress"), quiet=opts.pop("quiet"))

    async def work(source: NumberInput) -> tuple[bool, BulkReport | None]:
        async with session:
            state = "unlinked" if unlinked else "processed"
            feedback.start_phase(
                f"waiting until the numbers from {source.name} are {state} ({job.polling})"
            )
            try:
                return await interruptible(
                    session.wait_for_numbers(
                        campaign_id,
                        source,
                        timeout=job.wait_timeout,
                        poll_interval=job.poll_interval,
                        unlinked=unlinked,
                    )
                )
            finally:
                feedback.finish_phase()

    with number_input(numbers, path, column) as source:
        try:
            interrupted, report = run(work(source))
        finally:
            feedback.close()
        if report is None:
            click.echo("interrupted", err=True)
            raise SystemExit(EXIT_INTERRUPTED)
        report = source.annotate(report)
    finish(
        report,
        feedback=feedback,
        as_json=opts.pop("as_json"),
        report_path=opts.pop("report_path"),
        interrupted=interrupted,
    )
