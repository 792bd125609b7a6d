"""Notebook 10's lesson (ftlab.lessons.failure_modes): the arms' training sets, the shifted test built from other
kinds of passage with answers computed from them, the other prompt format, and what the claim reads per cause."""
from collections import Counter

import pytest

from ftlab.core import claims
from ftlab.core.course_data import course_data
from ftlab.core.models import load
from ftlab.core.profiles import PROFILES
from ftlab.course.verdicts import failure_measurements
from ftlab.lessons import failure_modes as fm


@pytest.mark.parametrize("name", ["tiny", "smol"])
def test_the_sets_are_fresh_and_the_few_examples_set_is_seen_many_times(name):
    profile = PROFILES[name]
    sets = fm.training_sets(profile)
    assert sets[fm.WELL_TUNED] == sets[fm.HIGH_LR]
    assert not {r["id"] for r in sets[fm.WELL_TUNED]} & {r["id"] for r in course_data(profile)[0]}
    few = Counter(r["task"] for r in sets[fm.FEW_EXAMPLES])
    assert few == dict.fromkeys(profile.sft_tasks, fm.few_per_task(profile))
    assert all(r in sets[fm.WELL_TUNED] for r in sets[fm.FEW_EXAMPLES])
    passes = fm.steps(profile) * profile.sft.effective_batch
    assert passes / len(sets[fm.FEW_EXAMPLES]) >= 5 * passes / len(sets[fm.WELL_TUNED])
    assert fm.overrides(profile, fm.HIGH_LR)["learning_rate"] == profile.sft.learning_rate * fm.LR_FACTOR
    assert fm.overrides(profile, fm.WELL_TUNED) == {}


def test_the_shifted_test_asks_the_trained_instructions_of_other_passages():
    profile = PROFILES["tiny"]
    shifted = fm.shifted_rows(profile)
    assert Counter(r["task"] for r in shifted) == dict.fromkeys(fm.SHIFTED_TASKS, profile.eval_per_task)
    for r in shifted:
        head, passage = r["messages"][0]["content"].split("\n\n", 1)
        assert r["messages"][1]["content"] == r["answer"]
        if r["task"] == "title":  # a dictionary entry: its headword
            assert passage.startswith(r["answer"] + ": ")
        elif r["task"] == "count_words":
            assert int(r["answer"]) == len(passage.split())
            assert fm.LONG_SENTENCE[0] <= int(r["answer"]) <= fm.LONG_SENTENCE[1]
        else:
            assert passage.rstrip(".!?,;:\"')").endswith(r["answer"])
    trained = {r["messages"][0]["content"] for r in course_data(profile)[0]}
    assert not trained & {r["messages"][0]["content"] for r in shifted}


def test_the_other_format_leaves_the_trained_tokenizer_alone():
    _, tokenizer = load("tiny")
    turn = [{"role": "user", "content": "How many words are in this sentence?\n\nA cat sat."}]
    before = tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)
    other = fm.with_template(tokenizer, fm.LLAMA2_TEMPLATE)
    shown = other.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)
    assert "[INST] How many words" in shown and "<|im_start|>" not in shown
    assert tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True) == before


def _row(arm, seed, acc, shifted=None, mismatch=None):
    scores = {t: {"accuracy": acc, "n": 50} for t in ("title", "quote", "last_word", "count_words")}
    row = {"arm": arm, "seed": seed, "accuracy": acc, "scores": scores, "general_loss": 5.0 + seed}
    if shifted is not None:
        row["shifted_scores"] = {t: {"accuracy": shifted, "n": 50} for t in fm.SHIFTED_TASKS}
        row["mismatch_scores"] = {"overall": {"accuracy": mismatch}}
    return row


def test_each_cause_is_read_against_the_well_tuned_run_on_the_same_questions():
    rows = [_row(fm.WELL_TUNED, s, a, shifted=0.05, mismatch=0.01) for s, a in enumerate((0.40, 0.41, 0.42))] + \
           [_row(fm.FEW_EXAMPLES, s, 0.20) for s in range(3)] + [_row(fm.HIGH_LR, s, 0.0) for s in range(3)]
    start = {"accuracy": 0.37, "answers": ["x"] * 200, "general_loss": 5.0}
    m = failure_measurements(rows, start, 50)["10-why-worse"]
    assert m["cause"][fm.FEW_EXAMPLES] == [0.20] * 3 and m["well_tuned"][fm.FEW_EXAMPLES] == [0.40, 0.41, 0.42]
    assert m["cause"][fm.SHIFTED] == [0.05] * 3
    assert m["well_tuned"][fm.SHIFTED] == pytest.approx([0.40, 0.41, 0.42]) and m["n_items"][fm.SHIFTED] == 150
    assert m["cause"][fm.FORMAT_MISMATCH] == [0.01] * 3 and m["n_items"][fm.FORMAT_MISMATCH] == 200
    assert m["general_loss"] == {"start": 5.0, fm.WELL_TUNED: 6.0, fm.FEW_EXAMPLES: 6.0, fm.HIGH_LR: 6.0}
    assert claims.judge_why_worse(**m).verdict == "held"
    m["cause"][fm.FEW_EXAMPLES] = [0.41, 0.40, 0.42]  # one cause within the interval of the well-tuned run
    assert claims.judge_why_worse(**m).verdict == "depends"
    m["cause"] = {c: [0.41, 0.40, 0.42] for c in m["cause"]}
    assert claims.judge_why_worse(**m).verdict == "did not hold"
