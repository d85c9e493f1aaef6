"""Tests of the network options: proxies, the environment, TLS contexts (a package, so that
its conftest does not shadow the top-level one: tests import names from ``conftest``)."""
