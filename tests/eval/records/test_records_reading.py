"""The line-by-line readers: a JSON array's elements with the line each starts on."""

from __future__ import annotations

import pytest

from mvlm.errors import DataError
from mvlm.eval.records import read_json_array


def test_json_array_lines(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[\n  {"a": 1},\n\n  {"b": [1,\n 2]},  3\n]\n')
    assert read_json_array(path) == [(2, {"a": 1}), (4, {"b": [1, 2]}), (5, 3)]
    path.write_text("[]")
    assert read_json_array(path) == []
    path.write_text('{"a": 1}')
    with pytest.raises(DataError, match="expected a JSON array"):
        read_json_array(path)
    path.write_text("[1,\n 2 3]")
    with pytest.raises(DataError, match=r"a\.json:2: expected ','"):
        read_json_array(path)
