"""The commands that only read: ``list`` (a campaign's numbers) and ``status`` (given numbers)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from typing import IO, Any

import click
from rich.table import Table
from rich.text import Text

from .. import (
    BulkReport,
    CampaignNumbers,
    LinkStatus,
    NumberOutcome,
    NumberStatus,
    OutcomeKind,
)
from ._options import (
    campaign_option,
    connect,
    connection_options,
    dry_run_option,
    input_options,
    no_effect,
    number_input,
    output_options,
    split_campaign,
)
from ._output import (
    CAMPAIGN_PATH,
    NUMBER_PATH,
    Feedback,
    plural,
    show_plan,
    stdout_console,
    write_file,
    write_report,
)
from ._runner import EXIT_INTERRUPTED, EXIT_NOT_OK, EXIT_OK, CliError, interruptible, run

_STATUS_STYLE: dict[LinkStatus | None, str] = {
    LinkStatus.COMPLETED: "green",
    LinkStatus.PROCESSING: "yellow",
    LinkStatus.FAILED: "red",
}


def _listed_status(entry: NumberStatus) -> str:
    if entry.status is LinkStatus.UNKNOWN and entry.raw_status:
        return entry.raw_status
    return entry.status.value


def _listing_data(campaign: CampaignNumbers) -> dict[str, Any]:
    return {
        "campaign_id": campaign.campaign_id,
        "campaign_alias": campaign.campaign_alias,
        "usecase": campaign.usecase,
        "count": len(campaign.phone_numbers),
        "phone_numbers": [
            {"number": entry.number, "status": _listed_status(entry)}
            for entry in campaign.phone_numbers
        ],
    }


def write_listing(campaign: CampaignNumbers, path: str) -> None:
    """Write a campaign's listing: ``--json``'s document, or CSV rows ``number,status``."""
    data = _listing_data(campaign)

    def write(file: IO[str]) -> None:
        if path.lower().endswith(".csv"):
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(["number", "status"])
            writer.writerows([entry["number"], entry["status"]] for entry in data["phone_numbers"])
        else:
            file.write(json.dumps(data, indent=2) + "\n")

    write_file(path, write)


@click.command("list")
@click.argument("args", nargs=-1, metavar="[CAMPAIGN]")
@campaign_option
@connection_options
@no_effect("list", "it only reads", "--batch-size", "--callback-url", "--callback-method")
@no_effect("list", "it reads the campaign once", "--wait")
@dry_run_option("Show the request")
@output_options
def list_command(**opts: Any) -> None:
    """List a campaign's numbers and their statuses.

    --report writes the listing (.json: what --json prints; .csv: number,status rows).
    """
    campaign_id, rest = split_campaign(opts.pop("campaign_id"), opts.pop("args"))
    if rest:
        raise click.UsageError(f"unexpected arguments: {' '.join(rest)}")
    as_json: bool = opts.pop("as_json")
    report_path: str | None = opts.pop("report_path")
    if opts.pop("dry_run"):
        request = {"method": "GET", "path": CAMPAIGN_PATH % campaign_id, "count": None}
        show_plan("list", campaign_id, [{**request, "why": "read the campaign"}], as_json=as_json)
    session = connect(opts)
    feedback = Feedback(opts.pop("progress"), quiet=opts.pop("quiet"))

    async def work() -> CampaignNumbers:
        async with session:
            return await session.list_numbers(campaign_id)

    # No progress line: one page at a time goes by fast, and a note would only add noise.
    interrupted, campaign = run(interruptible(work()))
    if interrupted or campaign is None:
        click.echo("interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    count = plural(len(campaign.phone_numbers), "number")
    if report_path is not None:
        write_listing(campaign, report_path)
        feedback.note(f"listing written to {report_path} ({count})")
    data = _listing_data(campaign)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        raise SystemExit(EXIT_OK)
    console = stdout_console()
    alias = f" ({campaign.campaign_alias})" if campaign.campaign_alias else ""
    console.print(Text(f"campaign {campaign.campaign_id}{alias}: {count}", "bold"))
    table = Table("number", "status")
    for entry, row in zip(campaign.phone_numbers, data["phone_numbers"], strict=True):
        table.add_row(Text(entry.number), Text(row["status"], _STATUS_STYLE.get(entry.status, "")))
    console.print(table)
    counts = Counter(row["status"] for row in data["phone_numbers"])
    if counts:
        console.print(", ".join(f"{count:,} {status}" for status, count in sorted(counts.items())))
    raise SystemExit(EXIT_OK)


def _status_text(outcome: NumberOutcome) -> str | None:
    """The status as Plivo wrote it (kept for a status this library does not know)."""
    if outcome.status is LinkStatus.UNKNOWN and (outcome.error or "").startswith("status "):
        return (outcome.error or "")[len("status ") :]
    return outcome.status.value if outcome.status is not None else None


@click.command("status", epilog="Numbers: as arguments, or -f FILE, or -f - for stdin.")
@click.argument("args", nargs=-1, metavar="[CAMPAIGN] [NUMBER]...")
@campaign_option
@input_options
@connection_options
@no_effect("status", "one number per request", "--batch-size")
@no_effect("status", "it only reads", "--callback-url", "--callback-method")
@no_effect("status", "it reads each status once; see the wait command", "--wait")
@dry_run_option("Check the numbers and show the requests")
@output_options
def status_command(**opts: Any) -> None:
    """Show each number's status in a campaign.

    Exit 1 when a number is not linked to the campaign or its linking FAILED; exit 2 when
    a number is not a valid US number (nothing is sent then). --report writes one line per
    number (action "status"; kind completed, pending for PROCESSING, remote_failed, or
    rejected when not linked).
    """
    campaign_id, numbers = split_campaign(opts.pop("campaign_id"), opts.pop("args"))
    as_json: bool = opts.pop("as_json")
    report_path: str | None = opts.pop("report_path")
    feedback = Feedback(opts.pop("progress"), quiet=opts.pop("quiet"))
    with number_input(numbers, opts.pop("path"), opts.pop("column"), feedback) as source:
        checked = source.check("status")
    invalid = [o.error or o.number for o in checked if o.kind is OutcomeKind.INVALID]
    if invalid:
        more = f" (and {len(invalid) - 1:,} more invalid)" if len(invalid) > 1 else ""
        raise CliError(invalid[0] + more)
    wanted = [o.number for o in checked]
    if opts.pop("dry_run"):
        why = "read each number's status"
        request = {"method": "GET", "path": NUMBER_PATH % campaign_id, "count": len(wanted)}
        show_plan(
            "status", campaign_id, [{**request, "why": why}], as_json=as_json, checked=checked
        )
    session = connect(opts)

    async def work() -> BulkReport:
        async with session:
            return await session.get_numbers(campaign_id, wanted)

    # No progress, as for list: reading statuses is quick, and a note would only add noise.
    interrupted, report = run(interruptible(work()))
    if interrupted or report is None:
        click.echo("interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    if report_path is not None:
        write_report(report, report_path, feedback)
    if as_json:
        data = [
            {
                "number": o.number,
                "status": _status_text(o),
                "ok": o.ok,
                "error": o.error if o.status is None else None,
            }
            for o in report
        ]
        click.echo(json.dumps(data, indent=2))
    else:
        console = stdout_console()
        console.print(Text(f"campaign {campaign_id}", "bold"))
        table = Table("number", "status")
        for o in report:
            text = _status_text(o)
            if text is None:
                table.add_row(o.number, Text(o.error or "", style="red"))
            else:
                table.add_row(o.number, Text(text, style=_STATUS_STYLE.get(o.status, "")))
        console.print(table)
    raise SystemExit(EXIT_OK if report.ok else EXIT_NOT_OK)
