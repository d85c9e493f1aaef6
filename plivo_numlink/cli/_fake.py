"""The commands that need no account: ``fake-server`` and ``demo``, both on a FakePlivo."""

from __future__ import annotations

import contextlib
import math
import signal
import sys
from typing import TYPE_CHECKING, Any

import click

import plivo_numlink as pn

from ._bulk import Job, link_or_unlink
from ._options import opt, options, output_options
from ._output import Feedback, plural, render_summary, stdout_console, write_report
from ._runner import EXIT_INTERRUPTED, EXIT_NOT_OK, EXIT_OK, CliError, interruptible, run

if TYPE_CHECKING:
    from ..testing import FakePlivo

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _numbers(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``S`` or ``LOW,HIGH`` seconds, or ``STATUS=P`` entries; FakePlivo checks the rest."""
    with contextlib.suppress(ValueError):
        if param.name == "latency":
            seconds = tuple(float(part) for part in value.split(","))
            if len(seconds) <= 2 and all(map(math.isfinite, seconds)):
                return seconds[0] if len(seconds) == 1 else seconds
        else:
            rates = {int(s): float(p) for s, _, p in (entry.partition("=") for entry in value)}
            if all(400 <= status <= 599 for status in rates):
                return rates
    raise click.BadParameter(f"{value!r} is not {param.metavar}")


_RATES_TEXT = "Answer a share P of requests with STATUS, e.g. 503=0.05 (repeatable)."
_RATES = {"callback": _numbers, "text": _RATES_TEXT}


@click.command("fake-server")
@options(
    opt("--host", default="127.0.0.1", text="Address to listen on."),
    opt("--port", type=click.IntRange(0, 65535), default=0, text="0: a free port (printed)."),
    opt("--seed", type=int, default=0, text="Seed of the faults."),
    opt("--latency", default="0", metavar="S|LOW,HIGH", callback=_numbers, text="Per request."),
    opt("--error-rate", "error_rates", multiple=True, metavar="STATUS=P", **_RATES),
    opt("--drop-rate", type=click.FloatRange(0, 1), default=0.0, text="Connections dropped."),
    opt("--rate-limit", type=click.IntRange(min=1), metavar="N", text="429 past N requests/s."),
    opt("--campaign", "campaigns", multiple=True, metavar="ID", text="(repeatable; CUOGHIN)"),
    opt("--fail-number", "fail_numbers", multiple=True, text="Linking ends FAILED (repeatable)."),
    opt("--complete-after", type=click.FloatRange(min=0), default=0.0, text="PROCESSING for S s."),
    opt("--complete-after-polls", type=click.IntRange(min=0), default=1, text="... for N reads."),
    opt("--prelink", type=click.IntRange(min=0), default=0, text="N numbers already linked."),
)
def fake_server_command(host: str, port: int, error_rates: Any, **settings: Any) -> None:
    """Run a fake Plivo Number Linking API in the foreground until Ctrl-C.

    It keeps its state in memory, answers like Plivo and can misbehave on request (latency,
    5xx, dropped connections, 429). Its credentials are public test values, not secrets.
    """
    from ..testing import serve  # the fake server, only for the commands that run one

    try:
        campaigns = [pn.validate_campaign_id(campaign) for campaign in settings["campaigns"]]
    except ValueError as exc:
        raise CliError(str(exc)) from None
    settings.update(campaigns=campaigns or ["CUOGHIN"], error_rates=error_rates)
    served: list[FakePlivo] = []

    def ready(fake: FakePlivo) -> None:
        served.append(fake)
        credentials = f"PLIVO_AUTH_ID={fake.auth_id} PLIVO_AUTH_TOKEN={fake.auth_token}"
        first = campaigns[0] if campaigns else "CUOGHIN"
        for line in (
            f"fake Plivo Number Linking API listening on {fake.base_url}",
            f"  auth id:    {fake.auth_id}",
            f"  auth token: {fake.auth_token}   (the fake's public test token, not a secret)",
            f"  campaigns:  {', '.join(fake.campaigns)}",
            "point the CLI at it:",
            f"  export {credentials} PLIVO_NUMLINK_BASE_URL={fake.base_url}",
            f"  plivo-numlink link {first} 12125557777 --wait --poll-interval 0.5",
            "or in one line:",
            f"  {credentials} plivo-numlink link --base-url {fake.base_url} {first} 12125557777",
            "press Ctrl-C to stop",
        ):
            click.echo(line)

    async def main() -> None:
        try:
            await interruptible(serve(host, port, on_ready=ready, **settings), _SIGNALS)
        finally:
            if served:  # serve() stops it when cancelled, but it may end other ways
                await served[0].stop()

    try:
        run(main())
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    requests = sum(served[0].count_by_status.values()) if served else 0
    click.echo(f"stopped after {plural(requests, 'request')}", err=True)


DEMO_CAMPAIGN = "CUOGHIN"
DEMO_LIMITS: dict[str, Any] = {"concurrency": 20, "rate_limit": 100.0}
#: The demo's server: a little misbehaving; processing takes half a second, so one pass over
#: the campaign usually confirms every number (paging through 3,000 takes a few seconds).
DEMO_FAKE: dict[str, Any] = {
    "campaigns": (DEMO_CAMPAIGN,),
    "error_rates": {503: 0.02},
    "drop_rate": 0.005,
    "latency": (0.005, 0.03),
    "complete_after": 0.5,
    "complete_after_polls": 0,
}


@click.command("demo")
@opt("--count", type=click.IntRange(10, 1_000_000), default=3000, text="Numbers to link.")
@opt("--seed", type=int, default=1, text="Seed of numbers and faults.")
@opt("--poll-interval", type=click.FloatRange(min=0, min_open=True), default=0.2, text="Seconds.")
@output_options
def demo_command(count: int, seed: int, poll_interval: float, **out: Any) -> None:
    """Link a few thousand numbers on a fake Plivo server (no credentials, no network).

    A fake server on 127.0.0.1 misbehaves a little (503s, dropped connections, latency);
    the input has planted invalid entries and numbers the server fails. The demo links,
    waits for processing, and explains the result. Exit 0 when the only numbers not ok are
    the planted ones.
    """
    from .. import testing  # the fake server, only for the commands that run one

    plan = testing.demo_plan(count, seed)
    feedback = Feedback(out["progress"], quiet=out["quiet"] or out["as_json"])
    fake = testing.FakePlivo(seed=seed, fail_numbers=plan.fail_numbers, **DEMO_FAKE)
    job = Job("link", DEMO_CAMPAIGN, 25, wait_timeout=60, poll_interval=poll_interval)

    async def work() -> tuple[pn.BulkReport, bool]:
        async with fake:
            feedback.note(
                f"[bold]plivo-numlink demo[/]: a fake Plivo API runs at {fake.base_url} (in "
                "this process). It misbehaves a little: 2% of requests get HTTP 503, 0.5% of "
                f"connections drop. {len(plan.entries):,} entries to link in mixed formats, "
                f"{len(plan.invalid) + plan.duplicates + len(plan.fail_numbers)} of them planted "
                "faults: invalid entries, a repeat, and numbers the server will fail.",
                markup=True,
            )
            limits = {"base_url": fake.base_url, **DEMO_LIMITS}
            session = pn.NumLinkSession(fake.auth_id, fake.auth_token, **limits)
            return await link_or_unlink(session, job, pn.NumberInput(plan.entries), feedback)

    try:
        report, interrupted = run(work())
    finally:
        feedback.finish_job()
    if out["report_path"] is not None:
        write_report(report, out["report_path"])
    if out["as_json"]:
        click.echo(report.to_json())
    else:
        render_summary(report, stdout_console())
    if interrupted:
        click.echo("interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    planted = set(plan.invalid) | set(plan.fail_numbers)
    not_ok = {outcome.number for outcome in report.failed}
    expected = not_ok == planted and report.stopped_reason is None
    if not feedback.quiet:
        statuses = fake.count_by_status
        faults = sum(count for status, count in statuses.items() if status and status >= 500)
        print_ = stdout_console().print
        print_()
        if expected:
            print_(
                f"[green]As planned[/]: the {len(not_ok)} numbers not ok are the "
                f"{len(plan.invalid)} invalid entries (never sent) and the "
                f"{len(plan.fail_numbers)} numbers the fake server was told to fail. "
                "Every other number is linked and confirmed COMPLETED."
            )
        drops = plural(statuses.get(None, 0), "connection")
        print_(f"Retried: {plural(faults, '5xx answer')} and {drops} the server dropped.")
        print_(f"Next: `{sys.exec_prefix}/bin/plivo-numlink fake-server` runs the fake alone.")
    if not expected:
        unexpected, missing = sorted(not_ok - planted)[:5], sorted(planted - not_ok)[:5]
        stopped = f", stopped: {report.stopped_reason}" if report.stopped_reason else ""
        seen = f"unexpected failures {unexpected}, planted failures not seen {missing}{stopped}"
        click.echo(f"error: the demo did not end as planned: {seen}", err=True)
    raise SystemExit(EXIT_OK if expected else EXIT_NOT_OK)
