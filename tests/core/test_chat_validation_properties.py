"""ftlab.core.data's chat validation, by property: every well-formed conversation passes unchanged, and every single
defect of a well-formed one is a DatasetError naming the row (never a KeyError or TypeError from inside)."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftlab.core.data import DatasetError, load_chat_jsonl, validate_messages, validate_rows

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(min_size=1, max_size=12).filter(lambda s: s.strip())


@st.composite
def conversations(draw):
    """[system?] + user/assistant pairs, 1-4 of them: the shape SFT trains on."""
    messages = [{"role": "system", "content": draw(text)}] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(1, 4))):
        messages += [{"role": "user", "content": draw(text)}, {"role": "assistant", "content": draw(text)}]
    return messages


@given(conversations())
@FAST
def test_every_well_formed_conversation_passes_unchanged(messages):
    rows = [{"messages": messages}, {"messages": messages, "task": "x"}]
    before = json.dumps(rows)
    assert validate_rows(rows, "ok.jsonl") == rows
    assert json.dumps(rows) == before  # validation never edits a row


def _defects(messages, i, junk):
    """Ways to break message i of a well-formed conversation, each one defect."""
    other = {"user": "assistant", "assistant": "user", "system": "user"}
    yield "missing 'content'", [dict(m) if j != i else {"role": m["role"]} for j, m in enumerate(messages)]
    yield "missing 'role'", [dict(m) if j != i else {"content": m["content"]} for j, m in enumerate(messages)]
    yield "unknown role", [dict(m, role=junk) if j == i else m for j, m in enumerate(messages)]
    yield "content not a string", [dict(m, content=[m["content"]]) if j == i else m for j, m in enumerate(messages)]
    yield "blank content", [dict(m, content=" \n\t") if j == i else m for j, m in enumerate(messages)]
    yield "not an object", [m["content"] if j == i else m for j, m in enumerate(messages)]
    yield "role flipped", [dict(m, role=other[m["role"]]) if j == i else m for j, m in enumerate(messages)]
    yield "system later", messages[:i + 1] + [{"role": "system", "content": "s"}] + messages[i + 1:]
    yield "ends early", messages[:-1]


@given(conversations(), st.data(), st.text(max_size=8).filter(lambda r: r not in ("system", "user", "assistant")))
@FAST
def test_every_single_defect_is_a_dataset_error_naming_the_row(messages, data, junk):
    i = data.draw(st.integers(0, len(messages) - 1), label="message broken")
    row_no = data.draw(st.integers(1, 5), label="row of the broken conversation")
    for what, broken in _defects(messages, i, junk):
        rows = [{"messages": messages}] * (row_no - 1) + [{"messages": broken}] + [{"messages": messages}]
        with pytest.raises(DatasetError, match=rf"^bad.jsonl: row {row_no}: ") as err:
            validate_rows(rows, "bad.jsonl")
        assert type(err.value) is DatasetError, what


@pytest.mark.parametrize("message, expected", [
    ({"role": "user"}, "message 0 is missing 'content'"),
    ({"content": "hi"}, "message 0 is missing 'role'"),
    ({}, "message 0 is missing 'role', 'content'"),
    ({"role": "user", "content": None}, r"message 0 \(user\) content must be a string, got NoneType"),
    ({"role": "tool", "content": "x"}, "message 0 has unknown role 'tool'; expected one of system, user, assistant"),
])
def test_a_defective_first_message_is_named_exactly(message, expected):
    with pytest.raises(DatasetError, match=rf"^f.jsonl: row 3: {expected}$"):
        validate_messages([message, {"role": "assistant", "content": "a"}], "f.jsonl", 3)


def test_a_missing_content_in_a_file_is_a_dataset_error(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}]}) + "\n")
    with pytest.raises(DatasetError, match=r"chat.jsonl: row 1: message 1 is missing 'content'"):
        load_chat_jsonl(path)


@pytest.mark.parametrize("roles", [
    ["user", "assistant", "user", "user", "assistant"],  # alternation broken at the fourth turn
    ["user", "assistant", "assistant", "user", "assistant"],
    ["system", "user", "assistant", "assistant"],
    ["user", "assistant", "user", "assistant", "assistant"],
])
def test_alternation_is_checked_at_every_turn_not_only_the_first(roles):
    messages = [{"role": r, "content": f"turn {i}"} for i, r in enumerate(roles)]
    with pytest.raises(DatasetError, match="roles must alternate user, assistant"):
        validate_messages(messages)


@pytest.mark.parametrize("messages, expected", [
    (None, "'messages' must be a non-empty list, got NoneType"),
    ("hello", "'messages' must be a non-empty list, got str"),
    ({"role": "user", "content": "x"}, "'messages' must be a non-empty list, got dict"),
    ([{"role": "system", "content": "s"}], "the last message must be from the assistant"),
    ([{"role": "user", "content": "q"}], "the last message must be from the assistant"),
    ([{"role": "system", "content": "s"}, {"role": "system", "content": "t"}, {"role": "user", "content": "q"},
      {"role": "assistant", "content": "a"}], "a system message may only come first"),
])
def test_conversation_level_defects(messages, expected):
    with pytest.raises(DatasetError, match=expected):
        validate_messages(messages, "c.jsonl", 2)


@pytest.mark.parametrize("row", [None, [], "messages", 3, {"message": []}])
def test_a_row_that_is_not_an_object_with_messages(row):
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    with pytest.raises(DatasetError, match=r"^d: row 2: expected an object with a 'messages' list$"):
        validate_rows([good, row, good], "d")


def test_defaults_name_the_data_and_row_one():
    with pytest.raises(DatasetError, match=r"^<data>: row 1: "):
        validate_messages([{"role": "assistant", "content": "a"}])
    with pytest.raises(DatasetError, match=r"^<data>: no rows; expected at least one conversation$"):
        validate_rows(iter(()))


class WordTokenizer:
    """A stand-in tokenizer: one token per whitespace-separated word of the conversation, plus 2 per message
    (the template's start and end of a turn). 'Count: a b' + '2' is 3 + 1 words + 2 x 2 = 8 tokens."""

    name_or_path, eos_token, pad_token, bos_token, chat_template = "words", "</s>", "<pad>", None, "{{ words }}"

    def __len__(self):
        return 100

    def apply_chat_template(self, messages, tokenize=True, return_dict=True, **_):
        n = sum(len(m["content"].split()) + 2 for m in messages)
        return {"input_ids": list(range(n))}


def test_the_token_limit_is_inclusive_and_needs_both_tokenizer_and_limit():
    row = {"messages": [{"role": "user", "content": "Count: a b"}, {"role": "assistant", "content": "2"}]}
    assert validate_rows([row], "t", WordTokenizer(), max_tokens=8) == [row]  # exactly at the limit: kept
    with pytest.raises(DatasetError, match=r"^t: row 2: 8 tokens after the chat template, over the limit of 7; "):
        short = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}  # 6
        validate_rows([short, row], "t", WordTokenizer(), max_tokens=7)
    assert validate_rows([row], "t", WordTokenizer()) == [row]  # no limit given: nothing to check
    assert validate_rows([row], "t", None, max_tokens=1) == [row]  # no tokenizer: cannot count


def test_over_length_message_in_full_and_the_file_loader_passes_the_limit_on(tmp_path):
    row = {"messages": [{"role": "user", "content": "Count: a b"}, {"role": "assistant", "content": "2"}]}
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DatasetError) as err:
        load_chat_jsonl(path, WordTokenizer(), max_tokens=7)
    assert str(err.value) == (f"{path}: row 1: 8 tokens after the chat template, over the limit of 7; "
                              "shorten it or raise max_length")
    assert load_chat_jsonl(path, WordTokenizer(), max_tokens=8) == [row]


def test_an_unreadable_file_is_named_with_its_kind(tmp_path, monkeypatch):
    import ftlab.core.data

    def broken(path):
        raise OSError("disk gone")

    monkeypatch.setattr(ftlab.core.data, "read_jsonl", broken)
    for name, kind in (("a.jsonl", "JSONL"), ("a.jsonl.gz", "gzipped JSONL")):
        (tmp_path / name).write_text("")
        with pytest.raises(DatasetError) as err:
            load_chat_jsonl(tmp_path / name)
        assert str(err.value) == (f"{tmp_path / name}: cannot be read as {kind} (OSError: disk gone); "
                                  "expected one JSON object per line")


def test_messages_of_a_row_that_is_not_a_conversation_in_full():
    with pytest.raises(DatasetError) as err:
        validate_messages(["hello"], "f", 4)
    assert str(err.value) == "f: row 4: message 0 must be an object with 'role' and 'content', got str"


def test_a_file_missing_from_data_says_how_to_restore_it_in_full(tmp_path):
    from ftlab.core.data import DatasetFileMissing
    from ftlab.core.paths import DATA_DIR

    path = DATA_DIR / "instructions" / "no-such-split.jsonl.gz"
    with pytest.raises(DatasetFileMissing) as err:
        load_chat_jsonl(path)
    assert str(err.value) == (f"{path}: no such file; it is committed with the repository: restore it with "
                              "`git checkout -- data/`, or rebuild it with `python -m ftlab data build`")
