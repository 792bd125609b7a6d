"""Every malformed chat dataset is rejected with the file, the row and what was expected."""
import json

import pytest

from ftlab.data import DatasetError, load_chat_jsonl, validate_rows

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
    from ftlab.contamination import contaminated
    from ftlab.instructions import load_instructions
    train = load_instructions("train")
    test = load_instructions("test")
    assert {r["task"] for r in test} >= {"title", "quote", "last_word", "count_words", "define", "capital"}
    assert not {r["source_id"] for r in train} & {r["source_id"] for r in test}
    assert contaminated(train, test) == []
