"""Auto-checked exercises in the learntools style: `q.check(answer)`, `q.hint()`, `q.solution()`.

Two kinds. A `Question` takes a number or option keys; its expected answer is a function, evaluated when an
answer is checked, so numeric answers come from what ftlab computes (the memory predictor, the stored sweeps, the
active profile) and never from a constant typed here. A `CodeExercise` takes code the learner wrote (a function,
a config object, a query); its inspector runs or inspects it against the real model, library and data and names
each concrete mistake. `grade()` is the pure part (tests call it); `check()` shows its verdict; `widget()`
renders the same as ipywidgets.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ftlab.course import gradebook

UNANSWERED = object()  # `q.check()` with no argument: the learner has not answered yet

FENCE = re.compile(r"```\w*\n(.*?)```", re.DOTALL)  # a fenced code block (solutions of code exercises)


@dataclass(frozen=True)
class Result:
    """A verdict: correct True/False, or None when no answer was given yet."""

    correct: bool | None
    message: str

    def _repr_markdown_(self) -> str:
        return self.message

    def __str__(self) -> str:
        return self.message


def _as_numbers(answer: Any) -> list[float]:
    """A number, a sequence of numbers, or text such as '62.8, 15.3' as a list of floats."""
    if isinstance(answer, str):
        answer = [part for part in answer.replace(";", ",").split(",") if part.strip()]
    if isinstance(answer, dict):
        answer = list(answer.values())
    if hasattr(answer, "tolist"):  # numpy arrays and torch tensors
        answer = answer.tolist()
    values = list(answer) if isinstance(answer, (list, tuple)) else [answer]
    return [float(v) for v in values]


def _as_choices(answer: Any) -> set[str]:
    """One option key or several ('lora, replay', a list or a set) as a set of lower-case keys."""
    if isinstance(answer, str):
        answer = answer.replace(";", ",").split(",")
    values = answer if isinstance(answer, (list, tuple, set, frozenset)) else [answer]
    return {str(v).strip().lower() for v in values if str(v).strip()}


@dataclass
class Question:
    """One exercise. kind: "number" (one or several numbers, each within rel_tol of the expected) or "choice"
    (one or several option keys, all of the right ones and nothing else)."""

    name: str
    prompt: str
    expected: Callable[[], Any]
    hint_text: str
    solution_text: str  # may use {expected}, filled in from the computed answer
    kind: str = "number"
    rel_tol: float = 0.05
    options: dict[str, str] = field(default_factory=dict)  # choice questions: key -> what it says

    def __post_init__(self):
        if self.kind not in ("number", "choice"):
            raise ValueError(f"question {self.name}: kind must be 'number' or 'choice', not {self.kind!r}")
        if self.kind == "choice" and not self.options:
            raise ValueError(f"question {self.name}: a choice question needs options")

    def expected_value(self) -> Any:
        value = self.expected()
        return _as_choices(value) if self.kind == "choice" else _as_numbers(value)

    def grade(self, answer: Any = UNANSWERED) -> Result:
        """The verdict on `answer`, without showing anything."""
        if _unanswered(answer):
            return _not_yet_given(self.name)
        try:
            return self._grade_choice(answer) if self.kind == "choice" else self._grade_numbers(answer)
        except (TypeError, ValueError) as err:
            return Result(False, f"**{self.name}**: could not read the answer {answer!r} ({err}). {self._form()}")

    def _form(self) -> str:
        if self.kind == "choice":
            return "Answer with option keys: " + ", ".join(f"`{k}`" for k in self.options) + "."
        n = len(self.expected_value())
        return "Answer with one number." if n == 1 else f"Answer with {n} numbers, in the order asked."

    def _grade_numbers(self, answer: Any) -> Result:
        got, want = _as_numbers(answer), self.expected_value()
        if len(got) != len(want):
            return Result(False, f"**{self.name}**: incorrect - expected {len(want)} number(s), got {len(got)}. "
                                 + self._form())
        off = [i for i, (g, w) in enumerate(zip(got, want))
               if not (math.isfinite(g) and math.isclose(g, w, rel_tol=self.rel_tol, abs_tol=1e-12))]
        if off:
            which = "" if len(want) == 1 else f" (number {', '.join(str(i + 1) for i in off)})"
            return Result(False, f"**{self.name}**: incorrect{which} - not within {self.rel_tol:.0%} of what ftlab "
                                 "computes. Try `hint()`.")
        return Result(True, f"**{self.name}**: correct.")

    def _grade_choice(self, answer: Any) -> Result:
        got, want = _as_choices(answer), self.expected_value()
        unknown = got - set(self.options)
        if unknown:
            return Result(False, f"**{self.name}**: unknown option(s) {sorted(unknown)}. " + self._form())
        if got == want:
            return Result(True, f"**{self.name}**: correct.")
        missing, extra = len(want - got), len(got - want)
        return Result(False, f"**{self.name}**: incorrect - {missing} right option(s) missing, {extra} wrong "
                             "option(s) chosen. Try `hint()`.")

    def check(self, answer: Any = UNANSWERED) -> None:
        """Show the verdict on `answer` (a notebook cell: `q.check(my_answer)`) and keep it for the teacher
        (`ftlab.course.gradebook`)."""
        _show(_recorded(self.name, self.grade(answer), answer).message)

    def hint(self) -> None:
        _show(f"**Hint ({self.name})**: {self.hint_text}")

    def solution(self) -> None:
        _show(self._solution_text())

    def _solution_text(self) -> str:
        if not gradebook.solutions_shown():
            return _hidden(self.name)
        return f"**Solution ({self.name})**: {self.solution_text.format(expected=self._expected_text())}"

    def _expected_text(self) -> str:
        value = self.expected_value()
        if self.kind == "choice":
            return ", ".join(f"`{k}`" for k in sorted(value))
        return ", ".join(f"{v:.4g}" for v in value)

    def describe(self) -> str:
        lines = [f"**{self.name}**: {self.prompt}"]
        lines += [f"- `{key}`: {text}" for key, text in self.options.items()]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return _plain(self.describe())

    def widget(self):
        """The question as ipywidgets: an answer field (or option boxes), Check / Hint / Solution buttons."""
        import ipywidgets as w

        if self.kind == "choice":
            field_ = w.SelectMultiple(options=[(f"{k}: {t}", k) for k, t in self.options.items()],
                                      rows=min(8, len(self.options)), layout=w.Layout(width="90%"))
        else:
            field_ = w.Text(placeholder="your answer (numbers separated by commas)")
        verdict = w.HTML()
        buttons = {label: w.Button(description=label) for label in ("Check", "Hint", "Solution")}

        def on_click(label):
            def handler(_button):
                if label == "Check":
                    answer = field_.value if field_.value else UNANSWERED
                    text = _recorded(self.name, self.grade(answer), answer).message
                elif label == "Hint":
                    text = f"**Hint**: {self.hint_text}"
                else:
                    text = self._solution_text()
                verdict.value = _markdown_to_html(text)
            return handler

        for label, button in buttons.items():
            button.on_click(on_click(label))
        return w.VBox([w.HTML(_markdown_to_html(self.prompt)), field_, w.HBox(list(buttons.values())), verdict])


def _unanswered(answer: Any) -> bool:
    """No argument, None, `...` or blank text: the learner has not answered yet."""
    return answer is UNANSWERED or answer is None or answer is Ellipsis or (isinstance(answer, str)
                                                                           and not answer.strip())


def _recorded(name: str, result: Result, answer: Any) -> Result:
    """`result`, after keeping it in the gradebook."""
    gradebook.record(name, result.correct, answer)
    return result


def _hidden(name: str) -> str:
    return (f"**Solution ({name})**: hidden in this lab ({gradebook.SOLUTIONS_ENV}=off); `hint()` still helps, "
            "and your teacher goes through the solutions afterwards.")


def _not_yet_given(name: str) -> Result:
    return Result(None, f"**{name}**: answer not yet given. Call `check(<your answer>)`; "
                        "`hint()` and `solution()` help.")


@dataclass(frozen=True)
class Findings:
    """What a code exercise's inspector found: the problems (none: the answer is correct) and, for a correct
    answer, a detail worth showing, such as what was measured while checking it."""

    problems: tuple[str, ...] = ()
    detail: str = ""


class AnswerRaised(Exception):
    """The learner's code raised while an inspector ran it; `CodeExercise.grade` reports it as the answer's
    problem. Raised only by `learner_code`, so an error in the inspector itself is never blamed on the learner."""

    def __init__(self, error: Exception, doing: str):
        super().__init__(f"{type(error).__name__}: {error}")
        self.error, self.doing = error, doing


@contextmanager
def learner_code(doing: str) -> Iterator[None]:
    """Run the learner's code (their function, or a library call their object drives) inside this block:
    whatever it raises becomes AnswerRaised, with `doing` (e.g. "calling keep(row, tokenizer, max_length)")
    saying what was running."""
    try:
        yield
    except AnswerRaised:
        raise
    except Exception as err:  # anything the learner's code raises is a verdict on their answer
        raise AnswerRaised(err, doing) from err


@dataclass
class CodeExercise:
    """One exercise answered with code: a function, a config object, a query. `inspect(answer)` runs or inspects
    it and returns the problems it found (a list of markdown sentences, empty when correct) or a Findings, whose
    detail is shown with a correct verdict. The learner's code runs inside `learner_code(...)` blocks, so what it
    raises is reported as the answer's problem. `solution_text` is Python code. `prompt` and `solution_text` are
    text, or functions returning it when it is computed from data or from the active profile (called when shown,
    never at import)."""

    name: str
    prompt: str | Callable[[], str]
    inspect: Callable[[Any], list[str] | Findings]
    hint_text: str
    solution_text: str | Callable[[], str]

    def prompt_text(self) -> str:
        return self.prompt() if callable(self.prompt) else self.prompt

    def grade(self, answer: Any = UNANSWERED) -> Result:
        """The verdict on `answer`, without showing anything."""
        if _unanswered(answer):
            return _not_yet_given(self.name)
        try:
            found = self.inspect(answer)
        except AnswerRaised as raised:
            return Result(False, f"**{self.name}**: incorrect - `{raised}` was raised while {raised.doing}.")
        findings = found if isinstance(found, Findings) else Findings(tuple(found))
        problems = findings.problems
        if len(problems) == 1:
            return Result(False, f"**{self.name}**: incorrect - {problems[0]}")
        if problems:
            return Result(False, f"**{self.name}**: incorrect - {len(problems)} problems:\n"
                                 + "\n".join(f"- {p}" for p in problems))
        return Result(True, f"**{self.name}**: correct." + (f" {findings.detail}" if findings.detail else ""))

    def check(self, answer: Any = UNANSWERED) -> None:
        """Show the verdict on `answer` (a notebook cell: `q.check(my_function)`) and keep it for the teacher
        (`ftlab.course.gradebook`)."""
        _show(_recorded(self.name, self.grade(answer), answer).message)

    def hint(self) -> None:
        _show(f"**Hint ({self.name})**: {self.hint_text}")

    def solution(self) -> None:
        _show(self._solution_text())

    def _solution_text(self) -> str:
        if not gradebook.solutions_shown():
            return _hidden(self.name)
        return f"**Solution ({self.name})**:\n\n{self._solution_block()}"

    def _solution_block(self) -> str:
        code = self.solution_text() if callable(self.solution_text) else self.solution_text
        return f"```python\n{code.strip()}\n```"

    def describe(self) -> str:
        return f"**{self.name}**: {self.prompt_text()}"

    def _repr_markdown_(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return _plain(self.describe())

    def widget(self):
        """The exercise as ipywidgets: its prompt, Hint and Solution buttons. The answer is code, so it is checked
        in a cell: `q.check(your_answer)`."""
        import ipywidgets as w

        verdict = w.HTML()
        buttons = {label: w.Button(description=label) for label in ("Hint", "Solution")}

        def on_click(label):
            def handler(_button):
                text = f"**Hint**: {self.hint_text}" if label == "Hint" else self._solution_text()
                verdict.value = _markdown_to_html(text)
            return handler

        for label, button in buttons.items():
            button.on_click(on_click(label))
        how = "The answer is code: write it in a cell and pass it to this exercise's `check(...)` there."
        return w.VBox([w.HTML(_markdown_to_html(self.prompt_text())), w.HTML(_markdown_to_html(how)),
                       w.HBox(list(buttons.values())), verdict])


def _markdown_to_html(text: str) -> str:
    """Escape, then turn the markups the messages use (**bold**, `code`, fenced code blocks) into HTML."""
    parts = FENCE.split(text)  # text, code, text, code, ..., text
    if len(parts) == 1:
        return _inline_html(text)
    return "".join(f"<pre><code>{html.escape(part)}</code></pre>" if i % 2 else _inline_html(part)
                   for i, part in enumerate(parts) if part.strip())


def _inline_html(text: str) -> str:
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))
    return "<p>" + re.sub(r"`(.+?)`", r"<code>\1</code>", text) + "</p>"


def _show(markdown: str) -> None:
    """Markdown in a notebook, plain text elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import display
        if get_ipython() is not None:
            display({"text/markdown": markdown, "text/plain": _plain(markdown)}, raw=True)
            return
    except ImportError:
        pass
    print(_plain(markdown))


def _plain(markdown: str) -> str:
    """Markdown without its markup; fenced code is kept as written (it may hold `**` or backticks)."""
    parts = FENCE.split(markdown)
    return "".join(part if i % 2 else part.replace("**", "").replace("`", "") for i, part in enumerate(parts))
