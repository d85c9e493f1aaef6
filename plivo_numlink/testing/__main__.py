"""``python -m plivo_numlink.testing``: serve the fake Plivo API from a shell (see _main)."""

from ._main import main

if __name__ == "__main__":
    raise SystemExit(main())
