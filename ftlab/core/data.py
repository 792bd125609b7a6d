"""Loading and validating chat datasets (`{"messages": [{"role", "content"}, …]}` per row).

Nothing trains on a malformed dataset: every problem is a DatasetError that names the file, the row (1-based,
as a line number in the JSONL file) and what was expected. Taught in notebook 01.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Iterable

from ftlab.core.jsonl import read_jsonl
from ftlab.core.paths import DATA_DIR
from ftlab.core.speed.tokencache import templated

ROLES = ("system", "user", "assistant")


class DatasetError(ValueError):
    """A chat dataset row that cannot be trained on; the message says where and what was expected."""


class DatasetFileMissing(DatasetError, FileNotFoundError):
    """The dataset file is not there; the message says how to get it."""


def _how_to_get(path: Path) -> str:
    """Committed data comes back with git or is rebuilt by ftlab; any other file is the caller's to provide."""
    if DATA_DIR in Path(path).resolve().parents:
        return ("it is committed with the repository: restore it with `git checkout -- data/`, or rebuild it "
                "with `python -m ftlab data build`")
    return "expected a chat JSONL(.gz) file with one {\"messages\": [...]} object per line; check the path"


def _fail(source: str, row: int, msg: str) -> None:
    raise DatasetError(f"{source}: row {row}: {msg}")


def validate_messages(messages, source: str = "<data>", row: int = 1) -> None:
    """Check one conversation: known roles, non-empty string content, system first, user/assistant alternating,
    ending with an assistant turn (the part SFT learns)."""
    if not isinstance(messages, list) or not messages:
        _fail(source, row, f"'messages' must be a non-empty list, got {type(messages).__name__}")
    for i, msg in enumerate(messages):
        where = f"message {i}"
        if not isinstance(msg, dict):
            _fail(source, row, f"{where} must be an object with 'role' and 'content', got {type(msg).__name__}")
        missing = [k for k in ("role", "content") if k not in msg]
        if missing:
            _fail(source, row, f"{where} is missing {', '.join(repr(k) for k in missing)}")
        if msg["role"] not in ROLES:
            _fail(source, row, f"{where} has unknown role {msg['role']!r}; expected one of {', '.join(ROLES)}")
        if not isinstance(msg["content"], str):
            _fail(source, row, f"{where} ({msg['role']}) content must be a string, got "
                               f"{type(msg['content']).__name__}")
        if not msg["content"].strip():
            _fail(source, row, f"{where} ({msg['role']}) has empty content")
    roles = [m["role"] for m in messages]
    turns = roles[1:] if roles[0] == "system" else roles
    if "system" in turns:
        _fail(source, row, f"a system message may only come first; roles were {roles}")
    expected = ["user" if i % 2 == 0 else "assistant" for i in range(len(turns))]
    if turns != expected:
        _fail(source, row, f"roles must alternate user, assistant, … starting with user; got {roles}")
    if not turns or turns[-1] != "assistant":
        _fail(source, row, f"the last message must be from the assistant (what SFT learns); roles were {roles}")


def validate_rows(rows: Iterable[dict], source: str = "<data>", tokenizer=None,
                  max_tokens: int | None = None) -> list[dict]:
    """Validate every row (and, with a tokenizer, its templated length); return them as a list."""
    checked = []
    for row_no, row in enumerate(rows, 1):
        if not isinstance(row, dict) or "messages" not in row:
            _fail(source, row_no, "expected an object with a 'messages' list")
        validate_messages(row["messages"], source, row_no)
        if tokenizer is not None and max_tokens is not None:
            n = len(templated(tokenizer, row["messages"], tokenize=True, return_dict=True)["input_ids"])
            if n > max_tokens:
                _fail(source, row_no, f"{n} tokens after the chat template, over the limit of {max_tokens}; "
                                      "shorten it or raise max_length")
        checked.append(row)
    if not checked:
        raise DatasetError(f"{source}: no rows; expected at least one conversation")
    return checked


def load_chat_jsonl(path: Path, tokenizer=None, max_tokens: int | None = None) -> list[dict]:
    """Read a chat JSONL(.gz) file and validate it; bad JSON lines are reported with their line number."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFileMissing(f"{path}: no such file; {_how_to_get(path)}")
    try:
        rows = list(read_jsonl(path))
    except ValueError as err:  # read_jsonl names the file and line
        raise DatasetError(str(err)) from None
    except (EOFError, OSError, zlib.error) as err:  # a truncated or corrupt .gz, an unreadable file
        kind = "gzipped JSONL" if path.suffix == ".gz" else "JSONL"
        raise DatasetError(f"{path}: cannot be read as {kind} ({type(err).__name__}: {err}); "
                           "expected one JSON object per line") from None
    return validate_rows(rows, str(path), tokenizer, max_tokens)
