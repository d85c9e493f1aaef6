"""The ``plivo-numlink`` command line (also ``python -m plivo_numlink``): the ``cli`` extra.

It needs click and rich (``pip install 'plivo-numlink[cli]'``), which the library never
imports; nor does this module: :func:`main` loads the command line when it runs, and
without the extra says how to install it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

INSTALL_HINT = "the command line needs the cli extra: pip install 'plivo-numlink[cli]'"


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: ``plivo-numlink``."""
    try:
        from ._app import cli
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in ("click", "rich"):
            raise
        print(f"plivo-numlink: {INSTALL_HINT}", file=sys.stderr)
        raise SystemExit(2) from None
    cli.main(args=list(argv) if argv is not None else None)


def __getattr__(name: str) -> Any:
    # ``from plivo_numlink.cli import cli``: the click group (which needs the extra).
    if name == "cli":
        from ._app import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
