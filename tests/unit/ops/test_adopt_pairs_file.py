"""Issue 20: ``adopt --pairs`` reads what Excel and people save, refuses the rest clearly.

A cell is shown escaped in every message.

Before: a Latin-1 or UTF-16 file was a ``UnicodeDecodeError`` and an unclosed quote past 128 KiB a
``csv.Error`` (tracebacks, exit 70); the whole file was read into memory; a cell was printed raw.
"""

from __future__ import annotations

import pytest

from sync.common.errors import AdoptionRefused
from sync.common.ids import to18
from sync.ops.adopt import pairs
from sync.ops.adopt.pairs import PairLine, read_pairs

IDS = [to18(f"006A0000000{n:04d}") for n in range(4)]


def test_excel_csv_utf8_with_its_bom_is_read(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_bytes(f"opportunity_id,project\r\n{IDS[0]},hand-1\r\n".encode("utf-8-sig"))
    assert read_pairs(path) == ([PairLine(2, IDS[0], "hand-1")], [])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_excel_unicode_text_utf16_with_a_bom_and_tabs_is_read(tmp_path, encoding):
    path = tmp_path / "pairs.txt"
    text = f"opportunity_id\tproject\r\n{IDS[0]}\thand-1\r\n{IDS[1][:15]}\t7\r\n"
    path.write_bytes(
        ("\ufeff" + text).encode(encoding) if encoding.endswith("be") else text.encode(encoding)
    )
    assert read_pairs(path) == ([PairLine(2, IDS[0], "hand-1"), PairLine(3, IDS[1], "7")], [])


def test_a_semicolon_separated_file_is_read(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(f"{IDS[0]};hand-1\n{IDS[1]};hand-2\n")
    assert [line.project for line in read_pairs(path)[0]] == ["hand-1", "hand-2"]


def test_a_latin1_file_is_refused_naming_the_line_the_byte_and_what_to_do(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_bytes(f"{IDS[0]},hand-1\n# projet créé à la main\n".encode("latin-1"))
    with pytest.raises(AdoptionRefused) as refused:
        read_pairs(path)
    assert refused.value.exit_code == 2
    assert (
        str(refused.value)
        == f"{path}:2: the pairs file is not UTF-8 (byte 0xe9); save it as UTF-8 "
        "(Excel: File > Save As > CSV UTF-8)"
    )


def test_an_unclosed_quote_over_csv_s_field_limit_is_a_problem_at_its_line(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(f'{IDS[0]},hand-1\n{IDS[1]},"hand-2\n' + "x" * 200_000 + "\n")
    lines, problems = read_pairs(path)
    assert lines == [PairLine(1, IDS[0], "hand-1")]
    assert len(problems) == 1 and "not CSV (field larger than field limit" in problems[0][1]
    assert problems[0][0] >= 2


def test_a_file_over_the_cap_is_refused_before_it_is_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(pairs, "MAX_BYTES", 1000)
    path = tmp_path / "pairs.csv"
    path.write_text(f"{IDS[0]},hand-1\n" * 100)
    with pytest.raises(AdoptionRefused, match="is over 0 MiB; split it"):
        read_pairs(path)


def test_cells_are_shown_escaped_never_raw(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(
        f"{IDS[0]},a\x00b\x1b[31m\n{IDS[1]},a\x00b\x1b[31m\nnot\x00an\x07id,x\nalone\x1b\n"
    )
    lines, problems = read_pairs(path)
    text = "\n".join(message for _, message in problems)
    assert "\x00" not in text and "\x1b" not in text and "\x07" not in text
    assert "project a\\x00b\\x1b[31m is also on line 1" in text
    assert "'not\\x00an\\x07id' is not a Salesforce Id" in text
    assert "not 'alone\\x1b'" in text
