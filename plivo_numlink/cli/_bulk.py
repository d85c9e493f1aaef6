"""``link``, ``unlink``, ``sync`` and ``wait``: thin layers over the library's bulk calls,
which validate and deduplicate the input as they read it. Ctrl-C stops a link or unlink job
with BulkRun.stop, whose report still accounts for every input line."""

from __future__ import annotations

import math
import sys
from typing import Any, NoReturn

import attrs

import plivo_numlink as pn

from ._options import (
    INT_1,
    callback_options,
    connect,
    no_effect,
    number_input,
    numbers_command,
    opt,
    options,
    poll_interval_option,
    split_campaign,
    wait_timeout_option,
)
from ._output import CAMPAIGN_PATH, NUMBER_PATH, Feedback, finish, plural, request, show_plan
from ._runner import INTERRUPTED_REASON, interruptible, run, run_to_end

_WAITED_FOR = (pn.OutcomeKind.ACCEPTED, pn.OutcomeKind.ALREADY)
EPILOG = (
    "Numbers: as arguments, or -f FILE (one per line, or CSV: --column picks the column; a "
    "first row of plain text with no number in it is a header), or -f - for stdin. Blank lines "
    "and #-comments are skipped; lines that are not UTF-8 or not a number are reported as "
    "invalid. Ctrl-C stops cleanly: the report still accounts for every number (exit 130)."
)


#: The options that become a Job's fields (where the command has them).
_JOB_OPTIONS = ("batch_size", "wait", "wait_timeout", "poll_interval", "unlink_extra", "unlinked")


@attrs.frozen
class Job:
    """What a command was asked to do."""

    action: str
    campaign_id: str
    batch_size: int = 1
    callback: dict[str, str] = attrs.Factory(dict)
    wait: bool = True
    wait_timeout: float = pn.defaults.WAIT_TIMEOUT
    poll_interval: float = pn.defaults.POLL_INTERVAL
    unlink_extra: bool = False
    unlinked: bool = False
    journal: str | None = None

    @property
    def polling(self) -> str:
        return f"polling every {self.poll_interval:g} s, for up to {self.wait_timeout:g} s"


_JOURNAL = opt("--journal", metavar="PATH", text="SQLite file: a re-run skips the numbers settled.")
_BATCH = opt("--batch-size", type=INT_1, default=pn.defaults.BATCH_SIZE, text="Numbers per link.")
_WAIT = options(
    opt("--wait", is_flag=True, text="Then poll until Plivo has processed them."),
    wait_timeout_option("--wait-timeout"),
    poll_interval_option,
)


@numbers_command("link", EPILOG, _BATCH, callback_options, _WAIT, _JOURNAL)
def link_command(**opts: Any) -> None:
    """Link numbers to a campaign, in batches, with retries and pacing."""
    _run("link", opts)


@numbers_command(
    "unlink",
    EPILOG,
    no_effect("unlink", "one per request", "--batch-size"),
    callback_options,
    _WAIT,
    _JOURNAL,
)
def unlink_command(**opts: Any) -> None:
    """Unlink numbers from a campaign, one request each."""
    _run("unlink", opts)


@numbers_command(
    "sync",
    EPILOG,
    _BATCH,
    opt("--unlink-extra", is_flag=True, text="Also unlink the numbers not in the input."),
    callback_options,
    _WAIT,
)
def sync_command(**opts: Any) -> None:
    """Make a campaign hold exactly the given numbers: link what is missing or FAILED (and
    with --unlink-extra, unlink the rest). Safe to run again."""
    _run("sync", opts)


@numbers_command(
    "wait",
    EPILOG.split(" Ctrl-C")[0],
    wait_timeout_option("--timeout", "--wait-timeout"),
    poll_interval_option,
    opt("--unlinked", is_flag=True, text="Wait until the numbers are gone (after unlink)."),
    no_effect("wait", "it sends no link requests", "--batch-size", "--callback-url"),
    no_effect("wait", "it sends no link requests", "--callback-method"),
    no_effect("wait", "it always waits", "--wait"),
)
def wait_command(**opts: Any) -> None:
    """Wait until Plivo has processed the numbers (COMPLETED or FAILED)."""
    _run("wait", opts)


def _run(action: str, opts: dict[str, Any]) -> NoReturn:
    campaign_id, numbers = split_campaign(opts.pop("campaign_id"), opts.pop("args"))
    fields = {name: opts.pop(name) for name in (*_JOB_OPTIONS, "journal") if name in opts}
    given = {key: opts.pop(f"callback_{key}", None) for key in ("url", "method")}
    callback = {k: v.upper() if k == "method" else v for k, v in given.items() if v is not None}
    job = Job(action, campaign_id, callback=callback, **fields)
    feedback = Feedback(opts.pop("progress"), quiet=opts.pop("quiet"))
    as_json, report_path = opts.pop("as_json"), opts.pop("report_path")
    if opts.pop("dry_run"):
        with number_input(numbers, opts) as source:
            _dry_run(job, source, as_json=as_json)
    session = connect(opts)
    interrupted = False
    with number_input(numbers, opts, feedback) as source:
        try:
            if action in ("link", "unlink"):
                report, interrupted = run(link_or_unlink(session, job, source, feedback))
            else:
                again = ": sync keeps no partial results; run it again (it is safe to repeat)"
                message = "interrupted" + (again if action == "sync" else "")
                report = run_to_end(_one_call(session, job, source, feedback), message)
        finally:
            feedback.finish_job()
    finish(report, feedback, as_json=as_json, report_path=report_path, interrupted=interrupted)


async def _drain(bulk: pn.BulkRun) -> None:
    async with bulk:
        async for _ in bulk:
            pass


async def link_or_unlink(
    session: pn.NumLinkSession, job: Job, source: pn.NumberInput, feedback: Feedback
) -> tuple[pn.BulkReport, bool]:
    """link or unlink, with a progress bar; then, with --wait, the wait for the report."""
    async with session:
        settings: dict[str, Any] = {**job.callback, "on_outcome": feedback.advance}
        settings["journal"] = job.journal
        if job.action == "link":
            settings["batch_size"] = job.batch_size
        start = session.iter_link if job.action == "link" else session.iter_unlink
        bulk = start(job.campaign_id, source, **settings)
        verb = "linking" if job.action == "link" else "unlinking"
        feedback.start_job(f"{verb} ({job.campaign_id})", source.estimate_total())
        interrupted = False
        try:
            interrupted, _ = await interruptible(_drain(bulk))
        except OSError:
            pass  # the job stopped; its report says "reading the input failed: ..."
        finally:
            feedback.finish_job()
        if interrupted:
            if source.name == "stdin" and sys.stdin.isatty():
                source.close()
                feedback.note("the rest of the terminal input is not read")
            bulk.stop(INTERRUPTED_REASON)
        report = bulk.report()
        if job.wait and not interrupted and report.stopped_reason is None:
            count = plural(sum(o.kind in _WAITED_FOR for o in report), "number")
            feedback.start_phase(f"waiting for Plivo to finish processing {count} ({job.polling})")
            wait = session.wait_for_report(
                report, timeout=job.wait_timeout, poll_interval=job.poll_interval
            )
            try:
                interrupted, waited = await interruptible(wait)
            finally:
                feedback.finish_phase()
            report = waited or report
    if interrupted:
        report = attrs.evolve(report, stopped_reason=report.stopped_reason or INTERRUPTED_REASON)
    return source.annotate(report), interrupted


async def _one_call(
    session: pn.NumLinkSession, job: Job, source: pn.NumberInput, feedback: Feedback
) -> pn.BulkReport:
    """sync or wait: one library call, shown as a phase."""
    async with session:
        if job.action == "sync":
            extra = " (unlinking extra numbers)" if job.unlink_extra else ""
            feedback.start_phase(f"syncing campaign {job.campaign_id} with {source.name}{extra}")
            call = session.sync(
                job.campaign_id,
                source,
                unlink_extra=job.unlink_extra,
                batch_size=job.batch_size,
                wait=job.wait,
                wait_timeout=job.wait_timeout,
                poll_interval=job.poll_interval,
                **job.callback,
            )
        else:
            state = "unlinked" if job.unlinked else "processed"
            feedback.start_phase(f"waiting until the numbers are {state} ({job.polling})")
            call = session.wait_for_numbers(
                job.campaign_id,
                source,
                timeout=job.wait_timeout,
                poll_interval=job.poll_interval,
                unlinked=job.unlinked,
            )
        try:
            return source.annotate(await call)
        finally:
            feedback.finish_phase()


def _dry_run(job: Job, source: pn.NumberInput, *, as_json: bool) -> NoReturn:
    """Read and check the input; show the requests a real run would send."""
    checked = source.check(job.action)
    valid = sum(o.kind is not pn.OutcomeKind.INVALID for o in checked)
    campaign, number = CAMPAIGN_PATH % job.campaign_id, NUMBER_PATH % job.campaign_id
    sync = job.action == "sync"
    link_why = "link the numbers missing or FAILED (at most this many)" if sync else "link"
    polls = f"poll every {job.poll_interval:g} s for up to {job.wait_timeout:g} s"
    batches = math.ceil(valid / job.batch_size)
    post = request("POST", campaign, batches, link_why, numbers=valid, batch_size=job.batch_size)
    extra_why = "unlink each linked number not in the input"
    steps = [
        (sync, request("GET", campaign, None, "read the campaign")),
        (job.action in ("link", "sync"), post),
        (job.action == "unlink", request("DELETE", number, valid, "unlink", numbers=valid)),
        (job.unlink_extra, request("DELETE", number, None, extra_why)),
        (job.wait, request("GET", f"{campaign} or {number}", None, polls)),
    ]
    plan = [step for wanted, step in steps if wanted]
    show_plan(job.action, job.campaign_id, plan, as_json, checked=checked, callback=job.callback)
