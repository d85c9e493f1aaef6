"""Tests of the bulk job journal (plivo_numlink._journal)."""
