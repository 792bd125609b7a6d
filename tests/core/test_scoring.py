"""ftlab.core.evaluate's answer scoring: normalisation, exact match, contains and token F1, against hand-worked values
and properties (the numbers notebooks 01, 03 and 05 print as accuracy)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftlab.core import evaluate
from ftlab.core.evaluate import known_word_rate, normalize, task_scores, token_f1
from ftlab.core.stats import mean_std

FAST = settings(max_examples=200, deadline=None)
words = st.lists(st.text("abcxyz019", min_size=1, max_size=5), min_size=1, max_size=6)
spaces = st.text(" \t\n", min_size=1, max_size=3)
end_punct = st.text(".!?,;:'\"", max_size=3)


@pytest.mark.parametrize("text, normal", [
    ("  Paris. ", "paris"),
    ("The   Big\tDog\n", "the big dog"),  # runs of spaces, tabs and newlines become one space
    ('"Hello, world!"', "hello, world"),  # quotes and end punctuation go; inner punctuation stays
    ("U.S.A.", "u.s.a"),
    ("'tis so?!", "tis so"),
    ("(x)", "(x)"),  # brackets are not end punctuation
    ("...?!", ""),
    ("  a  .  ", "a"),
    ("", ""),
])
def test_normalize_hand_worked(text, normal):
    assert normalize(text) == normal


@given(words, st.lists(spaces, min_size=6, max_size=6), spaces, spaces, end_punct, end_punct)
@FAST
def test_normalize_ignores_case_spacing_and_end_punctuation(ws, gaps, lead, trail, p1, p2):
    messy = lead + p1 + "".join(w.upper() + g for w, g in zip(ws, gaps)).rstrip() + p2 + trail
    assert normalize(messy) == " ".join(ws)


@given(st.text(max_size=30))
@FAST
def test_normalize_output_is_lower_case_single_spaced_and_trimmed(text):
    out = normalize(text)
    assert out == out.strip() and "  " not in out and not any(c in out for c in "\t\n\r")
    assert out == out.lower()


@pytest.mark.parametrize("prediction, reference, f1", [
    ("the cat sat", "the cat", 0.8),  # precision 2/3, recall 1: 2 * 2/3 / (5/3)
    ("big dog", "a big dog", 0.8),  # precision 1, recall 2/3
    ("a a a", "a", 0.5),  # a repeated word counts once per occurrence in the reference: precision 1/3
    ("dog dog cat", "dog cat cat", 2 / 3),  # common = min(2,1) + min(1,2) = 2 of 3 each way
    ("a b", "b a", 1.0),  # order does not matter
    ("Paris.", "paris", 1.0),  # both normalized first
    ("x", "", 0.0), ("", "x", 0.0), ("", "", 0.0), ("cat", "dog", 0.0),
])
def test_token_f1_hand_worked(prediction, reference, f1):
    assert token_f1(prediction, reference) == pytest.approx(f1)


@given(st.lists(st.sampled_from("abcd"), max_size=6), st.lists(st.sampled_from("abcd"), max_size=6))
@FAST
def test_token_f1_is_symmetric_bounded_and_one_only_for_the_same_words(a, b):
    pa, pb = " ".join(a), " ".join(b)
    f1 = token_f1(pa, pb)
    assert 0.0 <= f1 <= 1.0 and f1 == pytest.approx(token_f1(pb, pa))
    assert (f1 == pytest.approx(1.0)) == (bool(a) and sorted(a) == sorted(b))
    assert (f1 == 0.0) == (not set(a) & set(b))


def test_task_scores_exact_match_contains_and_f1_per_task_and_overall(monkeypatch):
    rows = [{"task": "capital", "answer": "Paris"}] * 3 + [{"task": "count", "answer": "3"}] * 2
    canned = ["paris.", "The capital is Paris", "Lyon", "3", "13"]
    monkeypatch.setattr(evaluate, "generate_answers", lambda model, tok, rs, n: canned[:len(rs)])
    got = task_scores(None, None, rows)
    # exact match: 'paris.' and '3' only; contains: also 'the capital is paris' and '13' (it contains '3');
    # F1: 1, 0.4 (precision 1/4, recall 1), 0, 1, 0
    assert got["scores"]["capital"] == pytest.approx({"accuracy": 1 / 3, "f1": 1.4 / 3, "contains": 2 / 3, "n": 3})
    assert got["scores"]["count"] == pytest.approx({"accuracy": 0.5, "f1": 0.5, "contains": 1.0, "n": 2})
    assert got["scores"]["overall"] == pytest.approx({"accuracy": 0.4, "f1": 0.48, "contains": 0.8, "n": 5})
    assert got["answers"] == canned and list(got["scores"]) == ["capital", "count", "overall"]


def test_task_scores_passes_model_tokenizer_and_token_budget_to_generation(monkeypatch):
    asked = []
    monkeypatch.setattr(evaluate, "generate_answers",
                        lambda model, tok, rs, n: asked.append((model, tok, n)) or ["x"] * len(rs))
    model, tok = object(), object()
    task_scores(model, tok, [{"task": "t", "answer": "x"}], max_new_tokens=7)
    task_scores(model, tok, [{"task": "t", "answer": "x"}])
    assert asked == [(model, tok, 7), (model, tok, 24)]


def test_known_word_rate_and_mean_std():
    assert known_word_rate(["The cat sat.", "zz 42"], {"the", "cat"}) == 0.5  # the, cat of the, cat, sat, zz
    assert known_word_rate(["42 !"], {"the"}) == 0.0
    assert mean_std([2.0]) == (2.0, 0.0)
    assert mean_std([1.0, 2.0, 6.0]) == (3.0, pytest.approx(7 ** 0.5))  # deviations -2, -1, 3: 14 / 2
