"""The ``plivo-numlink`` command group, with every subcommand registered."""

from __future__ import annotations

import contextlib
import signal
from typing import Any

import click

import plivo_numlink as pn

from . import _bulk, _fake, _read
from ._runner import EXIT_INTERRUPTED, STOP_SIGNALS


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        # A command changes them once interrupted (a second signal must not lose the report).
        handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise SystemExit(EXIT_INTERRUPTED) from None
        finally:
            for signum, handler in handlers.items():
                with contextlib.suppress(ValueError, TypeError):  # not the main thread; None
                    signal.signal(signum, handler)


@click.group(
    cls=_Group,
    commands=[
        *(_bulk.link_command, _bulk.unlink_command, _bulk.sync_command, _bulk.wait_command),
        *(_read.list_command, _read.status_command, _fake.fake_server_command, _fake.demo_command),
    ],
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(pn.__version__, prog_name="plivo-numlink")
def cli() -> None:
    """Link phone numbers to Plivo 10DLC campaigns in bulk, and check on them.

    Credentials come from PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN (or --auth-id/--auth-token).
    Start with `plivo-numlink demo`: it needs no credentials and no network.
    HTTPS_PROXY/NO_PROXY (or --proxy) and SSL_CERT_FILE (a PEM file of CAs) are honoured.

    Exit codes: 0 all ok, 1 some numbers not ok, 2 usage or configuration error,
    130 interrupted (Ctrl-C), 143 terminated (SIGTERM; handled as Ctrl-C is).
    """
