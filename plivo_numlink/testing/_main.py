"""``python -m plivo_numlink.testing``: serve a :class:`FakePlivo` from a shell, with no
extra installed (the ``plivo-numlink fake-server`` command does the same with more options).

It prints where it listens and the fake's public test credentials, then serves until
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from .._numbers import validate_campaign_id
from ._server import FakePlivo

__all__ = ["main", "ready_lines"]

DEFAULT_CAMPAIGN = "CUOGHIN"


def ready_lines(fake: FakePlivo) -> list[str]:
    """What a served fake tells its user: where it listens, its credentials, how to use it."""
    credentials = f"PLIVO_AUTH_ID={fake.auth_id} PLIVO_AUTH_TOKEN={fake.auth_token}"
    first = next(iter(fake.campaigns), DEFAULT_CAMPAIGN)
    return [
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
    ]


def _campaign(text: str) -> str:
    try:
        return validate_campaign_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m plivo_numlink.testing",
        description="Serve a fake Plivo Number Linking API until Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument(
        "--campaign",
        dest="campaigns",
        action="append",
        type=_campaign,
        metavar="ID",
        help=f"a campaign it knows (repeatable; default {DEFAULT_CAMPAIGN})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of its random choices")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    return parser


async def _serve(fake: FakePlivo) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not on Windows: there Ctrl-C raises KeyboardInterrupt, which main() catches.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, task.cancel)
    await fake.start()
    print("\n".join(ready_lines(fake)), flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await fake.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C or SIGTERM; the exit status (2 for bad options, as argparse)."""
    args = _parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        _parser().error(f"--port {args.port} is not between 0 and 65535")
    fake = FakePlivo(
        host=args.host,
        port=args.port,
        campaigns=args.campaigns or [DEFAULT_CAMPAIGN],
        seed=args.seed,
        latency=args.latency,
    )
    try:
        asyncio.run(_serve(fake))
    except OSError as exc:
        print(
            f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:  # pragma: no cover - where no signal handler could be set
        pass
    requests = sum(fake.count_by_status.values())
    print(f"stopped after {requests:,} request{'' if requests == 1 else 's'}", file=sys.stderr)
    return 0
