import gzip
import json

import pytest

from ftlab.core.jsonl import read_jsonl, write_jsonl


def test_gzip_output_is_byte_identical_across_writes(tmp_path):
    rows = [{"b": 1, "a": "é"}, {"a": "x"}]
    write_jsonl(tmp_path / "one.jsonl.gz", rows)
    write_jsonl(tmp_path / "two.jsonl.gz", rows)
    assert (tmp_path / "one.jsonl.gz").read_bytes() == (tmp_path / "two.jsonl.gz").read_bytes()
    assert list(read_jsonl(tmp_path / "one.jsonl.gz")) == rows


def test_bad_line_error_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError, match=r"bad.jsonl: line 2: not valid JSON"):
        list(read_jsonl(path))


def test_non_object_line_is_rejected(tmp_path):
    path = tmp_path / "list.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("[1, 2]\n")
    with pytest.raises(ValueError, match="line 1: expected a JSON object, got list"):
        list(read_jsonl(path))


def test_update_json_merges_with_what_the_file_holds_and_leaves_no_lock(tmp_path):
    from ftlab.core.jsonl import update_json

    path = tmp_path / "r.json"
    assert update_json(path, lambda saved: {"rows": (saved or {"rows": []})["rows"] + [1]}) == {"rows": [1]}
    assert update_json(path, lambda saved: {"rows": saved["rows"] + [2]}) == {"rows": [1, 2]}
    assert json.loads(path.read_text()) == {"rows": [1, 2]} and not (tmp_path / "r.json.lock").exists()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    import os
    import time

    from ftlab.core.jsonl import exclusive

    path = tmp_path / "r.json"
    lock = tmp_path / "r.json.lock"
    lock.write_text("")
    old = time.time() - 3600
    os.utime(lock, (old, old))
    with exclusive(path, wait_s=60):
        assert lock.exists()
    assert not lock.exists()
