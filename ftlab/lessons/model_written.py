"""Notebook 09: human-written or model-written responses. The same SFT on the same prompts, once with the answers the
data came with (written from the source passages, the course's stand-in for a human expert) and once with the answers
a model wrote: notebook 01's SFT model, the teacher, answering prompts it never trained on. Both students are tested
on the same held-out questions as the teacher.

The claim it measures ("one human-expert response beats 100 AI-generated ones", the source text on what makes good
SFT data) is read by ftlab.course.verdicts.model_written_measurements; this module only runs the experiment.
"""

from __future__ import annotations

from ftlab.core.course_data import course_data
from ftlab.core.course_sft import course_sft_run
from ftlab.core.evaluate import normalize, task_scores
from ftlab.core.instructions import load_instructions
from ftlab.core.profiles import Profile
from ftlab.core.seedstore import Experiment, settings_key
from ftlab.core.train import fine_tune_and_score

HUMAN_ARM, MODEL_ARM = "human-written", "model-written"
ARMS = (HUMAN_ARM, MODEL_ARM)
# Notebook 01's steps: each student sees its set about once, as the teacher saw its own. At half of them (tiny,
# seeds 0-1, 2026-12-03) the students scored 27-29 % (human-written) vs 21-23 % (model-written), a gap as wide as
# the 95 % interval; at the full budget both learn more and the test holds twice notebook 01's questions per task.
STEP_SHARE = 1.0
TEST_SCALE = 2


def steps(profile: Profile) -> int:
    """Training steps of every student run: STEP_SHARE of the profile's SFT steps (at least one)."""
    return max(1, round(profile.sft.max_steps * STEP_SHARE))


def rows_per_task(profile: Profile) -> int:
    """Student prompts per task: enough for one pass of `steps(profile)` at the profile's effective batch."""
    return -(-steps(profile) * profile.sft.effective_batch // len(profile.sft_tasks))


def test_rows(profile: Profile) -> list[dict]:
    """TEST_SCALE x `profile.eval_per_task` test rows of each of the profile's tasks (notebook 01's test rows
    first): the held-out questions the teacher and both students answer."""
    return load_instructions("test", profile.sft_tasks, limit_per_task=TEST_SCALE * profile.eval_per_task)


def student_prompts(profile: Profile) -> list[dict]:
    """`rows_per_task` training rows of each of the profile's tasks that the teacher never trained on: the rows of
    the training split that follow notebook 01's (ftlab.core.course_data), with their original answers."""
    teacher_rows = course_data(profile)[0]
    seen = {r["id"] for r in teacher_rows}
    pool = load_instructions("train", profile.sft_tasks,
                             limit_per_task=profile.sft_train_per_task + rows_per_task(profile))
    fresh = [r for r in pool if r["id"] not in seen]
    short = {t: n for t in profile.sft_tasks if (n := sum(r["task"] == t for r in fresh)) < rows_per_task(profile)}
    if short:
        raise ValueError(f"the training split has too few rows beyond notebook 01's for the students: {short} "
                         f"(each task needs {rows_per_task(profile)}); lower the profile's sft_train_per_task")
    return fresh


def teacher(profile: Profile) -> dict:
    """Notebook 01's SFT run of the profile's first seed, scored on `test_rows`; loaded from the run cache when
    notebook 01 (or an earlier run of this one) trained it, trained here otherwise."""
    return course_sft_run(profile, test_rows(profile))


def with_answers(rows: list[dict], answers: list[str]) -> list[dict]:
    """Copies of chat rows whose assistant turn is the given answer (one per row); the original answer stays
    under "human_answer", so a reader can compare the two."""
    if len(answers) != len(rows):
        raise ValueError(f"{len(answers)} answers for {len(rows)} rows")
    out = []
    for row, answer in zip(rows, answers):
        messages = [m if m["role"] != "assistant" else {**m, "content": answer} for m in row["messages"]]
        out.append({**row, "messages": messages, "answer": answer, "human_answer": row["answer"]})
    return out


def model_written_set(profile: Profile, teacher_run: dict, prompts: list[dict]) -> tuple[list[dict], dict]:
    """The teacher's greedy answers to the student prompts as training rows, and its exact-match scores on them
    (how many of the model-written answers are right)."""
    scored = task_scores(teacher_run["model"], teacher_run["tokenizer"], prompts, profile.max_new_tokens)
    return with_answers(prompts, scored["answers"]), scored["scores"]


def training_sets(prompts: list[dict], model_rows: list[dict]) -> dict[str, list[dict]]:
    """{arm: training rows}: the same prompts, with the human-written and with the model-written answers."""
    return {HUMAN_ARM: prompts, MODEL_ARM: model_rows}


def student_experiment(profile: Profile, sets: dict[str, list[dict]]) -> Experiment:
    """Both arms over the profile's seeds (ftlab.core.seedstore): `fine_tune_and_score` from the fresh base on the
    arm's set with the profile's SFT settings at `steps(profile)`, scored by exact match on `test_rows`."""
    test = test_rows(profile)

    def run(arm: str, seed: int) -> dict:
        result = fine_tune_and_score(profile, sets[arm], None, test, seed, name=f"09-{arm}", max_steps=steps(profile))
        return {**result, "accuracy": result["scores"]["overall"]["accuracy"], "train_rows": len(sets[arm])}

    inputs = {"sft": settings_key(profile.sft), "steps": steps(profile), "max_new_tokens": profile.max_new_tokens,
              "train": sets, "test": test}
    return Experiment("09-model-written", profile, ARMS, run, inputs, tolerance={"accuracy": 0.01})


def per_task(rows: list[dict], arm: str, tasks: tuple[str, ...]) -> dict[str, list[float]]:
    """{test task: exact match of each seed} for one arm's rows."""
    runs = [r for r in rows if r["arm"] == arm]
    return {task: [r["scores"][task]["accuracy"] for r in runs] for task in tasks}


def wrong_items(test: list[dict], answers: list[str]) -> list[int]:
    """Indices of the test questions whose answer is wrong by exact match (as `evaluate.task_scores` grades)."""
    return [i for i, row in enumerate(test) if normalize(answers[i]) != normalize(row["answer"])]


def copied_mistakes(test: list[dict], teacher_answers: list[str], student_answers: list[str]) -> float:
    """Of the test questions the teacher answers wrongly, the share a student answers with the very same wrong
    answer: how much of its teacher's mistakes a student learned (0 when the teacher made none)."""
    wrong = wrong_items(test, teacher_answers)
    if not wrong:
        return 0.0
    return sum(normalize(student_answers[i]) == normalize(teacher_answers[i]) for i in wrong) / len(wrong)
