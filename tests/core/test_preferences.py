"""ftlab.core.preferences: pairs are deterministic, chosen differs from rejected, each kind is the mistake it claims
to be, prefixes are balanced, and held-out pairs share no prompt or source document with training pairs."""
import random
from collections import Counter

import pytest

from ftlab.core.corpus import is_heldout
from ftlab.core.evaluate import normalize
from ftlab.core.instructions import GROUNDED_TASKS, load_instructions
from ftlab.core.preferences import (PAIR_KINDS, build_pairs, load_pairs, near_miss, passage_of, shared_prompts, to_conversational)


@pytest.fixture(scope="module")
def rows():
    return load_instructions("val", GROUNDED_TASKS, limit_per_task=60)


@pytest.fixture(scope="module")
def pairs(rows):
    return build_pairs(rows)


def test_pairs_are_deterministic_whatever_the_row_order(rows, pairs):
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    assert build_pairs(shuffled) == pairs and len(pairs) > 200


def test_chosen_is_the_reference_answer_and_rejected_differs(rows, pairs):
    answers = {r["messages"][0]["content"]: r["answer"] for r in rows}
    for p in pairs:
        assert p["chosen"] == answers[p["prompt"]]
        assert normalize(p["rejected"]) != normalize(p["chosen"]), p


def test_every_kind_is_the_mistake_it_names(pairs):
    by_task = {}
    for p in pairs:
        by_task.setdefault((p["task"], p["kind"]), p)
    assert {k for _, k in by_task} == set(PAIR_KINDS)
    count = by_task[("count_words", "near_miss")]
    assert abs(int(count["rejected"]) - int(count["chosen"])) == 1
    last = by_task[("last_word", "near_miss")]
    words = [w.strip(".,;:!?\"'") for w in passage_of({"messages": [{"content": last["prompt"]}]}).split()]
    assert last["rejected"] in words[:-1] and last["chosen"] == words[-1]
    title = by_task[("title", "near_miss")]
    assert title["rejected"].startswith(title["chosen"] + " ")
    assert by_task[("quote", "rambling")]["rejected"].startswith(by_task[("quote", "rambling")]["chosen"] + " ")
    assert by_task[("quote", "off_format")]["rejected"] == f'The answer is "{by_task[("quote", "off_format")]["chosen"]}".'
    wrong = by_task[("title", "wrong")]
    assert wrong["rejected"] not in wrong["prompt"]  # another passage's title


def test_near_miss_of_a_one_word_count_goes_up():
    row = {"id": "count_words:x", "task": "count_words", "answer": "1",
           "messages": [{"role": "user", "content": "How many words are in this sentence?\n\nhello"}]}
    assert near_miss(row) == "2"


def test_every_prefix_is_balanced_over_tasks_and_kinds(pairs):
    first = Counter((p["task"], p["kind"]) for p in pairs[:16])
    assert len(first) == 16 and set(first.values()) == {1}


def test_unknown_kind_is_refused(rows):
    with pytest.raises(ValueError, match="unknown pair kind 'nice'"):
        build_pairs(rows, kinds=("wrong", "nice"))


def test_heldout_pairs_share_no_prompt_or_document_with_training_pairs():
    train = load_pairs("train", GROUNDED_TASKS)
    test = load_pairs("test", GROUNDED_TASKS)
    assert len(train) > 50_000 and len(test) > 5_000
    assert shared_prompts(train, test) == set()
    assert not {p["source_id"] for p in train} & {p["source_id"] for p in test}
    # the alignment tax is measured on data/general's held-out documents: no pair may come from one
    assert not any(is_heldout(p["source_id"]) for p in train + test)


def test_conversational_format_is_what_trl_expects(pairs):
    conv = to_conversational(pairs[0])
    assert [m["role"] for m in conv["prompt"]] == ["user"]
    assert conv["chosen"][0]["role"] == conv["rejected"][0]["role"] == "assistant"
