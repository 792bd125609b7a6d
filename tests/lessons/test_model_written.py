"""Notebook 09's lesson (ftlab.lessons.model_written): the students' prompts are ones the teacher never trained on,
the model-written set changes only the answers, and the claim reads both arms per seed."""
from collections import Counter

import pytest

from ftlab.core import claims
from ftlab.core.course_data import course_data
from ftlab.core.profiles import PROFILES
from ftlab.course.verdicts import model_written_measurements
from ftlab.lessons import model_written as mw


@pytest.mark.parametrize("name", ["tiny", "smol"])
def test_the_student_prompts_are_fresh_and_fill_one_pass(name):
    profile = PROFILES[name]
    prompts = mw.student_prompts(profile)
    teacher_rows = course_data(profile)[0]
    assert not {r["id"] for r in prompts} & {r["id"] for r in teacher_rows}
    assert Counter(r["task"] for r in prompts) == dict.fromkeys(profile.sft_tasks, mw.rows_per_task(profile))
    assert len(prompts) >= mw.steps(profile) * profile.sft.effective_batch  # one pass fits
    test_questions = {r["messages"][0]["content"] for r in mw.test_rows(profile)}
    assert not test_questions & {r["messages"][0]["content"] for r in prompts}


def test_model_written_rows_change_the_answer_only_and_keep_the_human_one():
    rows = course_data(PROFILES["tiny"])[0][:3]
    before = [dict(r) for r in rows]
    out = mw.with_answers(rows, ["a", "b", "c"])
    assert rows == before  # the human-written set is untouched
    assert [r["messages"][-1]["content"] for r in out] == ["a", "b", "c"] == [r["answer"] for r in out]
    assert [r["messages"][0] for r in out] == [r["messages"][0] for r in rows]
    assert [r["human_answer"] for r in out] == [r["answer"] for r in rows]
    with pytest.raises(ValueError, match="2 answers for 3 rows"):
        mw.with_answers(rows, ["a", "b"])


def test_copied_mistakes_counts_the_teachers_wrong_answers_a_student_repeats():
    test = [{"answer": x} for x in ("Paris", "4", "cat", "dog")]
    teacher = ["paris.", "5", "cow", "dog"]  # right, wrong, wrong, right
    assert mw.copied_mistakes(test, teacher, ["x", "5", "x", "x"]) == 0.5
    assert mw.copied_mistakes(test, teacher, ["Paris", "5 ", "Cow", "dog"]) == 1.0
    assert mw.copied_mistakes(test[:1], teacher[:1], ["x"]) == 0.0  # no mistake to copy


def test_the_claim_compares_the_arms_per_seed():
    rows = [{"arm": mw.HUMAN_ARM, "seed": s, "accuracy": a} for s, a in enumerate((0.40, 0.42, 0.41))] + \
           [{"arm": mw.MODEL_ARM, "seed": s, "accuracy": a} for s, a in enumerate((0.20, 0.22, 0.21))]
    measured = model_written_measurements(rows, 400, teacher_right=0.35, teacher_test=0.37)
    m = measured["09-human-beats-model-written"]
    assert (m["human"], m["model_written"]) == ([0.40, 0.42, 0.41], [0.20, 0.22, 0.21])
    assert claims.judge_human_vs_model_written(**m).verdict == "held"
    m["model_written"] = [0.40, 0.43, 0.41]
    assert claims.judge_human_vs_model_written(**m).verdict == "depends"  # a tie within the interval
    m["model_written"] = [0.60, 0.62, 0.61]
    assert claims.judge_human_vs_model_written(**m).verdict == "did not hold"
