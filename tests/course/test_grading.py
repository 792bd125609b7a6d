"""Grading a lab: notebook 04's own exercise cells are run for three simulated students (all right, all wrong,
one answer), each saves a submission, and `ftlab grade` turns the folder into the class table and plot;
FTLAB_SOLUTIONS=off hides the solutions; a file that is not a submission is named."""
from __future__ import annotations

import csv
import json
import re

import nbformat
import pytest

from ftlab.core.paths import NOTEBOOKS_DIR
from ftlab.core.settings import TrainSetup
from ftlab.course import gradebook, grading
from ftlab.course.exercises import nb04
from ftlab.tools.cli import main

CHECK = re.compile(r"(nb04\.(\w+)\.check)\(\)")


def exercise_cells() -> list[str]:
    """Notebook 04's cells that check an answer, with each blank answer read from ANSWERS instead."""
    book = nbformat.read(NOTEBOOKS_DIR / "04_memory_budget.ipynb", as_version=4)
    cells = [c.source for c in book.cells if c.cell_type == "code" and ".check(" in c.source]
    return [CHECK.sub(r'\1(ANSWERS["\2"])', s).replace("my_setup = ...", 'my_setup = ANSWERS["fits_24gb"]')
            for s in cells]


def right_answers() -> dict:
    namespace = {"nb04": nb04}
    exec(nb04.fits_24gb.solution_text() if callable(nb04.fits_24gb.solution_text)
         else nb04.fits_24gb.solution_text, namespace)  # the solution's own setup
    return {"memory_methods": nb04.memory_methods.expected_value(),
            "static_full": nb04.static_full.expected_value()[0], "fits_24gb": namespace["setup"]}


def wrong_answers() -> dict:
    right = right_answers()
    return {"memory_methods": [3 * v for v in right["memory_methods"]], "static_full": 2 * right["static_full"],
            "fits_24gb": TrainSetup(method="full", precision="fp32", batch_size=8, seq_len=2048, device="cuda")}


def run_as(student: str, answers: dict, folder) -> None:
    gradebook.clear()
    kernel = {"ANSWERS": answers}  # one namespace for all cells, as in a kernel
    for cell in exercise_cells():
        exec(cell, kernel)
    grading.save("04", student=student, folder=folder)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder, out = tmp_path_factory.mktemp("submissions"), tmp_path_factory.mktemp("grades")
    right, wrong = right_answers(), wrong_answers()
    run_as("ana", right, folder)
    run_as("ben", wrong, folder)
    run_as("cy", {**{k: ... for k in right}, "static_full": right["static_full"]}, folder)
    assert main(["grade", str(folder), "--out", str(out)]) == 0
    with open(out / "class.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return folder, out, rows, right


def test_the_class_table_has_a_row_per_student_and_a_mark_per_exercise(graded):
    _, _, rows, _ = graded
    exercises = [f"04.{name}" for name in vars(nb04)]
    assert set(rows) == {"ana", "ben", "cy"}
    assert [rows["ana"][e] for e in exercises] == ["1"] * len(exercises)
    assert [rows["ben"][e] for e in exercises] == ["0"] * len(exercises)
    assert [rows["cy"][e] for e in exercises] == ["1" if e == "04.static_full" else "" for e in exercises]
    assert (rows["ana"]["right"], rows["ben"]["answered"], rows["cy"]["answered"]) == \
        (str(len(exercises)), str(len(exercises)), "1")


def test_a_submission_keeps_the_answers_as_text(graded):
    folder, _, _, right = graded
    ana = json.loads((folder / "ana_04.json").read_text())
    assert ana["exercises"]["static_full"]["answer"] == json.dumps(right["static_full"])
    assert "TrainSetup(" in ana["exercises"]["fits_24gb"]["answer"]
    cy = json.loads((folder / "cy_04.json").read_text())
    assert (cy["exercises"]["fits_24gb"]["correct"], cy["exercises"]["fits_24gb"]["answer"]) == (None, None)


def test_the_summary_plot_is_written(graded):
    _, out, _, _ = graded
    assert (out / "class.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_solutions_are_hidden_when_the_lab_says_so(monkeypatch, capsys):
    expected = nb04.static_full.expected_value()[0]
    monkeypatch.setenv("FTLAB_SOLUTIONS", "off")
    nb04.static_full.solution()
    hidden = capsys.readouterr().out
    assert "hidden" in hidden and f"{expected:g}"[:4] not in hidden
    monkeypatch.setenv("FTLAB_SOLUTIONS", "on")
    nb04.static_full.solution()
    assert "hidden" not in capsys.readouterr().out
    monkeypatch.setenv("FTLAB_SOLUTIONS", "maybe")
    with pytest.raises(Exception, match="FTLAB_SOLUTIONS='maybe': expected on or off"):
        nb04.static_full.solution()


def test_a_file_that_is_not_a_submission_is_named(graded, tmp_path, capsys):
    folder, _, _, _ = graded
    (tmp_path / "ana_04.json").write_text((folder / "ana_04.json").read_text())
    (tmp_path / "notes.json").write_text('{"todo": 1}')
    assert main(["grade", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "notes.json" in err and "ftlab-submission/1" in err
