"""Every malformed chat dataset is rejected with the file, the row and what was expected."""
import json

import pytest

from ftlab.core.data import DatasetError, load_chat_jsonl, validate_rows

GOOD = {"messages": [{"role": "user", "content": "Count: a b"}, {"role": "assistant", "content": "2"}]}


def write(tmp_path, rows, raw_lines=()):
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(raw_lines))
    return path


def test_a_good_file_loads(tmp_path):
    assert load_chat_jsonl(write(tmp_path, [GOOD, GOOD])) == [GOOD, GOOD]


@pytest.mark.parametrize("bad, expected", [
    ({"text": "no messages"}, "expected an object with a 'messages' list"),
    ({"messages": []}, "'messages' must be a non-empty list"),
    ({"messages": ["hello"]}, "message 0 must be an object"),
    ({"messages": [{"content": "hi"}, {"role": "assistant", "content": "x"}]}, "message 0 is missing 'role'"),
    ({"messages": [{"role": "human", "content": "hi"}, {"role": "assistant", "content": "x"}]},
     "unknown role 'human'; expected one of system, user, assistant"),
    ({"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "x"}]},
     "content must be a string, got int"),
    ({"messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": "x"}]},
     "message 0 \\(user\\) has empty content"),
    ({"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "hi"}]},
     "roles must alternate user, assistant"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "be nice"}]},
     "a system message may only come first"),
    ({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]},
     "the last message must be from the assistant"),
])
def test_each_malformation_names_file_row_and_expectation(tmp_path, bad, expected):
    path = write(tmp_path, [GOOD, bad])
    with pytest.raises(DatasetError, match=rf"chat.jsonl: row 2: .*{expected}"):
        load_chat_jsonl(path)


def test_bad_json_line_is_reported_with_its_line_number(tmp_path):
    path = write(tmp_path, [GOOD], raw_lines=['{"messages": [\n'])
    with pytest.raises(DatasetError, match=r"chat.jsonl: line 2: not valid JSON"):
        load_chat_jsonl(path)


def test_over_length_examples_are_rejected_with_their_token_count(small_tokenizer):
    long = {"messages": [{"role": "user", "content": "word " * 300}, {"role": "assistant", "content": "ok"}]}
    with pytest.raises(DatasetError, match=r"train: row 2: \d+ tokens after the chat template, over the limit of 64"):
        validate_rows([GOOD, long], "train", small_tokenizer, max_tokens=64)


def test_empty_dataset_is_rejected():
    with pytest.raises(DatasetError, match="no rows"):
        validate_rows([], "empty.jsonl")


def test_committed_instruction_splits_are_valid_and_uncontaminated():
    from ftlab.core.contamination import contaminated
    from ftlab.core.instructions import load_instructions
    train = load_instructions("train")
    test = load_instructions("test")
    assert {r["task"] for r in test} >= {"title", "quote", "last_word", "count_words", "define", "capital"}
    assert not {r["source_id"] for r in train} & {r["source_id"] for r in test}
    assert contaminated(train, test) == []


def test_non_utf8_bytes_are_reported_with_line_and_column(tmp_path):
    path = tmp_path / "latin1.jsonl"
    good = json.dumps(GOOD).encode()
    path.write_bytes(good + b"\n" + '{"messages": [{"role": "user", "content": "caf\u00e9"}]}\n'.encode("latin-1"))
    with pytest.raises(DatasetError, match=r"latin1.jsonl: line 2: not valid UTF-8 \(byte 0xe9 at column 47\); "
                                           r"expected UTF-8 text"):
        load_chat_jsonl(path)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (json.dumps(GOOD) + "\n").encode())
    assert load_chat_jsonl(path) == [GOOD]


def test_an_empty_file_is_an_empty_dataset(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    with pytest.raises(DatasetError, match=r"empty.jsonl: no rows; expected at least one conversation"):
        load_chat_jsonl(path)


def test_a_truncated_gzip_file_is_named(tmp_path):
    import gzip
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(GOOD) + "\n").encode() * 50)[:40])
    with pytest.raises(DatasetError, match=r"cut.jsonl.gz: cannot be read as gzipped JSONL \(EOFError"):
        load_chat_jsonl(path)


def test_a_missing_file_says_how_to_get_it(tmp_path):
    from ftlab.core.data import DatasetFileMissing
    from ftlab.core.paths import DATA_DIR
    with pytest.raises(DatasetFileMissing, match=r"nope.jsonl: no such file; expected a chat JSONL"):
        load_chat_jsonl(tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match=r"git checkout -- data/.*python -m ftlab data build"):
        load_chat_jsonl(DATA_DIR / "instructions" / "no-such-split.jsonl.gz")
