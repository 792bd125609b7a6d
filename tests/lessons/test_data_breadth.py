"""Notebook 08's lesson (ftlab.lessons.data_breadth): two training sets that differ only in breadth, a test set
that holds a task neither trains on, and the rows the claims read."""
from collections import Counter
from dataclasses import replace

import pytest

from ftlab.core.profiles import PROFILES
from ftlab.course.verdicts import breadth_measurements
from ftlab.lessons import data_breadth as db


@pytest.mark.parametrize("name", ["tiny", "smol"])
def test_the_sets_have_one_size_and_differ_only_in_breadth(name):
    profile = PROFILES[name]
    sets = db.training_sets(profile)
    broad, narrow = Counter(r["task"] for r in sets[db.INSTRUCTION_ARM]), Counter(r["task"] for r in sets[db.TASK_ARM])
    assert broad == dict.fromkeys(db.BROAD_TASKS, profile.sft_train_per_task)
    assert narrow == {db.SPECIALTY: sum(broad.values())}
    test = db.test_rows(profile)
    assert Counter(r["task"] for r in test) == dict.fromkeys(db.TEST_TASKS, profile.eval_per_task)
    prompts = {r["messages"][0]["content"] for rows in sets.values() for r in rows}
    assert not prompts & {r["messages"][0]["content"] for r in test}  # no test question is trained on


def test_a_set_too_large_for_the_specialists_task_is_refused():
    with pytest.raises(ValueError, match="fewer than the broad set's"):
        db.training_sets(replace(PROFILES["tiny"], sft_train_per_task=10**6))


def test_the_claims_read_the_specialists_task_and_the_unseen_one_per_seed():
    def row(arm, seed, own, unseen):
        scores = {t: {"accuracy": 0.3} for t in db.TEST_TASKS} | {db.SPECIALTY: {"accuracy": own},
                                                                  db.UNSEEN: {"accuracy": unseen}}
        return {"arm": arm, "seed": seed, "scores": scores, "accuracy": (own + unseen + 0.6) / 4}
    rows = [row(db.INSTRUCTION_ARM, 0, 0.3, 0.1), row(db.INSTRUCTION_ARM, 1, 0.4, 0.2),
            row(db.TASK_ARM, 0, 0.7, 0.0), row(db.TASK_ARM, 1, 0.8, 0.0)]
    measured = breadth_measurements(rows, 50)
    m = measured["08-task-vs-instruction"]
    assert (m["specialist_own"], m["generalist_own"], m["generalist_unseen"]) == ([0.7, 0.8], [0.3, 0.4], [0.1, 0.2])
    assert measured["08-diversity-trains-better"]["n_items"] == 50 * len(db.TEST_TASKS)
    assert measured["08-diversity-trains-better"]["note"] == "on count_words alone (in neither set) 15.0% vs 0.0%"
