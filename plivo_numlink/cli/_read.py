"""The commands that only read: ``list`` (a campaign's numbers) and ``status`` (given numbers)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from typing import IO, Any

import attrs
import click
from rich.table import Table
from rich.text import Text

import plivo_numlink as pn

from . import _options as op
from . import _output as out
from . import _runner as rn
from ._runner import EXIT_NOT_OK, EXIT_OK, CliError, run_to_end, shown

_STYLE: dict[pn.LinkStatus | None, str] = {
    pn.LinkStatus.COMPLETED: "green",
    pn.LinkStatus.PROCESSING: "yellow",
    pn.LinkStatus.FAILED: "red",
    pn.LinkStatus.UNKNOWN: "",
}


async def read_campaign(
    session: pn.NumLinkSession, campaign_id: str, feedback: out.Feedback
) -> pn.CampaignNumbers:
    """The campaign's numbers (as list_numbers gives them), with pages and numbers read shown."""
    pages: list[pn.CampaignNumbers] = []
    seen: dict[str, pn.NumberStatus] = {}
    async with session:
        feedback.start_phase(f"reading campaign {campaign_id}", announce=False)
        try:
            async for page in session.iter_pages(campaign_id):
                pages.append(page)
                seen.update((e.number, e) for e in page.phone_numbers if e.number not in seen)
                read = f"{out.plural(len(pages), 'page')}, {out.plural(len(seen), 'number')}"
                feedback.update_phase(read, every=out.PROGRESS_LINE_SECONDS)
        finally:
            feedback.finish_phase()
    return attrs.evolve(pages[0], phone_numbers=tuple(seen.values()))


@click.command("list")
@click.argument("args", nargs=-1, metavar="[CAMPAIGN]")
@op.campaign_option
@op.connection_options
@op.dry_run_option("Show the request")
@op.output_options
@op.ignored("--concurrency", *op.SENDING)
def list_command(**opts: Any) -> None:
    """List a campaign's numbers and their statuses.

    --report writes the listing (.json: what --json prints; .csv: number,status rows).
    """
    campaign_id, rest = op.split_campaign(opts.pop("campaign_id"), opts.pop("args"))
    if rest:
        raise click.UsageError(f"unexpected arguments: {' '.join(rest)}")
    as_json, report_path = opts.pop("as_json"), opts.pop("report_path")
    if opts.pop("dry_run"):
        plan = [out.request("GET", out.CAMPAIGN_PATH % campaign_id, None, "read the campaign")]
        out.show_plan("list", campaign_id, plan, as_json, report_path=report_path)
    session = op.connect(opts)
    feedback = out.Feedback(opts.pop("progress"), quiet=opts.pop("quiet"))
    campaign = run_to_end(read_campaign(session, campaign_id, feedback), campaign_id)
    data = campaign.to_dict()
    count = out.plural(data["count"], "number")
    if report_path is not None:

        def write(file: IO[str]) -> None:
            if report_path.lower().endswith(".csv"):
                rows = [[entry["number"], entry["status"]] for entry in data["phone_numbers"]]
                csv.writer(file, lineterminator="\n").writerows([["number", "status"], *rows])
            else:
                file.write(json.dumps(data, indent=2) + "\n")

        out.write_file(report_path, write)
        feedback.note(f"listing written to {report_path} ({count})")
    if as_json:
        click.echo(json.dumps(data, indent=2))
        raise SystemExit(EXIT_OK)
    console = out.stdout_console()
    alias = f" ({campaign.campaign_alias})" if campaign.campaign_alias else ""
    console.print(Text(f"campaign {campaign.campaign_id}{alias}: {count}", "bold"))
    table = Table("number", "status")
    for entry, row in zip(campaign.phone_numbers, data["phone_numbers"], strict=True):
        status = Text(shown(row["status"]), _STYLE.get(entry.status, ""))
        table.add_row(Text(shown(entry.number)), status)
    console.print(table)
    counts = sorted(Counter(shown(row["status"]) for row in data["phone_numbers"]).items())
    if counts:
        console.print(", ".join(f"{count:,} {status}" for status, count in counts), markup=False)
    raise SystemExit(EXIT_OK)


def _status_text(outcome: pn.NumberOutcome) -> str | None:
    """The status as Plivo wrote it (kept for a status this library does not know)."""
    if outcome.status is pn.LinkStatus.UNKNOWN and (outcome.error or "").startswith("status "):
        return (outcome.error or "")[len("status ") :]
    return outcome.status.value if outcome.status is not None else None


@op.numbers_command(
    "status",
    "Numbers: as arguments, or -f FILE, or -f - for stdin.",
    op.ignored(*op.SENDING, "--progress"),
    out=op.report_options,
)
def status_command(**opts: Any) -> None:
    """Show each number's status in a campaign.

    Exit 1 when a number is not linked or its linking FAILED; exit 2 for an invalid number
    (nothing is sent). --report: completed, pending (PROCESSING), remote_failed, rejected.
    """
    campaign_id, numbers = op.split_campaign(opts.pop("campaign_id"), opts.pop("args"))
    as_json, report_path = opts.pop("as_json"), opts.pop("report_path")
    feedback = out.Feedback(quiet=opts.pop("quiet"))
    with op.number_input(numbers, opts, feedback) as source:
        checked = source.check("status")
    invalid = [o.error or o.number for o in checked if o.kind is pn.OutcomeKind.INVALID]
    if invalid:
        more = f" (and {len(invalid) - 1:,} more invalid)" if len(invalid) > 1 else ""
        raise CliError(invalid[0] + more)
    wanted = [o.number for o in checked]
    if opts.pop("dry_run"):
        path, why = out.NUMBER_PATH % campaign_id, "read each number's status"
        plan = [out.request("GET", path, len(wanted), why)]
        given = {"checked": checked, "report_path": report_path, "feedback": feedback}
        out.show_plan("status", campaign_id, plan, as_json, **given)
    session = op.connect(opts)

    async def work() -> pn.BulkReport:
        async with session:
            return await session.get_numbers(campaign_id, wanted)

    interrupted, report = rn.run(rn.interruptible(work()), campaign_id)
    if report is None:  # Ctrl-C: the checked input, every number not attempted, is the report
        why = rn.interrupted_reason()
        lines = tuple(attrs.evolve(o, error=why) for o in checked)
        report = attrs.evolve(checked, outcomes=lines, campaign_id=campaign_id, stopped_reason=why)
    if report_path is not None:
        out.write_report(report, report_path, feedback)
    if interrupted:
        click.echo("interrupted", err=True)
        rn.exit_interrupted()
    rows = [(o, _status_text(o)) for o in report]
    if as_json:
        data = [
            {"number": o.number, "status": text, "ok": o.ok, "error": None if text else o.error}
            for o, text in rows
        ]
        click.echo(json.dumps(data, indent=2))
    else:
        console = out.stdout_console()
        console.print(Text(f"campaign {campaign_id}", "bold"))
        table = Table("number", "status")
        for o, text in rows:
            style = _STYLE.get(o.status, "red")
            table.add_row(Text(shown(o.number)), Text(shown(text or o.error or ""), style))
        console.print(table)
    raise SystemExit(EXIT_OK if report.ok else EXIT_NOT_OK)
