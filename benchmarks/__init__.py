"""Benchmarks of plivo-numlink against FakePlivo; run them with ``python -m benchmarks.run``."""
