"""Report files are written through a new temporary file, then renamed into place: no
existing path, and no symbolic link planted in the report's directory, is ever written
through."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest

from plivo_numlink import BulkReport, NumberOutcome, OutcomeKind
from plivo_numlink._report import replace_file, write_json_object


def _report() -> BulkReport:
    outcome = NumberOutcome(number="12125550001", kind=OutcomeKind.ACCEPTED, attempts=1)
    return BulkReport(action="link", campaign_id="CUOGHIN", outcomes=(outcome,))


def test_a_link_planted_at_the_old_partial_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "r.csv.partial").symlink_to(victim)
    _report().save(tmp_path / "r.csv")
    assert victim.read_text() == "precious\n"
    assert "12125550001" in (tmp_path / "r.csv").read_text()


def test_a_link_at_the_report_path_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "r.json").symlink_to(victim)
    _report().save(tmp_path / "r.json")
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "r.json").is_symlink()
    assert json.loads((tmp_path / "r.json").read_text())["outcomes"][0]["number"] == "12125550001"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    target.write_text("old\n")

    def fail(file: object) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        replace_file(target, fail)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_a_replaced_report_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old\n")
    target.chmod(0o640)
    _report().save(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_new_report_gets_the_mode_open_would_give_it(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        _report().save(tmp_path / "r.json")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o640


@pytest.mark.parametrize("items", [[], [{"number": "1", "error": "x\ny"}, [1, 2]]])
@pytest.mark.parametrize("tail", [None, {}, {"valid": 3, "requests": [{"count": None}]}])
def test_a_streamed_json_object_is_what_json_dumps_writes(
    items: list[object], tail: dict[str, object] | None
) -> None:
    head = {"dry_run": True, "campaign_id": "CUOGHIN"}
    buffer = io.StringIO()
    write_json_object(buffer, head, "invalid", iter(items), None if tail is None else lambda: tail)
    expected = {**head, "invalid": items, **(tail or {})}
    assert buffer.getvalue() == json.dumps(expected, indent=2) + "\n"
