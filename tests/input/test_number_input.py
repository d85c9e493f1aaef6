"""NumberInput: numbers from a list, a file or a stream, read lazily, bad lines reported."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import plivo_numlink as pn
from plivo_numlink import BulkReport, NumberInput, NumberOutcome, OutcomeKind


def file_with(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "numbers.csv"
    path.write_bytes(content)
    return path


def test_a_list_is_passed_through_as_it_is() -> None:
    entries = ["+1 212-555-0001", "bad"]
    source = NumberInput(entries)
    assert list(source) == entries
    assert source.header is None
    assert source.estimate_total() == 2
    assert source.name == "the list"


def test_a_file_of_lines_skips_blanks_and_comments(tmp_path: Path) -> None:
    path = file_with(tmp_path, b"# mine\n2125550001\n\n  \n2125550002\r\n")
    with NumberInput(file=path) as source:
        assert list(source) == ["2125550001", "2125550002"]
        assert source.header is None
        assert source.estimate_total() == 5
        assert source.name == str(path)


def test_a_header_names_the_number_column(tmp_path: Path) -> None:
    path = file_with(tmp_path, b"\xef\xbb\xbfName,Phone Number\nAnn,2125550001\n")
    with NumberInput(file=path) as source:
        assert source.header == ["Name", "Phone Number"]
        assert source.column_label == "'Phone Number'"
        assert list(source) == ["2125550001"]
        assert source.estimate_total() == 1


@pytest.mark.parametrize("column", ["cell", "CELL", "2"])
def test_column_by_name_key_or_index(tmp_path: Path, column: str) -> None:
    path = file_with(tmp_path, b"name,cell\nAnn,2125550001\n")
    with NumberInput(file=path, column=column) as source:
        assert list(source) == ["2125550001"]


def test_column_index_without_header(tmp_path: Path) -> None:
    path = file_with(tmp_path, b"Ann,2125550001\n")
    with NumberInput(file=path, column="2") as source:
        assert source.column_label == "#2"
        assert list(source) == ["2125550001"]


def test_an_unknown_column_is_a_value_error_naming_the_columns(tmp_path: Path) -> None:
    path = file_with(tmp_path, b"name,phone\nAnn,2125550001\n")
    with pytest.raises(ValueError, match="columns: name, phone"):
        NumberInput(file=path, column="mobile").open()


def test_a_column_name_needs_a_header(tmp_path: Path) -> None:
    path = file_with(tmp_path, b"2125550001,Ann\n")
    with pytest.raises(ValueError, match="needs a header row"):
        NumberInput(file=path, column="phone").open()


def test_a_column_without_a_file_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="file"):
        NumberInput(["2125550001"], column="phone")


def test_a_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        NumberInput(file=tmp_path / "missing.csv").open()


def test_bad_lines_become_entries_whose_reasons_annotate_a_report(tmp_path: Path) -> None:
    content = b"name,phone\nAnn,2125550001\nBob,212555\xff0002\nCy\nDee,\n" + b"7" * 5000
    with NumberInput(file=file_with(tmp_path, content + b"\n")) as source:
        entries = list(source)
    assert entries[0] == "2125550001"
    assert entries[1] == "line 3: 212555\\xff0002"
    assert [entry.split(":")[0] for entry in entries[2:]] == ["line 4", "line 5", "line 6"]
    report = BulkReport(
        outcomes=tuple(NumberOutcome(entry, OutcomeKind.INVALID, error="?") for entry in entries)
    )
    errors = [outcome.error or "" for outcome in source.annotate(report)]
    assert errors[0] == "?"
    assert "not valid UTF-8" in errors[1]
    assert "has no column 'phone'" in errors[2]
    assert "is empty" in errors[3]
    assert "5,001 bytes long" in errors[4]


def test_a_report_without_bad_lines_is_returned_as_it_is() -> None:
    report = BulkReport(outcomes=())
    assert NumberInput(["2125550001"]).annotate(report) is report


def test_a_stream_is_read_lazily_and_not_closed() -> None:
    stream = io.BytesIO(b"2125550001\n2125550002\n")
    source = NumberInput(file=stream, name="stdin")
    iterator = iter(source)
    assert next(iterator) == "2125550001"
    assert stream.tell() < len(stream.getvalue())
    assert list(iterator) == ["2125550002"]
    source.close()
    assert not stream.closed
    assert source.estimate_total() is None


def test_check_reads_everything_and_sends_nothing() -> None:
    source = NumberInput(["2125550001", "+1 212 555 0001", "12", "2125550002"])
    report = source.check("link")
    assert [(o.number, o.kind) for o in report] == [
        ("12125550001", OutcomeKind.NOT_ATTEMPTED),
        ("12", OutcomeKind.INVALID),
        ("12125550002", OutcomeKind.NOT_ATTEMPTED),
    ]
    assert report.duplicates == 1
    assert report.action == "link"
    assert report.requests == 0
    assert "'12'" in (report["12"].error or "")


def test_it_is_exported() -> None:
    assert "NumberInput" in pn.__all__


def test_close_ends_the_entries_of_a_stream_it_does_not_own() -> None:
    stream = io.BytesIO(b"2125550001\n2125550002\n2125550003\n")
    source = NumberInput(file=stream)
    entries = iter(source)
    assert next(entries) == "2125550001"
    source.close()
    assert list(entries) == []
    assert not stream.closed


def test_close_ends_the_entries_of_a_list_and_of_an_owned_file(tmp_path: Path) -> None:
    listed = NumberInput(["2125550001", "2125550002"])
    entries = iter(listed)
    assert next(entries) == "2125550001"
    listed.close()
    assert list(entries) == []
    path = file_with(tmp_path, b"2125550001\n2125550002\n")
    with NumberInput(file=path) as from_file:
        entries = iter(from_file)
        assert next(entries) == "2125550001"
    assert list(entries) == []


@pytest.mark.parametrize(
    ("content", "empty"),
    [
        (b"", True),
        (b"\n  \n# just a comment\n", True),
        (b"\xef\xbb\xbfname,phone\n\n", True),
        (b"phone\n\n2125550001\n", False),
        (b"12125557x77\n", False),
    ],
)
def test_empty_says_whether_a_file_holds_no_entry(
    tmp_path: Path, content: bytes, empty: bool
) -> None:
    with NumberInput(file=file_with(tmp_path, content)) as source:
        assert source.empty is empty
        assert (list(source) == []) is empty


def test_empty_for_lists() -> None:
    assert NumberInput([]).empty
    assert not NumberInput(["2125550001"]).empty
    assert not NumberInput(iter([])).empty  # unknown until read: not reported empty
