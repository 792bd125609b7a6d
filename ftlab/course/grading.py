"""Grading a lab: a notebook's exercise results as one small JSON file per student, and a folder of those files
as a class table (CSV) and a summary plot.

A student ends a notebook with `grading.save("05")` (name from FTLAB_STUDENT, else the login name): the file
lists every exercise of that notebook, right, wrong or not answered, with the answer as text
(`ftlab.course.gradebook`). The teacher collects the files in one folder and runs `ftlab grade FOLDER`: one row
per student, one column per exercise, and a plot of the share of the class that got each exercise right, so the
exercises a class struggled with stand out. A file that is not a submission is refused with its name and what
was expected, never skipped silently.
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import re
import time
from pathlib import Path

from matplotlib.figure import Figure  # not pyplot: no backend to choose, a notebook's own plots stay as they are

from ftlab.core.errors import ConfigError
from ftlab.core.jsonl import atomic_write_bytes
from ftlab.core.paths import REPO_ROOT
from ftlab.course import gradebook
from ftlab.course.exercises import NOTEBOOKS

FORMAT = "ftlab-submission/1"


STUDENT_ENV, FOLDER_ENV = "FTLAB_STUDENT", "FTLAB_SUBMISSIONS"


class SubmissionError(ConfigError):
    """A file in a grading folder that is not a readable submission (the message names the file)."""


def student_name(student: str | None = None) -> str:
    """The student a submission is for: the argument, else FTLAB_STUDENT, else the login name."""
    name = (student or os.environ.get(STUDENT_ENV) or getpass.getuser()).strip()
    if not name:
        raise ConfigError(f"no student name: pass student=... or set {STUDENT_ENV}")
    return name


def submission(notebook: str, student: str | None = None) -> dict:
    """This kernel's results on every exercise of `notebook` ("05"), unanswered ones included."""
    if notebook not in NOTEBOOKS:
        raise ConfigError(f"no notebook {notebook!r}; the notebooks with exercises are {', '.join(NOTEBOOKS)}")
    done = gradebook.recorded()  # by the exercise's name, which may say more than its attribute ("… (practice …)")
    unanswered = {"correct": None, "answer": None, "checked_at": None}
    return {"format": FORMAT, "student": student_name(student), "notebook": notebook,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "exercises": {key: done.get(q.name, unanswered) for key, q in vars(NOTEBOOKS[notebook]).items()}}


def save(notebook: str, student: str | None = None, folder: Path | str | None = None) -> Path:
    """Write `submission(notebook, student)` to FOLDER/<student>_<notebook>.json (FOLDER: the argument, else
    FTLAB_SUBMISSIONS, else submissions/ in the repository) and say where and how many are right."""
    record = submission(notebook, student)
    folder = Path(folder or os.environ.get(FOLDER_ENV) or REPO_ROOT / "submissions")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_slug(record['student'])}_{notebook}.json"
    atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
    results = [e["correct"] for e in record["exercises"].values()]
    print(f"saved {path.name}: {sum(r is True for r in results)} of {len(results)} exercises right, "
          f"{sum(r is None for r in results)} not answered")
    return path


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "student"


def read_submission(path: Path) -> dict:
    """One submission file, checked: a SubmissionError naming the file and what was expected otherwise."""
    try:
        record = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SubmissionError(f"{path}: not a JSON submission ({err}); expected a file written by "
                              "ftlab.course.grading.save") from err
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise SubmissionError(f"{path}: expected \"format\": \"{FORMAT}\" (a file written by grading.save)")
    if not isinstance(record.get("student"), str) or not record["student"].strip():
        raise SubmissionError(f"{path}: expected a non-empty \"student\"")
    if record.get("notebook") not in NOTEBOOKS:
        raise SubmissionError(f"{path}: \"notebook\" is {record.get('notebook')!r}; expected one of "
                              f"{', '.join(NOTEBOOKS)}")
    exercises = record.get("exercises")
    if not isinstance(exercises, dict) or not all(isinstance(e, dict) and e.get("correct") in (True, False, None)
                                                  for e in exercises.values()):
        raise SubmissionError(f"{path}: expected \"exercises\": {{name: {{\"correct\": true, false or null, "
                              "\"answer\": ...}}}}")
    return record


def read_folder(folder: Path | str) -> list[dict]:
    """Every submission in `folder` (*.json), the latest per student and notebook, sorted by student."""
    paths = sorted(Path(folder).glob("*.json"))
    if not paths:
        raise SubmissionError(f"{folder}: no submission files (*.json) in it; students write them with "
                              "grading.save(<notebook>)")
    latest: dict[tuple[str, str], dict] = {}
    for path in paths:
        record = read_submission(path)
        key = (record["student"], record["notebook"])
        if key not in latest or record.get("saved", "") >= latest[key].get("saved", ""):
            latest[key] = record
    return [latest[key] for key in sorted(latest)]


def class_table(records: list[dict]) -> tuple[list[str], list[dict]]:
    """(columns, one row per student): each exercise as "NN.name" (1 right, 0 wrong, empty not answered), then
    how many the student got right, answered and was given."""
    exercises = sorted({f"{r['notebook']}.{name}" for r in records for name in r["exercises"]})
    rows: dict[str, dict] = {}
    for record in records:
        row = rows.setdefault(record["student"], {"student": record["student"]})
        for name, entry in record["exercises"].items():
            row[f"{record['notebook']}.{name}"] = "" if entry["correct"] is None else int(entry["correct"])
    for row in rows.values():
        marks = [row.get(e, "") for e in exercises]
        given = [e for e in exercises if e in row]
        row.update(right=sum(m == 1 for m in marks), answered=sum(m != "" for m in marks), given=len(given))
    return ["student", *exercises, "right", "answered", "given"], [rows[s] for s in sorted(rows)]


def share_right(columns: list[str], rows: list[dict]) -> dict[str, tuple[float, float]]:
    """{exercise: (share of the students given it who got it right, share who answered it wrong)}."""
    out = {}
    for exercise in columns[1:-3]:
        marks = [row[exercise] for row in rows if exercise in row]
        out[exercise] = (sum(m == 1 for m in marks) / len(marks), sum(m == 0 for m in marks) / len(marks))
    return out


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> Path:
    """The class table as CSV (a missing exercise: the student had no submission for that notebook)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def summary_plot(shares: dict[str, tuple[float, float]], students: int):
    """Horizontal bars per exercise: the share of the class right, and the share that answered wrong."""
    names = list(shares)[::-1]
    fig = Figure(figsize=(8, 0.35 * len(names) + 1.5))
    ax = fig.subplots()
    right = [shares[n][0] for n in names]
    wrong = [shares[n][1] for n in names]
    ax.barh(names, right, color="tab:green", label="right")
    ax.barh(names, wrong, left=right, color="tab:red", label="wrong")
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share of the {students} student(s) given the exercise (the rest: not answered)")
    ax.set_title("Class results per exercise")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def grade_folder(folder: Path | str, out: Path | str | None = None) -> dict:
    """Read every submission in `folder`, write class.csv and class.png to `out` (default: `folder`), and
    return {"csv", "plot", "students", "shares"}."""
    records = read_folder(folder)
    columns, rows = class_table(records)
    out = Path(out or folder)
    out.mkdir(parents=True, exist_ok=True)
    shares = share_right(columns, rows)
    fig = summary_plot(shares, len(rows))
    fig.savefig(out / "class.png", dpi=100)
    return {"csv": write_csv(out / "class.csv", columns, rows), "plot": out / "class.png", "students": len(rows),
            "shares": shares}
