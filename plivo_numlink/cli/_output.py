"""What the commands print and write. stdout carries results only (a table, or JSON with
``--json``); progress, notes and errors go to stderr; reports go to files."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, NoReturn

import click
import rich.progress as bar
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

import plivo_numlink as pn

from .._report import replace_file, write_json_object
from . import _runner
from ._runner import shown

#: Plain progress lines (stderr not a terminal): at most this many seconds apart, and at
#: every tenth of the job when its size is known.
PROGRESS_LINE_SECONDS, PROGRESS_LINE_STEPS = 5.0, 10
#: Failures listed under the summary table, and invalid entries under a dry run's plan.
SHOWN_FAILURES, SHOWN_INVALID = 10, 20
#: The paths of ``--dry-run``'s plans (the auth id is not needed for a dry run).
CAMPAIGN_PATH = "/v1/Account/{auth_id}/10dlc/Campaign/%s/Number/"
NUMBER_PATH = CAMPAIGN_PATH + "{number}/"


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


class Feedback:
    """What a command tells the user on stderr while it works, as ``mode`` says: ``bar`` (live),
    ``lines`` (every few seconds and tenth of the job, for logs), ``none``, or ``auto``: a bar
    on a terminal, else lines."""

    def __init__(self, mode: str = "auto", *, quiet: bool = False) -> None:
        mode = "none" if quiet else mode
        force = True if mode == "bar" else None
        self.console = Console(stderr=True, highlight=False, soft_wrap=True, force_terminal=force)
        if mode == "auto":
            mode = "bar" if self.console.is_terminal else "lines"
        self.mode, self.quiet = mode, mode == "none"
        self.done = self.ok = self._next_step = self.settled = self.waiting = 0
        self._label = self._phase = self._counts = ""
        self._total: int | None = None
        self._started = self._last = 0.0
        self._lined = -1  # the count at the last progress line (-1: none yet)
        #: The live display (a job's bar or a phase's spinner) and the bar's task.
        self._live: bar.Progress | None = None
        self._task: bar.TaskID | None = None

    def note(self, text: str, *, markup: bool = False) -> None:
        """A line of information on stderr, unless quiet."""
        if not self.quiet:
            console = self._live.console if self._live is not None else self.console
            console.print(text if markup else shown(text), markup=markup, emoji=False)

    def start_job(self, label: str, total: int | None) -> None:
        """A job with per-number outcomes (counted by :meth:`advance`) begins."""
        self._label, self._total, self.done, self.ok, self._next_step = label, total, 0, 0, 1
        self._started = self._last = time.monotonic()
        if self.mode == "bar":
            counts = "[green]{task.fields[ok]:,} ok[/] [red]{task.fields[bad]:,} not ok"
            columns = [bar.SpinnerColumn(), bar.TextColumn("[bold]{task.description}")]
            columns += [bar.BarColumn(), bar.MofNCompleteColumn(), bar.TextColumn(counts)]
            columns += [bar.TextColumn("{task.fields[rate]}"), bar.TimeElapsedColumn()]
            self._live = bar.Progress(*columns, console=self.console)
            self._task = self._live.add_task(label, total=total, ok=0, bad=0, rate="")
            self._live.start()
        elif self.mode == "lines" and (total or 0) >= 1000:  # a long job: say that it started
            self._line(self._started)

    def advance(self, outcome: pn.NumberOutcome) -> None:
        """Count one outcome (the bulk job's ``on_outcome`` hook)."""
        self.done += 1
        self.ok += outcome.ok
        now, total = time.monotonic(), self._total or 0
        # Steps only once the job has run a while: a quick job needs no progress lines.
        step = (
            now - self._started >= 1.0
            and self.done * PROGRESS_LINE_STEPS >= self._next_step * total
        )
        if self.mode == "bar" and now - self._last >= 0.1:
            self._push(now, self._total)
        elif self.mode == "lines" and (
            now - self._last >= PROGRESS_LINE_SECONDS or (total and step)
        ):
            self._line(now)

    def finish_job(self) -> None:
        if self.mode == "lines" and self._lined not in (-1, self.done):  # and where it ended
            self._total = self.done
            self._line(time.monotonic())
        if self._task is not None:
            self._push(time.monotonic(), self.done)
            self._task = None
        self.finish_phase()

    def _rate(self, now: float) -> str:
        elapsed = now - self._started
        return f"{self.done / elapsed:,.0f}/s" if elapsed > 0.05 else ""

    def _push(self, now: float, total: int | None) -> None:
        self._last = now
        if self._live is not None and self._task is not None:
            total = None if total is None else max(total, self.done)
            fields: dict[str, Any] = {"ok": self.ok, "bad": self.done - self.ok, "total": total}
            self._live.update(self._task, completed=self.done, rate=self._rate(now), **fields)

    def _line(self, now: float) -> None:
        self._last, self._lined = now, self.done
        where = f"{self.done:,} numbers"
        if self._total:
            share = min(100, self.done * 100 // self._total)
            where = f"{self.done:,} of ~{self._total:,} numbers ({share}%)"
            self._next_step = self.done * PROGRESS_LINE_STEPS // self._total + 1
        bad, rate = self.done - self.ok, self._rate(now) or "-"
        self.console.print(f"{self._label}: {where}, {self.ok:,} ok, {bad:,} not ok, {rate}")

    def start_phase(self, text: str, *, announce: bool = True, waiting: int = 0) -> None:
        """A phase without a bar of its own (sync, reading, a wait on ``waiting`` numbers)."""
        self._phase, self._counts, self._last = text, "", time.monotonic()
        self.waiting = waiting
        if self.mode == "bar":
            columns = (bar.SpinnerColumn(), bar.TextColumn("{task.description}"))
            self._live = bar.Progress(*columns, bar.TimeElapsedColumn(), console=self.console)
            self._task = self._live.add_task(shown(text), total=None)
            self._live.start()
        elif self.mode == "lines" and announce:
            self.console.print(f"{text}...", markup=False)

    def update_phase(self, counts: str, every: float = 0.0) -> None:
        """The phase's counts changed: shown on the bar, or as a line (at most ``every`` s)."""
        now = time.monotonic()
        if counts != self._counts and self._task is not None and self._live is not None:
            self._live.update(self._task, description=shown(f"{self._phase}: {counts}"))
        elif counts != self._counts and self.mode == "lines" and now - self._last >= every:
            self._last = now
            self.console.print(f"{self._phase}: {counts}", markup=False)
        self._counts = counts

    def waited(self, outcome: pn.NumberOutcome) -> None:  # a wait's on_outcome hook
        self.settled += outcome.kind is not pn.OutcomeKind.ACCEPTED
        left = max(self.waiting - self.settled, 0)
        every = left and PROGRESS_LINE_SECONDS  # a line every few seconds, and the last
        self.update_phase(f"{self.settled:,} done, {left:,} pending", every)

    def finish_phase(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live, self._task = None, None


def render_summary(report: pn.BulkReport, console: Console, stats: Any = None) -> None:
    """The counts by outcome kind, the first failures, then a line (with ``stats``' retries)."""
    total, failed = len(report), report.failed
    counts = Counter(outcome.kind for outcome in report)
    action = report.action.replace("wait_unlinked", "wait --unlinked")
    console.print(Text(f"{action} {report.campaign_id}: {plural(total, 'number')}", "bold"))
    table = Table("outcome", Column("count", justify="right"), "meaning")
    for kind in (kind for kind in pn.OutcomeKind if counts[kind]):
        mark = "[green]ok[/]" if kind.ok else "[red]not ok[/]"
        meaning = kind.meaning
        if report.resumed and kind in (pn.OutcomeKind.ACCEPTED, pn.OutcomeKind.REJECTED):
            meaning = meaning.replace(" by Plivo", " by Plivo, in this run or an earlier one")
        table.add_row(f"{kind.value} ({mark})", f"{counts[kind]:,}", meaning)
    if not total:
        table.add_row("-", "0", "no numbers in the input")
    console.print(table)
    if failed:
        first = failed[:SHOWN_FAILURES]
        more = f" (first {len(first)} of {len(failed):,})" if len(failed) > len(first) else ""
        console.print(Text(f"not ok{more}", "bold"))
        failures = Table("number", "outcome", "error")
        for outcome in first:
            error = Text(shown(outcome.error or ""))
            failures.add_row(Text(shown(outcome.number)), outcome.kind.value, error)
        console.print(failures)
    line = f"{total - len(failed):,} ok, {len(failed):,} not ok; "
    line += f"{plural(report.requests, 'request')} in {report.elapsed:.1f} s"
    line += f" ({stats.retries:,} retried, {stats.throttled:,} answered 429)" if stats else ""
    if report.duplicates:
        repeated = "repeated entry" if report.duplicates == 1 else "repeated entries"
        line += f"; {report.duplicates:,} {repeated} skipped"
    if report.resumed:
        line += f"; {report.resumed:,} from the journal (settled by an earlier run, not sent again)"
    console.print(line)
    if report.stopped_reason:
        console.print(Text.assemble(("stopped: ", "red"), shown(report.stopped_reason)))


def write_file(path: str, write: Callable[[IO[str]], None]) -> None:
    """Write ``path`` via a new file renamed into place: never half-written, never via a link."""
    try:
        replace_file(path, write)
    except OSError as exc:
        message = f"cannot write the report to {path}: {exc.strerror or exc}"
        raise _runner.CliError(message) from None


def write_report(report: pn.BulkReport, path: str, feedback: Feedback | None = None) -> None:
    """Write ``report`` as JSON or CSV (by extension); ``path`` is replaced only when done."""
    write_file(path, report.write_csv if path.lower().endswith(".csv") else report.write_json)
    if feedback is not None:
        feedback.note(f"report written to {path} ({plural(len(report), 'number')})")


def finish(
    report: pn.BulkReport,
    feedback: Feedback,
    *,
    as_json: bool,
    report_path: str | None,
    interrupted: bool = False,
    resume: str | None = None,
    stats: pn.SessionStats | None = None,
) -> NoReturn:
    """Print and write the report, then exit with the code it calls for."""
    if report_path is not None:
        if interrupted:
            count = plural(len(report), "number")
            click.echo(f"interrupted: writing the report ({count}) to {report_path}...", err=True)
        write_report(report, report_path, feedback)
    if as_json:
        report.write_json(sys.stdout)
        feedback.note(report.summary())
    else:
        render_summary(report, stdout_console(), stats)
        if report.failed and report_path is None and not interrupted:
            feedback.note("every number's outcome: add --report out.csv (or .json)")
    if interrupted:
        click.echo(f"interrupted: {_undone(report)}", err=True)
        if resume is not None:
            click.echo(f"to resume: {resume}", err=True)
        _runner.exit_interrupted()
    stopped = report.stopped_reason
    if stopped is not None:
        # 401/403, an unknown campaign and a job that could send nothing at all (its rate-limit
        # storage or journal failed first) are configuration errors (exit 2).
        codes = {o.status_code for o in report.outcomes if o.status_code in (401, 403, 404)}
        campaign = 404 in codes and "campaign" in stopped.lower()
        hint = _runner.CREDENTIALS_HINT if codes & {401, 403} else _runner.CAMPAIGN_HINT
        hint = f"; {hint}" if codes & {401, 403} or campaign else ""
        unsent = not report.requests and not any(o.attempts for o in report)
        click.echo(f"error: the job stopped: {shown(stopped)}{hint}", err=True)
        raise SystemExit(_runner.EXIT_USAGE if hint or unsent else _runner.EXIT_NOT_OK)
    raise SystemExit(_runner.EXIT_OK if report.ok else _runner.EXIT_NOT_OK)


def _undone(report: pn.BulkReport) -> str:
    """What became of the numbers not done, in the counts the summary shows."""
    if report.action.startswith("wait"):
        return "the numbers not done are reported as pending"
    unsent = sum(o.kind is pn.OutcomeKind.NOT_ATTEMPTED for o in report)
    cut = sum(
        o.kind is pn.OutcomeKind.ERROR and (o.error or "").startswith("interrupted") for o in report
    )
    # Those in flight were sent, but their answer never came: Plivo may have acted on them.
    cut_text = f"; {plural(cut, 'number')} in flight, answer unknown: error (interrupted)"
    return f"{plural(unsent, 'number')} never sent: not_attempted" + cut_text * bool(cut)


def request(method: str, path: str, count: int | None, why: str, **more: int) -> dict[str, Any]:
    """One line of a dry run's plan: ``count`` requests (None: as needed) and why."""
    return {"method": method, "path": path, "count": count, **more, "why": why}


def show_plan(action: str, campaign_id: str, requests: Any, as_json: bool, **more: Any) -> NoReturn:
    """A dry run's plan: the input's check (``checked``: outcomes, read once as they come, the
    invalid ones streamed; ``duplicates()``: the repeats it skipped), then the requests a real
    run would send (a list, or a function of the valid count; with ``callback``), and for sync
    --unlink-extra the numbers it would ``unlink``. With ``report_path``, the checked input is
    also written there as a report: every number not sent."""
    checked: Iterable[pn.NumberOutcome] | None = more.get("checked")
    callback, unlink, report_path = more.get("callback"), more.get("unlink"), more["report_path"]
    duplicates = more.get("duplicates") or (lambda: getattr(checked, "duplicates", 0))
    if report_path is not None and checked is None:
        click.echo(f"no report written to {report_path}: this dry run reads no numbers", err=True)
    elif report_path is not None and checked is not None:
        checked = tuple(checked)  # the report needs them all; the plan reads them again
        fields: dict[str, Any] = {"duplicates": duplicates(), "stopped_reason": "dry run"}
        report = pn.BulkReport(checked, action=action, campaign_id=campaign_id, **fields)
        write_report(report, report_path, more.get("feedback"))
    counts: Counter[bool] = Counter()

    def invalid() -> Iterator[dict[str, str]]:
        for outcome in checked or ():
            counts[outcome.kind is pn.OutcomeKind.INVALID] += 1
            if outcome.kind is pn.OutcomeKind.INVALID:
                yield {"number": outcome.number, "error": outcome.error or ""}

    def rest() -> dict[str, Any]:  # what the input was found to hold, once it is read
        found = {"valid": counts[False], "duplicates": duplicates(), "callback": callback or None}
        steps = requests(counts[False]) if callable(requests) else requests
        extra = {} if unlink is None else {"unlink": unlink}
        return {**(found if checked is not None else {}), "requests": steps, **extra}

    plan: dict[str, Any] = {"dry_run": True, "action": action, "campaign_id": campaign_id}
    if as_json:  # streamed: the invalid entries (any number of them) come as they are read
        if checked is None:
            click.echo(json.dumps({**plan, **rest()}, indent=2))
        else:
            write_json_object(sys.stdout, plan, "invalid", invalid(), rest)
        raise SystemExit(_runner.EXIT_NOT_OK if counts[True] else _runner.EXIT_OK)
    bad = [item for i, item in enumerate(invalid()) if i < SHOWN_INVALID]
    found = rest()
    valid, steps = counts[False], found["requests"]
    print_ = stdout_console().print
    print_("[bold]dry run[/]: nothing is sent")
    if checked is not None:
        skipped = plural(found["duplicates"], "duplicate")
        print_(f"{action} campaign {campaign_id}: {plural(valid, 'valid number')}, ", end="")
        print_(f"{counts[True]:,} invalid, {skipped} skipped")
    print_("would send:")
    for step in steps:
        times = "as needed" if step["count"] is None else plural(step["count"], "request")
        each = f" (at most {step['batch_size']} numbers each)" if "batch_size" in step else ""
        print_(f"  {step['method']} {step['path']}  {times}{each}: {step['why']}", markup=False)
    if callback:
        body = ", ".join(f"{key}={value}" for key, value in callback.items())
        print_(f"  with the status callback {body}", markup=False)
    if unlink is not None:
        print_(f"would unlink {plural(len(unlink), 'number')} not in the input:")
        print_("".join(f"  {shown(number)}\n" for number in unlink), end="", markup=False)
    if counts[True]:
        print_(f"invalid numbers (never sent): {counts[True]:,}")
        for entry in bad:
            print_(f"  {shown(entry['number'])}: {shown(entry['error'])}", markup=False)
        if counts[True] > SHOWN_INVALID:
            print_(f"  ... and {counts[True] - SHOWN_INVALID:,} more (--json lists them all)")
    raise SystemExit(_runner.EXIT_NOT_OK if counts[True] else _runner.EXIT_OK)
