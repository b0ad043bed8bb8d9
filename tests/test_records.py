"""tracekit.records: the merged structure record into lists, exact on hand-built bytes."""

from __future__ import annotations

import pytest

from tracekit import records


def test_valid_records_in_file_order() -> None:
    raw = b'[7,["proc",1,7,1,"start","p.py"]]\n\n[7,["thread",2,8,"w","threading"]]\n'
    assert records.parse(raw) == [(7, ["proc", 1, 7, 1, "start", "p.py"]), (7, ["thread", 2, 8, "w", "threading"])]


def test_a_lone_surrogate_is_mended_to_the_replacement_character() -> None:
    raw = b'[7,["thread",2,8,"bad\\udcffname","threading"]]\n[7,["end",3]]\n'  # as json.dumps writes it
    assert records.parse(raw) == [(7, ["thread", 2, 8, "bad\ufffdname", "threading"]), (7, ["end", 3])]


def test_a_malformed_line_is_named_or_skipped() -> None:
    raw = b'[7,["end",3]]\n[7,["cut sho\n[8,["end",4]]\n'  # a line cut by a dying process
    with pytest.raises(records.RecordError, match=r"structure\.jsonl line 2 is not a structure record"):
        records.parse(raw)
    assert records.parse(raw, strict=False) == [(7, ["end", 3]), (8, ["end", 4])]


def test_the_same_bytes_are_parsed_once() -> None:
    raw = b'[1,["proc", 5, 1, 0, "start", "x"]]\n[1,["end", 9]]\n'
    first = records.parse(raw)
    assert records.parse(raw, strict=False) is first and records.parse(bytes(raw)) is first
    other = records.parse(raw + b'[2,["end", 10]]\n')
    assert other is not first and other[-1] == (2, ["end", 10])
    bad = raw + b"not json\n"
    assert records.parse(bad, strict=False) == first  # the malformed line skipped, not cached
    with pytest.raises(records.RecordError, match="line 3"):
        records.parse(bad)
