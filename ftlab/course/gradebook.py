"""What a learner's checks said in this kernel, kept for a teacher, and whether `solution()` may show answers.

Every `check(...)` (and a widget's Check button) records its last verdict here: the exercise, right or wrong,
the answer as text. `ftlab.course.grading.save` writes one notebook's records as a small JSON file per student;
`ftlab grade FOLDER` turns a folder of them into a class table. Nothing leaves the machine by itself.

`FTLAB_SOLUTIONS=off` (a classroom setting, read when a solution is asked for) hides `solution()`; hints stay.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from typing import Any

from ftlab.core.errors import ConfigError

SOLUTIONS_ENV = "FTLAB_SOLUTIONS"


ANSWER_CHARS = 4000  # an answer longer than this (a config object's repr) is cut: the file stays small


_SWITCH = {"on": True, "1": True, "true": True, "yes": True, "off": False, "0": False, "false": False, "no": False}


_RECORDS: dict[str, dict] = {}  # exercise name -> its last check in this kernel


def solutions_shown() -> bool:
    """False when FTLAB_SOLUTIONS is off (a graded lab); a value that is neither on nor off is a ConfigError."""
    value = os.environ.get(SOLUTIONS_ENV, "on").strip().lower()
    if value not in _SWITCH:
        raise ConfigError(f"{SOLUTIONS_ENV}={os.environ[SOLUTIONS_ENV]!r}: expected on or off")
    return _SWITCH[value]


def answer_text(answer: Any) -> str:
    """An answer as text a teacher can read: JSON for numbers, text and option keys, the source of a function
    (its repr where the source cannot be found), the repr of any other object; cut at ANSWER_CHARS."""
    if isinstance(answer, (set, frozenset)):
        answer = sorted(answer, key=str)
    try:
        text = json.dumps(answer)
    except (TypeError, ValueError):
        try:
            text = inspect.getsource(answer) if callable(answer) and not isinstance(answer, type) else repr(answer)
        except (OSError, TypeError):
            text = repr(answer)
    return text if len(text) <= ANSWER_CHARS else text[:ANSWER_CHARS] + " …"


def record(name: str, correct: bool | None, answer: Any) -> None:
    """Keep the verdict of the latest check of exercise `name` (an unanswered check keeps an earlier answer)."""
    if correct is None and name in _RECORDS:
        return
    _RECORDS[name] = {"correct": correct, "answer": None if correct is None else answer_text(answer),
                      "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def recorded() -> dict[str, dict]:
    """A copy of this kernel's records, by exercise name."""
    return {name: dict(entry) for name, entry in _RECORDS.items()}


def clear() -> None:
    """Forget this kernel's records (a new student at the same kernel, a test)."""
    _RECORDS.clear()
