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
