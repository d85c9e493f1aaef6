"""Tests of plivo_numlink.callbacks (a package, so that its conftest does not shadow the
top-level one: tests import names from ``conftest``)."""
