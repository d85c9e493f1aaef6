"""``python -m plivo_numlink``: the same command line as the ``plivo-numlink`` script."""

from .cli import main

if __name__ == "__main__":
    main()
