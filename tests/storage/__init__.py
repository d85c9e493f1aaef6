"""Tests of the shared storage (a package, so that its conftest does not shadow the top one)."""
