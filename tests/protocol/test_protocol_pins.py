"""Pins on error parsing that a mutation run found unpinned (issue 10, item 17)."""

from __future__ import annotations

import json

from plivo_numlink._protocol import error_from_response


def test_a_structured_error_keeps_its_text_when_a_second_key_follows() -> None:
    # Mutant: the loop over "error", "message", "detail" goes on after a structured value,
    # and the later key's text replaces it.
    body = {"error": {"code": 7, "reason": "campaign suspended"}, "message": "see error"}
    error = error_from_response(400, {}, json.dumps(body), method="POST", path="/x")
    assert error.message == '{"code": 7, "reason": "campaign suspended"}'
    listed = {"message": ["first problem", "second problem"], "detail": "ignored"}
    error = error_from_response(400, {}, json.dumps(listed), method="POST", path="/x")
    assert error.message == '["first problem", "second problem"]'


def test_an_empty_first_key_falls_through_to_the_next() -> None:
    body = {"error": "", "message": {}, "detail": "the detail"}
    error = error_from_response(400, {}, json.dumps(body), method="POST", path="/x")
    assert error.message == "the detail"
