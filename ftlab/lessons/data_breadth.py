"""Notebook 08: what the breadth of the training data buys. The same SFT on two training sets of the same size
and steps, one spread over several tasks (instruction tuning), one drawn from a single task (task-specific tuning),
both tested on every task: the one the specialist trained on, the others the broad set holds, and one task that
neither set holds (an instruction neither model was trained to follow).

Two claims of the source text read these numbers (ftlab.course.verdicts.breadth_measurements): practice question 4
(a task-specific model wins on its task, an instruction-tuned one follows new instructions) and "cover the full
range of tasks the model should handle" (a diverse set trains a better model than a narrow one of the same size).
"""

from __future__ import annotations

from ftlab.core.instructions import load_instructions
from ftlab.core.profiles import Profile
from ftlab.core.seedstore import Experiment, settings_key
from ftlab.core.train import fine_tune_and_score

# The specialist's task: one the tiny model learns well within notebook 01's budget, so a gap is not lost in noise.
SPECIALTY = "quote"
# The broad set: the specialist's task and two others, the same number of rows of each.
BROAD_TASKS = ("title", SPECIALTY, "last_word")
# In neither training set: the "new instruction" of practice question 4.
UNSEEN = "count_words"
TEST_TASKS = (*BROAD_TASKS, UNSEEN)
INSTRUCTION_ARM, TASK_ARM = "instruction-tuned", "task-specific"
ARMS = (INSTRUCTION_ARM, TASK_ARM)
# Half of notebook 01's steps: the six runs of the tiny profile (two arms, three seeds, all live) take about three
# minutes on two CPU cores; each set is still seen about once (tiny: 50 steps x 16 rows of 1,500).
STEP_SHARE = 0.5


def training_sets(profile: Profile) -> dict[str, list[dict]]:
    """{arm: training rows}: the broad set takes `profile.sft_train_per_task` rows of each of BROAD_TASKS, the
    task-specific set as many rows of SPECIALTY alone (the same size, so only the breadth differs)."""
    broad = load_instructions("train", BROAD_TASKS, limit_per_task=profile.sft_train_per_task)
    narrow = load_instructions("train", (SPECIALTY,), limit_per_task=len(broad))
    if len(narrow) < len(broad):
        raise ValueError(f"the training split holds {len(narrow)} '{SPECIALTY}' rows, fewer than the broad set's "
                         f"{len(broad)}: lower the profile's sft_train_per_task")
    return {INSTRUCTION_ARM: broad, TASK_ARM: narrow}


def test_rows(profile: Profile) -> list[dict]:
    """`profile.eval_per_task` test rows of every task in TEST_TASKS (the unseen one included)."""
    return load_instructions("test", TEST_TASKS, limit_per_task=profile.eval_per_task)


def steps(profile: Profile) -> int:
    """Training steps of every run: STEP_SHARE of the profile's SFT steps (at least one)."""
    return max(1, round(profile.sft.max_steps * STEP_SHARE))


def breadth_experiment(profile: Profile) -> Experiment:
    """Both arms over the profile's seeds (ftlab.core.seedstore): `fine_tune_and_score` on the arm's set with the
    profile's SFT settings at `steps(profile)`, scored by exact match per test task."""
    sets, test = training_sets(profile), test_rows(profile)

    def run(arm: str, seed: int) -> dict:
        result = fine_tune_and_score(profile, sets[arm], None, test, seed, name=f"08-{arm}",
                                     max_steps=steps(profile))
        return {**result, "accuracy": result["scores"]["overall"]["accuracy"], "train_rows": len(sets[arm])}

    inputs = {"sft": settings_key(profile.sft), "steps": steps(profile), "max_new_tokens": profile.max_new_tokens,
              "train": sets, "test": test}
    return Experiment("08-breadth", profile, ARMS, run, inputs, tolerance={"accuracy": 0.01})


def per_task(rows: list[dict], arm: str) -> dict[str, list[float]]:
    """{test task: exact match of each seed} for one arm's rows."""
    runs = [r for r in rows if r["arm"] == arm]
    return {task: [r["scores"][task]["accuracy"] for r in runs] for task in TEST_TASKS}
