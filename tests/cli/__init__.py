"""The command line's tests: a package, so its conftest.py and helpers keep their names."""
