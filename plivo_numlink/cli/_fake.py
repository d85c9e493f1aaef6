"""The commands that need no account: ``fake-server`` and ``demo``, both on a FakePlivo."""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, Any

import click

import plivo_numlink as pn

from ._bulk import Job, link_or_unlink
from ._options import opt, options, output_options
from ._output import Feedback, plural, render_summary, stdout_console, write_report
from ._runner import EXIT_NOT_OK, EXIT_OK, CliError, exit_interrupted, interruptible, run

if TYPE_CHECKING:
    from ..testing import FakePlivo


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
    from ..testing._main import ready_lines

    try:
        campaigns = [pn.validate_campaign_id(campaign) for campaign in settings["campaigns"]]
    except ValueError as exc:
        raise CliError(str(exc)) from None
    settings.update(campaigns=campaigns or ["CUOGHIN"], error_rates=error_rates)
    served: list[FakePlivo] = []

    def ready(fake: FakePlivo) -> None:
        served.append(fake)
        click.echo("\n".join(ready_lines(fake)))

    async def main() -> None:
        try:
            await interruptible(serve(host, port, on_ready=ready, **settings))
        finally:
            if served:  # serve() stops it when cancelled, but it may end other ways
                await served[0].stop()

    try:
        run(main())
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    requests = sum(served[0].count_by_status.values()) if served else 0
    click.echo(f"stopped after {plural(requests, 'request')}", err=True)


DEMO_LIMITS: dict[str, Any] = {"concurrency": 20, "rate_limit": 100.0}


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
    from ..testing._demo import DEMO_CAMPAIGN, DEMO_FAKE

    plan = testing.demo_plan(count, seed)
    feedback = Feedback(out["progress"], quiet=out["quiet"] or out["as_json"])
    fake = testing.FakePlivo(seed=seed, fail_numbers=plan.fail_numbers, **DEMO_FAKE)
    job = Job("link", DEMO_CAMPAIGN, 25, wait_timeout=60, poll_interval=poll_interval)

    async def work() -> tuple[pn.BulkReport, bool]:
        async with fake:
            feedback.note(plan.intro(fake.base_url), markup=True)
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
        exit_interrupted()
    not_ok = [outcome.number for outcome in report.failed]
    error, lines = plan.explain(not_ok, report.stopped_reason, fake.count_by_status)
    if not feedback.quiet:
        stdout_console().print("\n".join(lines))
    if error is not None:
        click.echo(f"error: the demo did not end as planned: {error}", err=True)
    raise SystemExit(EXIT_OK if error is None else EXIT_NOT_OK)
