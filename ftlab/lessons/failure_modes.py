"""Notebook 10: when fine-tuning makes a model worse (the source text's practice question 5). From a model that
already does the tasks (notebook 01's SFT model, ftlab.core.course_sft), one more round of SFT on fresh rows of the
same tasks, once done well and once per cause of failure the source text names:

- too few examples, so each is seen many times (overfitting, memorisation);
- a learning rate far above the tuned one (the pretrained weights are destroyed);
- a prompt format at test time other than the one trained (another chat template);
- a test drawn from another distribution than training (the same instructions on another kind of passage).

The first two are trained arms; the last two score the well-tuned models in the other format and on the shifted
test. The claim's rule reads them in ftlab.course.verdicts.failure_measurements; this module runs the experiment.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace

import torch

from ftlab.core.course_data import course_data
from ftlab.core.evaluate import task_scores
from ftlab.core.general_ability import general_eval_docs, general_loss
from ftlab.core.instructions import PHRASINGS, load_instructions
from ftlab.core.paths import new_run_dir
from ftlab.core.profiles import Profile
from ftlab.core.seedstore import Experiment, settings_key
from ftlab.core.train import run_sft

WELL_TUNED, FEW_EXAMPLES, HIGH_LR = "well-tuned", "few examples", "learning rate x30"
ARMS = (WELL_TUNED, FEW_EXAMPLES, HIGH_LR)
FORMAT_MISMATCH, SHIFTED = "other prompt format", "other kind of passage"
CAUSES = (FEW_EXAMPLES, HIGH_LR, FORMAT_MISMATCH, SHIFTED)
# A quarter of notebook 01's steps for every trained arm: 25 x 16 rows on the tiny profile, one pass over the
# well-tuned set; nine runs and their scoring take about three minutes on two CPU cores.
STEP_SHARE = 0.25
FEW_PASSES = 12  # the few-examples set: 1/12 of the fresh rows of each task (8 on the tiny profile), seen ~12 times
LR_FACTOR = 30  # the high learning rate: 30 x the profile's tuned one
LOG_EVERY = 1  # training loss at every step, for the notebook's curves (logging changes no result)
# The prompt format of the format-mismatch arm: Llama 2's chat format (Touvron et al., 2023), where the model was
# trained with ftlab's ChatML template (<|im_start|>user ... <|im_end|>). Measured on notebook 01's model (tiny,
# seed 0, 2026-12-03): Alpaca's "### Instruction:" format cost it 11 points of exact match, a bare prompt 7, a
# "User: ... Assistant:" format 34, Llama 2's (without its start token) all 37.5: it answers nothing.
LLAMA2_TEMPLATE = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
                   "{% elif m['role'] == 'assistant' %} {{ m['content'] }}{% endif %}{% endfor %}")
SHIFTED_TASKS = ("title", "last_word", "count_words")  # tasks the shifted test asks on another kind of passage
LONG_SENTENCE = (8, 12)  # words of the shifted count_words sentences (training counts sentences of 2-7 words)


def steps(profile: Profile) -> int:
    """Training steps of every trained arm: STEP_SHARE of the profile's SFT steps (at least one)."""
    return max(1, round(profile.sft.max_steps * STEP_SHARE))


def fresh_per_task(profile: Profile) -> int:
    """Fresh rows per task: one pass of `steps(profile)` at the profile's effective batch, shared among its tasks."""
    return -(-steps(profile) * profile.sft.effective_batch // len(profile.sft_tasks))


def few_per_task(profile: Profile) -> int:
    """Rows per task of the few-examples set: 1/FEW_PASSES of the fresh rows (at least one)."""
    return max(1, fresh_per_task(profile) // FEW_PASSES)


def fresh_rows(profile: Profile) -> list[dict]:
    """`fresh_per_task` training rows of each task that notebook 01 never trained on: the rows of the training
    split that follow notebook 01's."""
    seen = {r["id"] for r in course_data(profile)[0]}
    pool = load_instructions("train", profile.sft_tasks,
                             limit_per_task=profile.sft_train_per_task + fresh_per_task(profile))
    return [r for r in pool if r["id"] not in seen]


def few_rows(rows: list[dict], per_task: int) -> list[dict]:
    """The first `per_task` rows of each task in `rows`: the few-examples arm's training set."""
    taken: dict[str, int] = {}
    out = []
    for r in rows:
        if taken.get(r["task"], 0) < per_task:
            taken[r["task"]] = taken.get(r["task"], 0) + 1
            out.append(r)
    return out


def training_sets(profile: Profile) -> dict[str, list[dict]]:
    """{trained arm: its rows}: the fresh rows for the well-tuned and high-learning-rate arms, a few of them for the
    few-examples arm (trained for the same steps, so it sees each many times)."""
    rows = fresh_rows(profile)
    return {WELL_TUNED: rows, FEW_EXAMPLES: few_rows(rows, few_per_task(profile)), HIGH_LR: rows}


def overrides(profile: Profile, arm: str) -> dict:
    """What an arm changes in the profile's SFT settings besides the steps."""
    return {"learning_rate": profile.sft.learning_rate * LR_FACTOR} if arm == HIGH_LR else {}


def test_rows(profile: Profile) -> list[dict]:
    """Notebook 01's test questions: the in-distribution test."""
    return course_data(profile)[2]


def _question(task: str, passage: str, answer: str, key: str) -> dict:
    """A test row that asks `task`'s training instruction of `passage`, with `answer` as the right answer."""
    prompt = f"{PHRASINGS[task][0]}\n\n{passage}"
    return {"id": f"{task}:{key}:shifted", "task": task, "kind": "grounded", "source_id": key, "answer": answer,
            "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


def shifted_rows(profile: Profile) -> list[dict]:
    """The shifted test: the training instructions asked of another kind of passage, built from test passages:
    the title of a dictionary entry (its headword; training asks it of Wikipedia leads), the last word of a
    Wikipedia sentence (training: dictionary examples), the word count of an 8-12-word example sentence
    (training: 2-7 words). `profile.eval_per_task` questions per task."""
    pool = load_instructions("test", ("title", "quote"))
    n = profile.eval_per_task
    entries = [r for r in pool if r["task"] == "quote"]
    leads = [r for r in pool if r["task"] == "title"]
    titles = [_question("title", r["messages"][0]["content"].split("\n\n", 1)[1],
                        r["messages"][0]["content"].split("\n\n", 1)[1].partition(": ")[0], r["source_id"])
              for r in entries][:n]
    last = []
    for r in leads:
        sentence = r["messages"][0]["content"].split("\n\n", 1)[1]
        word = re.sub(r"[^\w'-]+$", "", sentence.split()[-1])
        if word:
            last.append(_question("last_word", sentence, word, r["source_id"]))
    counts = [_question("count_words", r["answer"], str(len(r["answer"].split())), r["source_id"]) for r in entries
              if LONG_SENTENCE[0] <= len(r["answer"].split()) <= LONG_SENTENCE[1]]
    shifted = titles + last[:n] + counts[:n]
    short = {t: k for t in SHIFTED_TASKS if (k := sum(r["task"] == t for r in shifted)) < n}
    if short:
        raise ValueError(f"the test split yields too few shifted questions {short} for {n} per task: lower the "
                         "profile's eval_per_task")
    return shifted


def with_template(tokenizer, template: str):
    """A copy of `tokenizer` whose chat template is `template` (the original is left as it was)."""
    other = copy.deepcopy(tokenizer)
    other.chat_template = template
    return other


def over_tasks(scores: dict, tasks: tuple[str, ...]) -> float:
    """Exact match over the questions of `tasks` alone (per-task accuracies weighted by their question counts)."""
    return sum(scores[t]["accuracy"] * scores[t]["n"] for t in tasks) / sum(scores[t]["n"] for t in tasks)


def scored(profile: Profile, model, tokenizer, test: list[dict], docs: list[dict]) -> dict:
    """A model's exact match on `test` (per task, overall, answers) and its loss on held-out general text."""
    result = task_scores(model, tokenizer, test, profile.max_new_tokens)
    return {"scores": result["scores"], "answers": result["answers"],
            "accuracy": result["scores"]["overall"]["accuracy"], "general_loss": general_loss(model, tokenizer, docs)}


def start_scores(profile: Profile, start: dict, test: list[dict], shifted: list[dict], docs: list[dict]) -> dict:
    """The starting model's row: what every arm is compared with before it trains."""
    model, tokenizer = start["model"], start["tokenizer"]
    return {**scored(profile, model, tokenizer, test, docs),
            "shifted_scores": task_scores(model, tokenizer, shifted, profile.max_new_tokens)["scores"]}


def failure_experiment(profile: Profile, start: dict) -> Experiment:
    """Every trained arm over the profile's seeds (ftlab.core.seedstore): a copy of the starting model (`start`,
    `course_sft_run`'s result) trained `steps(profile)` steps on the arm's rows with the profile's SFT settings and
    the arm's overrides; then exact match on notebook 01's test and general loss. The well-tuned arm is also
    scored in Llama 2's prompt format and on the shifted test."""
    sets, test, shifted, docs = training_sets(profile), test_rows(profile), shifted_rows(profile), general_eval_docs()

    def run(arm: str, seed: int) -> dict:
        model = copy.deepcopy(start["model"])
        settings = replace(profile.sft, seed=seed, max_steps=steps(profile), logging_steps=LOG_EVERY,
                           **overrides(profile, arm))
        torch.manual_seed(seed)
        result = run_sft(model, start["tokenizer"], sets[arm], settings, new_run_dir(f"10-{arm}-seed{seed}"),
                         profile=profile.name, name=f"10-{arm}")
        row = {**scored(profile, result.model, start["tokenizer"], test, docs), "history": result.history,
               "card_path": result.card_path, "train_rows": len(sets[arm])}
        if arm == WELL_TUNED:
            other = with_template(start["tokenizer"], LLAMA2_TEMPLATE)
            row["mismatch_scores"] = task_scores(result.model, other, test, profile.max_new_tokens)["scores"]
            row["shifted_scores"] = task_scores(result.model, start["tokenizer"], shifted,
                                                profile.max_new_tokens)["scores"]
        return row

    inputs = {"sft": settings_key(profile.sft), "steps": steps(profile), "max_new_tokens": profile.max_new_tokens,
              "train": sets, "test": test, "shifted": shifted, "lr_factor": LR_FACTOR}
    return Experiment("10-failure-modes", profile, ARMS, run, inputs, tolerance={"accuracy": 0.01})


def cause_accuracy(rows: list[dict], cause: str) -> tuple[list[float], list[float]]:
    """(exact match of the cause's arm per seed, of the well-tuned arm per seed, on the same questions): the
    trained causes against the well-tuned run on notebook 01's test; the prompt format on the same test; the
    shifted test against the well-tuned run's in-distribution score on the same tasks."""
    well = [r for r in rows if r["arm"] == WELL_TUNED]
    if cause == FORMAT_MISMATCH:
        return [r["mismatch_scores"]["overall"]["accuracy"] for r in well], [r["accuracy"] for r in well]
    if cause == SHIFTED:
        return ([over_tasks(r["shifted_scores"], SHIFTED_TASKS) for r in well],
                [over_tasks(r["scores"], SHIFTED_TASKS) for r in well])
    return [r["accuracy"] for r in rows if r["arm"] == cause], [r["accuracy"] for r in well]
