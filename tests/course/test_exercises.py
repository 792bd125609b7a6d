"""Every exercise accepts its right answer (computed by ftlab) and rejects wrong ones; unanswered is neither.

The number and choice questions are tested here; the code exercises' answers in test_code_exercises.py."""
import pytest

from ftlab.core.memory import estimate
from ftlab.core.settings import TrainSetup
from ftlab.course import exercises
from ftlab.course.quiz import CodeExercise, Question

EXERCISES = exercises.all_questions()  # both kinds
QUESTIONS = [q for q in EXERCISES if isinstance(q, Question)]
CODE = [q for q in EXERCISES if isinstance(q, CodeExercise)]


def right_answer(q: Question):
    value = q.expected_value()
    return sorted(value) if q.kind == "choice" else (value[0] if len(value) == 1 else tuple(value))


def wrong_answers(q: Question) -> list:
    if q.kind == "choice":
        right = q.expected_value()
        wrong = sorted(set(q.options) - right)
        return [sorted(right)[:-1], sorted(right) + wrong[:1], wrong[:1], "not-an-option"]
    value = q.expected_value()
    scaled = [v * (1 + 3 * q.rel_tol) + 1e-9 for v in value]
    return [scaled[0] if len(value) == 1 else tuple(scaled), [v * 0.5 for v in value], value + [1.0], "many"]


def test_every_notebook_has_an_exercise_and_the_five_practice_questions_exist():
    from ftlab.tools.course_runner import course_notebooks

    assert sorted(exercises.NOTEBOOKS) == [book.name[:2] for book in course_notebooks()]
    assert all(vars(group) for group in exercises.NOTEBOOKS.values())
    assert QUESTIONS and len(QUESTIONS) + len(CODE) == len(EXERCISES)  # every exercise is one of the two kinds
    assert len(exercises.PRACTICE) == 5 and all("practice question" in q.name for q in exercises.PRACTICE)


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: q.name.split()[0])
def test_right_answer_is_accepted(q):
    result = q.grade(right_answer(q))
    assert result.correct is True, result.message


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: q.name.split()[0])
def test_wrong_answers_are_rejected(q):
    for answer in wrong_answers(q):
        result = q.grade(answer)
        assert result.correct is False, (answer, result.message)
        assert "correct." not in result.message


@pytest.mark.parametrize("q", EXERCISES, ids=lambda q: q.name.split()[0])
def test_unanswered_is_neither_right_nor_wrong(q, capsys):
    assert q.grade().correct is None
    q.check()
    q.hint()
    q.solution()
    shown = capsys.readouterr().out
    assert "answer not yet given" in shown and "Hint" in shown and "Solution" in shown


def test_memory_answer_follows_the_predictor_not_a_typed_constant():
    q = exercises.nb04.memory_methods
    lora = estimate("llama-2-7b", TrainSetup(method="lora", precision="bf16", batch_size=1, seq_len=512,
                                             device="cuda")).total / 2**30
    full, got_lora, prompt = q.expected_value()
    assert got_lora == pytest.approx(lora) and full > 3 * lora and prompt < lora
    assert q.grade((round(full, 1), round(lora, 1), round(prompt, 1))).correct
    assert not q.grade((56.0, 16.0, 14.0 * 0.5)).correct  # the source text's round numbers are not the answer


def test_lr_ratio_reads_the_stored_sweep_and_matches_the_tiny_profile():
    from ftlab.core.profiles import PROFILES
    rates = PROFILES["tiny"].peft_learning_rates
    assert exercises.lora_to_full_lr_ratio() == pytest.approx(rates["lora"] / rates["full"])
    assert exercises.nb05.lr_ratio.grade("3").correct and not exercises.nb05.lr_ratio.grade("10").correct


def test_epoch_questions_follow_the_profile(monkeypatch):
    monkeypatch.setenv("FTLAB_PROFILE", "smol")
    from ftlab.core.profiles import PROFILES
    p = PROFILES["smol"]
    want = p.sft.max_steps * p.sft.effective_batch / (p.sft_train_per_task * len(p.sft_tasks))
    assert exercises.nb01.sft_epochs.grade(want).correct
    monkeypatch.setenv("FTLAB_PROFILE", "tiny")
    assert exercises.nb01.sft_epochs.grade(want).correct is (want == exercises.sft_epochs())


def test_ewc_answer_is_the_hand_computed_penalty():
    assert exercises.ewc_example_penalty() == pytest.approx(10 / 2 * (2 * 0.5**2 + 0.5 * 2.0**2))


def test_text_answers_are_parsed_and_bad_text_is_named():
    q = exercises.nb04.memory_methods
    full, lora, prompt = q.expected_value()
    assert q.grade(f"{full:.2f}, {lora:.2f}, {prompt:.2f}").correct
    bad = q.grade("sixty, 15, 14")
    assert bad.correct is False and "could not read" in bad.message
    assert exercises.nb03.forgetting.grade("replay, LoRA").correct
    import numpy as np
    assert q.grade(np.array([full, lora, prompt])).correct and not q.grade(np.array([full, lora])).correct


def test_choice_question_without_options_is_refused():
    with pytest.raises(ValueError, match="needs options"):
        Question("x", "?", lambda: {"a"}, "", "", kind="choice")


def test_widget_checks_what_is_typed():
    q = exercises.nb05.lr_ratio
    box = q.widget()
    field, buttons, verdict = box.children[1], box.children[2].children, box.children[3]
    field.value = "3"
    buttons[0].click()  # Check
    assert "correct." in verdict.value and "incorrect" not in verdict.value
    field.value = "10"
    buttons[0].click()
    assert "incorrect" in verdict.value
    buttons[1].click()  # Hint
    assert "<b>Hint</b>" in verdict.value


def test_every_notebooks_exercise_cells_run_on_their_own():
    """The auto-checked cells at the end of each notebook need no notebook state (nbval runs them after long
    cells; a learner may run them first): executed alone, each shows its exercises, code exercises included, and
    says 'not yet given' for every exercise (the cells call `check()` on each; a code exercise's answer is still
    the `...` placeholder the learner replaces with code)."""
    import nbformat
    from nbclient import NotebookClient

    from ftlab.tools.course_runner import course_notebooks
    cells = []
    for path in course_notebooks():
        nb = nbformat.read(path, as_version=4)
        start = next(i for i, c in enumerate(nb.cells) if "### Check yourself (auto-checked)" in c.source)
        mine = [c for c in nb.cells[start:] if c.cell_type == "code"]
        assert mine and f"from ftlab.course.exercises import nb{path.name[:2]}" in mine[0].source, path.name
        cells += mine
    alone = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(alone, timeout=120, kernel_name="python3").execute()
    outputs = [o for c in alone.cells for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    plain = [o.get("data", {}).get("text/plain", "") for o in outputs]
    assert sum("answer not yet given" in text for text in plain) == len(EXERCISES)
    shown = [o.get("data", {}).get("text/markdown", "") for o in outputs]
    assert all(any(text.startswith(f"**{q.name}**: ") for text in shown) for q in EXERCISES)
