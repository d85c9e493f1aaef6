"""``link``, ``unlink``, ``sync`` and ``wait``: thin layers over the library's bulk calls,
which validate and deduplicate the input as they read it. Ctrl-C stops a link or unlink job
with BulkRun.stop, whose report still accounts for every input line."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

import attrs
import click

import plivo_numlink as pn

from . import _options as op
from . import _output as out
from ._options import INT_1, opt
from ._read import read_campaign
from ._runner import CliError, interrupted_reason, interruptible, run, run_to_end

_WAITED_FOR = (pn.OutcomeKind.ACCEPTED, pn.OutcomeKind.ALREADY)
EPILOG = (
    "Numbers: as arguments, or -f FILE (one per line, or CSV: --column picks the column; a "
    "first row of plain text with no number in it is a header), or -f - for stdin (also read "
    "when no numbers are given and it is not a terminal). Blank lines and #-comments are "
    "skipped; lines that are not UTF-8 or not a number are reported as invalid. Ctrl-C stops "
    "cleanly (SIGTERM too): the report still accounts for every number (exit 130; 143)."
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
_WAIT = op.options(
    opt("--wait", is_flag=True, text="Then poll until Plivo has processed them."),
    op.wait_timeout_option("--wait-timeout"),
    op.poll_interval_option,
)


@op.numbers_command("link", EPILOG, _BATCH, op.callback_options, _WAIT, _JOURNAL)
def link_command(**opts: Any) -> None:
    """Link numbers to a campaign, in batches, with retries and pacing."""
    _run("link", opts)


@op.numbers_command(
    "unlink", EPILOG, op.callback_options, _WAIT, _JOURNAL, op.ignored("--batch-size")
)
def unlink_command(**opts: Any) -> None:
    """Unlink numbers from a campaign, one request each."""
    _run("unlink", opts)


@op.numbers_command(
    "sync",
    EPILOG,
    _BATCH,
    opt("--unlink-extra", is_flag=True, text="Also unlink the numbers not in the input."),
    opt("--yes", is_flag=True, text="Unlink them without asking (needed off a terminal)."),
    op.callback_options,
    _WAIT,
)
def sync_command(**opts: Any) -> None:
    """Make a campaign hold exactly the given numbers: link what is missing or FAILED (and
    with --unlink-extra, unlink the rest). Safe to run again."""
    _run("sync", opts)


@op.numbers_command(
    "wait",
    EPILOG,
    op.wait_timeout_option("--timeout", "--wait-timeout"),
    op.poll_interval_option,
    opt("--unlinked", is_flag=True, text="Wait until the numbers are gone (after unlink)."),
    op.ignored(*op.SENDING),
)
def wait_command(**opts: Any) -> None:
    """Wait until Plivo has processed the numbers (COMPLETED or FAILED)."""
    _run("wait", opts)


def _run(action: str, opts: dict[str, Any]) -> NoReturn:
    campaign_id, numbers = op.split_campaign(opts.pop("campaign_id"), opts.pop("args"))
    fields = {name: opts.pop(name) for name in (*_JOB_OPTIONS, "journal") if name in opts}
    given = {key: opts.pop(f"callback_{key}", None) for key in ("url", "method")}
    callback = {k: v.upper() if k == "method" else v for k, v in given.items() if v is not None}
    job = Job(action, campaign_id, callback=callback, **fields)
    feedback = out.Feedback(opts.pop("progress"), quiet=opts.pop("quiet"))
    ending = {"as_json": opts.pop("as_json"), "report_path": opts.pop("report_path")}
    dry_run = opts["dry_run"]
    # sync and --unlink-extra's dry run connect (and check the credentials) before reading
    session = None if dry_run and not job.unlink_extra else op.connect(dict(opts))
    with op.number_input(numbers, opts, None if dry_run else feedback) as source:
        if action in ("link", "unlink"):
            if session is None:  # streamed: a dry run over millions of lines stays small
                more = {"duplicates": lambda: source.duplicates, "feedback": feedback}
                _dry_run(job, source.iter_check(action), ending, **more)
            try:
                report, interrupted = run(link_or_unlink(session, job, source, feedback))
            finally:
                feedback.finish_job()
            resume = _resume_hint(job) if interrupted else None
            stats = session.stats()
            out.finish(
                report, feedback, **ending, interrupted=interrupted, resume=resume, stats=stats
            )
        entries = list(source)  # sync and wait read the whole input first anyway
        checked = source.annotate(pn.NumberInput(entries).check(action))
    extras = _extras(job, opts, checked, feedback)
    if session is None or dry_run:
        _dry_run(job, checked, ending, unlink=extras, feedback=feedback)
    try:
        work = interruptible(_one_call(session, job, entries, feedback))
        interrupted, result = run(work, campaign_id)
        ending["stats"] = session.stats()
    except CliError as exc:  # the report still says what became of each number: nothing
        if ending["report_path"] is not None:
            report = _unsent(job, checked, f"not sent: {exc.message}")
            out.write_report(report, ending["report_path"], feedback)
        raise
    if result is None:
        again = "sync keeps no partial results: run it again (it is safe to repeat)"
        if action == "sync":
            click.echo(f"interrupted: {again}", err=True)
        result = _unsent(job, checked, interrupted_reason() + f"; {again}" * (action == "sync"))
    out.finish(source.annotate(result), feedback, **ending, interrupted=interrupted)


def _resume_hint(job: Job) -> str:
    if job.journal is None:  # numbers done are then answered "already": harmless, not free
        return "run the same command again; with --journal PATH, a re-run skips what is settled"
    return (
        f"run the same command again, with --journal {shlex.quote(job.journal)}: what it"
        " settled is not sent again"
    )


def _unsent(job: Job, checked: pn.BulkReport, reason: str) -> pn.BulkReport:
    """The report of a sync or wait that ended before its library call did: every line."""
    kind = pn.OutcomeKind.PENDING if job.action == "wait" else pn.OutcomeKind.NOT_ATTEMPTED
    action = {"sync": "link", "wait": "wait_unlinked" if job.unlinked else "wait"}[job.action]
    changes: dict[str, Any] = {"kind": kind, "ok": False, "error": reason}
    invalid = pn.OutcomeKind.INVALID
    outcomes = [
        attrs.evolve(o, action=action, **{} if o.kind is invalid else changes) for o in checked
    ]
    fields: dict[str, Any] = {"campaign_id": job.campaign_id, "stopped_reason": reason}
    return attrs.evolve(checked, outcomes=tuple(outcomes), **fields)


def _extras(
    job: Job, opts: dict[str, Any], checked: pn.BulkReport, feedback: out.Feedback
) -> list[str] | None:
    """sync --unlink-extra: refuse an empty desired set; read, show or confirm what goes."""
    desired = {o.number for o in checked if o.kind is not pn.OutcomeKind.INVALID}
    why = "would unlink every number of the campaign; --allow-empty allows that"
    if job.unlink_extra and not desired and not opts["allow_empty"]:
        raise CliError(f"no valid number in the input: sync --unlink-extra {why}")
    if not job.unlink_extra or not (opts["dry_run"] or opts["yes"] or is_terminal()):
        if job.unlink_extra:  # off a terminal: no one to ask
            raise CliError("sync --unlink-extra unlinks numbers: add --yes (or --dry-run)")
        return None
    if opts["yes"] and not opts["dry_run"]:
        return None
    reading = read_campaign(op.connect(dict(opts)), job.campaign_id, feedback)
    extras = [e.number for e in run_to_end(reading, job.campaign_id)]
    extras = [number for number in extras if number not in desired]
    count = out.plural(len(extras), "number")
    question = f"unlink {count} not in the input from {job.campaign_id}?"
    if extras and not opts["dry_run"] and not click.confirm(question, err=True):
        raise CliError("not confirmed: nothing was changed")
    return extras


def is_terminal() -> bool:
    """Whether a person can answer a question (tests replace this)."""
    return sys.stdin.isatty()


async def _drain(bulk: pn.BulkRun) -> None:
    async with bulk:
        async for _ in bulk:
            pass


async def link_or_unlink(
    session: pn.NumLinkSession, job: Job, source: pn.NumberInput, feedback: out.Feedback
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
            click.echo(f"interrupted: reading the rest of {source.name} (not sent)", err=True)
            bulk.stop(interrupted_reason())
        report = bulk.report()
        if job.wait and not interrupted and report.stopped_reason is None:
            count = sum(o.kind in _WAITED_FOR for o in report)
            phase = f"waiting for Plivo to finish processing {out.plural(count, 'number')}"
            feedback.start_phase(f"{phase} ({job.polling})", waiting=count)
            kw: dict[str, Any] = {"timeout": job.wait_timeout, "poll_interval": job.poll_interval}
            wait = session.wait_for_report(report, **kw, on_outcome=feedback.waited)
            try:
                interrupted, waited = await interruptible(wait)
            finally:
                feedback.finish_phase()
            report = waited or report
    if interrupted:
        report = attrs.evolve(report, stopped_reason=report.stopped_reason or interrupted_reason())
    return source.annotate(report), interrupted


async def _one_call(
    session: pn.NumLinkSession, job: Job, entries: list[str], feedback: out.Feedback
) -> pn.BulkReport:
    """sync or wait: one library call, shown as a phase."""
    settings: dict[str, Any] = {"poll_interval": job.poll_interval, "on_outcome": feedback.waited}
    async with session:
        if job.action == "sync":
            extra = " (unlinking extra numbers)" if job.unlink_extra else ""
            feedback.start_phase(f"syncing campaign {job.campaign_id}{extra}", waiting=len(entries))
            settings.update(job.callback, unlink_extra=job.unlink_extra, batch_size=job.batch_size)
            settings.update(wait=job.wait, timeout=job.wait_timeout)
            call = session.sync(job.campaign_id, entries, **settings)
        else:
            phase = f"waiting until the numbers are {'unlinked' if job.unlinked else 'processed'}"
            feedback.start_phase(f"{phase} ({job.polling})", waiting=len(set(entries)))
            settings.update(unlinked=job.unlinked, timeout=job.wait_timeout)
            call = session.wait_for_numbers(job.campaign_id, entries, **settings)
        try:
            return await call
        finally:
            feedback.finish_phase()


def _dry_run(job: Job, checked: Iterable[pn.NumberOutcome], ending: Any, **more: Any) -> NoReturn:
    """Show the requests a real run would send (and which numbers sync would unlink)."""
    campaign, number = out.CAMPAIGN_PATH % job.campaign_id, out.NUMBER_PATH % job.campaign_id
    sync, extras = job.action == "sync", len(more.get("unlink") or ())

    def steps(valid: int) -> list[dict[str, Any]]:
        plan = [out.request("GET", campaign, None, "read the campaign")] if sync else []
        if job.action in ("link", "sync"):
            why = "link the numbers missing or FAILED (at most this many)" if sync else "link"
            sizes = {"numbers": valid, "batch_size": job.batch_size}
            plan.append(out.request("POST", campaign, -(-valid // job.batch_size), why, **sizes))
        if job.action == "unlink":
            plan.append(out.request("DELETE", number, valid, "unlink", numbers=valid))
        if job.unlink_extra:
            why = "unlink each linked number not in the input"
            plan.append(out.request("DELETE", number, extras, why))
        if job.wait:
            polls = f"poll every {job.poll_interval:g} s for up to {job.wait_timeout:g} s"
            plan.append(out.request("GET", f"{campaign} or {number}", None, polls))
        return plan

    shown = {"checked": checked, "callback": job.callback, "report_path": ending["report_path"]}
    out.show_plan(job.action, job.campaign_id, steps, ending["as_json"], **shown, **more)
