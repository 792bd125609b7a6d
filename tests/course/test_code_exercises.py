"""Code exercises accept a right answer, name the concrete mistake of wrong ones, and say 'not yet given' to none.

The figures in the messages are checked against what the libraries measure here (peft's trainable parameters,
the chat template's lengths, the predictor's peak, the executed query's rows), not against typed numbers.
"""
import math
import re

import pytest
import torch

from ftlab.core.profiles import active
from ftlab.course import code_exercises as ce
from ftlab.course import exercises
from ftlab.course.quiz import CodeExercise, Findings, learner_code


def grade(q, answer):
    result = q.grade(answer)
    assert result.correct is not None, result.message
    return result


def assert_wrong(q, answer, *named):
    """Graded incorrect, naming every one of `named` (distinctive pieces of the problem's sentence)."""
    result = grade(q, answer)
    assert result.correct is False, result.message
    assert "correct." not in result.message
    for piece in named:
        assert piece in result.message, (piece, result.message)
    return result.message


def assert_right(q, answer):
    result = grade(q, answer)
    assert result.correct is True, result.message
    return result.message


def test_every_notebook_has_a_code_exercise():
    for number, group in exercises.NOTEBOOKS.items():
        assert any(isinstance(q, CodeExercise) for q in vars(group).values()), number
    every = [id(q) for q in exercises.all_questions()]
    assert len(exercises.code_exercises()) == len(exercises.NOTEBOOKS)
    assert all(id(q) in every for q in exercises.code_exercises())


@pytest.mark.parametrize("q", exercises.code_exercises(), ids=lambda q: q.name)
def test_unanswered_code_exercise_is_neither_right_nor_wrong(q, capsys):
    for nothing in ((), (None,), (...,)):
        assert q.grade(*nothing).correct is None
    q.solution()
    shown = capsys.readouterr().out
    assert "Solution" in shown and f".{q.name}.check(" in shown  # the code, ending with its check
    assert q.name in repr(q) and q.describe().startswith(f"**{q.name}**")


# --------------------------------------------------------------------------------------- CodeExercise itself


def _toy(inspect):
    return CodeExercise(name="toy", prompt="Return 2.", inspect=inspect, hint_text="two", solution_text="x = 2")


def test_a_learners_exception_is_the_answers_problem_but_an_inspectors_bug_is_not():
    def inspect(answer):
        with learner_code("calling your function"):
            value = answer()
        if value == "bug":
            raise KeyError("the inspector's own mistake")
        return [] if value == 2 else [f"returned {value}, not 2."]

    q = _toy(inspect)
    assert q.grade(lambda: 2).message == "**toy**: correct."
    assert q.grade(lambda: 3).message == "**toy**: incorrect - returned 3, not 2."
    raised = q.grade(lambda: 1 / 0)
    assert raised.correct is False and "`ZeroDivisionError: division by zero` was raised while calling your function" \
        in raised.message
    with pytest.raises(KeyError):
        q.grade(lambda: "bug")


def test_findings_detail_and_several_problems_are_shown():
    assert _toy(lambda a: Findings(detail="Measured 2.")).grade(1).message == "**toy**: correct. Measured 2."
    several = _toy(lambda a: ["one.", "two."]).grade(1)
    assert several.correct is False and several.message.endswith("2 problems:\n- one.\n- two.")


def test_solution_is_a_code_block_and_the_widget_shows_hint_and_solution():
    q = exercises.nb05.lora_attention
    box = q.widget()
    hint, solution = box.children[2].children
    verdict = box.children[3]
    solution.click()
    assert "<pre><code>" in verdict.value and "LoraConfig(r=" in verdict.value
    hint.click()
    assert "<b>Hint</b>" in verdict.value


# ------------------------------------------------------------------------------------- nb00: perplexity_fn


def perplexity(model, tokenizer, text):
    enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, labels=enc["input_ids"])
    return math.exp(out.loss.item())


def test_perplexity_fn():
    q = exercises.nb00.perplexity_fn
    message = assert_right(q, perplexity)
    model, tokenizer = ce.fresh_base()
    shown = [float(v) for v in re.findall(r"\d+\.\d+", message.split(":", 2)[2])[:ce.PERPLEXITY_TEXTS]]
    assert shown == pytest.approx([perplexity(model, tokenizer, t) for t in ce.heldout_texts(tokenizer)], abs=0.006)
    assert_right(q, lambda model, tokenizer, text: torch.exp(
        model(**tokenizer(text, return_tensors="pt"), labels=tokenizer(text, return_tensors="pt")["input_ids"]).loss))

    def loss(model, tokenizer, text):
        return math.log(perplexity(model, tokenizer, text))

    def without_start(model, tokenizer, text):
        enc = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        return torch.exp(model(**enc, labels=enc["input_ids"]).loss)

    def summed(model, tokenizer, text):
        enc = tokenizer(text, return_tensors="pt")
        return torch.exp(model(**enc, labels=enc["input_ids"]).loss * (enc["input_ids"].size(1) - 1))

    assert_wrong(q, loss, "you returned the loss, not exp(loss)")
    assert_wrong(q, without_start, "without its start token")
    assert_wrong(q, summed, "exp of the summed loss")
    assert_wrong(q, lambda model, tokenizer: 1.0, "cannot be called as `perplexity(model, tokenizer, text)`")
    assert_wrong(q, lambda model, tokenizer, text: perplexity(model, tokenizer, text) * 1.05,
                 "more than 1 % apart")
    assert_wrong(q, lambda model, tokenizer, text: model(text), "TypeError", "was raised while calling perplexity")
    assert_wrong(q, lambda model, tokenizer, text: torch.ones(3), "of shape (3,)")


# ----------------------------------------------------------------------------- nb01: assistant_only_config


def sft_config(**changes):
    from trl import SFTConfig

    recipe = {"assistant_only_loss": True, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2,
              "lr_scheduler_type": "cosine", "warmup_steps": 0.1, "learning_rate": active().sft.learning_rate,
              "use_cpu": not torch.cuda.is_available()}
    return SFTConfig(**{**recipe, **changes})


def test_assistant_only_config():
    from transformers import TrainingArguments

    q = exercises.nb01.assistant_only_config
    message = assert_right(q, sft_config())
    loss = float(re.search(r"training loss (\d+\.\d+)", message).group(1))
    assert 0 < loss < math.log(ce.fresh_tokenizer().vocab_size) * 2  # a real cross-entropy, not a typed number
    assert_right(q, sft_config(per_device_train_batch_size=16, gradient_accumulation_steps=1))
    assert_wrong(q, sft_config(assistant_only_loss=False), "`assistant_only_loss` is False")
    assert_wrong(q, sft_config(gradient_accumulation_steps=1), "effective batch is 8 x 1 = 8")
    assert_wrong(q, sft_config(lr_scheduler_type="linear"), "'linear' (the default), not 'cosine'")
    assert_wrong(q, sft_config(warmup_steps=10), "`warmup_steps=10` is a number of steps")
    assert_wrong(q, sft_config(learning_rate=2e-5), f"= {active().sft.learning_rate:g}")
    assert_wrong(q, {"assistant_only_loss": True}, "got a dict")
    assert_wrong(q, TrainingArguments(use_cpu=True), "has no `assistant_only_loss`")
    assert_wrong(q, sft_config(eval_strategy="steps", eval_steps=1), "was raised while training 2 steps")


# ---------------------------------------------------------------------------------- nb02: keep_untruncated


def keep(row, tokenizer, max_length):
    return len(tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True)["input_ids"]) \
        <= max_length


def test_keep_untruncated():
    q = exercises.nb02.keep_untruncated
    assert_right(q, keep)
    tokenizer, limit = ce.fresh_tokenizer(), active().sft.max_length
    lengths = [ce.templated_length(tokenizer, r["messages"]) for r in ce.planted_rows(tokenizer, limit)]
    long, fits = sum(n > limit for n in lengths), sum(n <= limit for n in lengths)
    assert long >= 3 and limit in lengths and limit + 1 in lengths

    def dict_length(row, tokenizer, max_length):
        return len(tokenizer.apply_chat_template(row["messages"], tokenize=True)) <= max_length

    def strictly_shorter(row, tokenizer, max_length):
        return len(tokenizer.apply_chat_template(row["messages"], tokenize=True)["input_ids"]) < max_length

    def characters(row, tokenizer, max_length):
        return len(tokenizer.apply_chat_template(row["messages"], tokenize=False)) <= max_length

    def answer_only(row, tokenizer, max_length):
        return len(tokenizer(row["messages"][-1]["content"])["input_ids"]) <= max_length

    assert_wrong(q, dict_length, f"kept {long} of the {long} rows longer than {limit}", "counts its keys")
    assert_wrong(q, strictly_shorter, f"dropped 1 of the {fits} rows that fit, e.g. one of {limit} tokens",
                 "`<=`, not `<`")
    assert_wrong(q, characters, "rows that fit", "not its characters")
    kept_long = sum(n > limit and len(tokenizer(r["messages"][-1]["content"])["input_ids"]) <= limit
                    for r, n in zip(ce.planted_rows(tokenizer, limit), lengths))
    assert_wrong(q, answer_only, f"kept {kept_long} of the {long} rows longer")
    assert_wrong(q, lambda row, tokenizer, max_length: None, "returned NoneType", "not True/False")
    assert_wrong(q, lambda row, tok, max_length: True, "cannot be called as `keep(row, tokenizer=..., max_length=...)`")


# ---------------------------------------------------------------------------------------- nb03: replay_mix


def test_replay_mix():
    from datasets import concatenate_datasets, interleave_datasets

    q = exercises.nb03.replay_mix
    message = assert_right(q, lambda task, general: interleave_datasets([task, general], probabilities=[0.9, 0.1],
                                                                        seed=0))
    task, general = ce.planted_sets()
    mixed = interleave_datasets([task, general], probabilities=[0.9, 0.1], seed=0)
    assert f"{mixed['source'].count('general')} general rows in {len(mixed)}" in message
    needed = round(0.1 * len(task) / 0.9)
    assert_right(q, lambda task, general: concatenate_datasets([task, general.select(range(needed))]).shuffle(seed=1))

    plain = interleave_datasets([task, general])
    assert_wrong(q, lambda task, general: interleave_datasets([task, general]),
                 f"general rows are 50.0% of the result ({plain['source'].count('general')} of {len(plain)})",
                 "pass `probabilities=[0.9, 0.1]`", f"only {len(general)} of the {len(task)} task rows")
    assert_wrong(q, lambda task, general: interleave_datasets([task, general], probabilities=[0.9, 0.1], seed=0,
                                                              stopping_strategy="all_exhausted"),
                 "task rows repeated", "all_exhausted")
    assert_wrong(q, lambda task, general: interleave_datasets([task, general], probabilities=[0.9, 0.1]),
                 "two calls gave different mixes")
    assert_wrong(q, lambda task, general: interleave_datasets([general, task], probabilities=[0.9, 0.1], seed=0),
                 "task first, then general")
    assert_wrong(q, lambda task, general: concatenate_datasets([task, general.select(range(needed))]),
                 f"all {needed} are at the end")
    assert_wrong(q, lambda task, general: task.to_list() + general.to_list(), "returned a list")
    low, high = ce.share_interval(1000)
    assert low < 0.1 < high and high - low == pytest.approx(2 * 2.5758 * math.sqrt(0.09 / 1000))


# ---------------------------------------------------------------------------------------- nb04: fits_24gb


def test_fits_24gb():
    from ftlab.core.memory import estimate, gib
    from ftlab.core.settings import TrainSetup

    q = exercises.nb04.fits_24gb
    lora = TrainSetup(method="lora", precision="bf16", batch_size=1, seq_len=512, device="cuda")
    message = assert_right(q, lora)
    prediction = estimate(exercises.SEVEN_B, lora)
    assert f"Predicted peak {gib(prediction.total)}" in message
    top = max(prediction.breakdown, key=prediction.breakdown.get)
    assert f"the largest part is {top.replace('_', ' ')}, {gib(prediction.breakdown[top])}" in message
    assert_right(q, TrainSetup(method="qlora", precision="bf16", batch_size=1, seq_len=512, device="cuda"))

    full = TrainSetup(method="full", precision="bf16", batch_size=1, seq_len=512, device="cuda")
    full_peak = estimate(exercises.SEVEN_B, full)
    full_top = max(full_peak.breakdown, key=full_peak.breakdown.get)
    assert_wrong(q, full, f"peak of {gib(full_peak.total)}", f"largest part is {full_top.replace('_', ' ')}")
    assert_wrong(q, TrainSetup(method="lora", precision="bf16", seq_len=512), "device is 'cpu' (TrainSetup's default)")
    assert_wrong(q, TrainSetup(method="lora", precision="bf16", seq_len=256, device="cuda"), "seq_len 256 is shorter")
    assert_wrong(q, TrainSetup(method="full", precision="bf16", seq_len=512, device="cuda", shards=4),
                 "shards=4 splits weights")
    assert_wrong(q, {"method": "lora"}, "got a dict")


# ------------------------------------------------------------------------------------ nb05: lora_attention


def trainable_after(config) -> int:
    from peft import get_peft_model

    model, _ = ce.fresh_base()
    return sum(p.numel() for p in get_peft_model(model, config).parameters() if p.requires_grad)


def test_lora_attention():
    from peft import LoraConfig

    from ftlab.core.settings import PeftOptions

    q = exercises.nb05.lora_attention
    attention = ["q_proj", "k_proj", "v_proj", "o_proj"]
    right = LoraConfig(r=4, target_modules=attention, task_type="CAUSAL_LM")
    message = assert_right(q, right)
    assert f"{trainable_after(LoraConfig(r=4, target_modules=attention, task_type='CAUSAL_LM')):,} trainable" in message
    assert right.base_model_name_or_path is None  # the check applied a copy: the learner's config is unchanged

    rank8 = LoraConfig(target_modules=attention, task_type="CAUSAL_LM")
    assert_wrong(q, rank8, "r=8 (LoraConfig's default), not 4",
                 f"makes {trainable_after(LoraConfig(target_modules=attention, task_type='CAUSAL_LM')):,} parameters")
    everything = {"r": 4, "target_modules": "all-linear", "task_type": "CAUSAL_LM"}
    assert_wrong(q, LoraConfig(**everything), "MLP projections too (gate_proj, up_proj, down_proj)",
                 f"makes {trainable_after(LoraConfig(**everything)):,} parameters")
    assert_wrong(q, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
                 "k_proj, o_proj not adapted")
    assert_wrong(q, LoraConfig(r=4, target_modules=attention, task_type="SEQ_CLS"), "`task_type` is 'SEQ_CLS'")
    saved = {"r": 4, "target_modules": attention, "task_type": "CAUSAL_LM", "modules_to_save": ["lm_head"]}
    outside = trainable_after(LoraConfig(**saved)) - trainable_after(LoraConfig(r=4, target_modules=attention,
                                                                                task_type="CAUSAL_LM"))
    assert_wrong(q, LoraConfig(**saved), f"{outside:,} trainable parameters outside the LoRA matrices")
    assert_wrong(q, LoraConfig(r=4, target_modules=attention, task_type="CAUSAL_LM", layers_to_transform=[0]),
                 "only some of the")
    assert_wrong(q, PeftOptions(lora_r=4), "ftlab's `PeftOptions`")


# ---------------------------------------------------------------------------------- nb06: sql_by_execution


def test_sql_by_execution():
    from ftlab.core.sql import execute

    q = exercises.nb06.sql_by_execution
    row = ce.sql_question()
    assert row["question"] in q.describe() and "CREATE TABLE elements" in q.describe()
    gold = execute(row["answer"])
    assert f"{len(gold.rows)} row(s)" in assert_right(q, row["answer"])
    assert_right(q, f"  {row['answer']} ;")

    one_condition = row["answer"].split(" and ")[0]  # the question's family has two conditions
    got = execute(one_condition)
    extra = next(r for r in got.rows if r not in gold.rows)
    assert_wrong(q, one_condition, f"returned {len(got.rows)} row(s), the answer has {len(gold.rows)}",
                 f"yours has {extra!r}")
    assert_wrong(q, row["answer"].replace("select name", "select *"), "your rows have 13 column(s)")
    assert_wrong(q, "select nam from elements", "SQLite could not run it", "no such column: nam")
    assert_wrong(q, "delete from elements", "sandbox refuses it", "starts with 'delete'")
    assert_wrong(q, ["select 1"], "expected the query as a string")


# -------------------------------------------------------------------------------------------- nb07: dpo_pair


def test_dpo_pair():
    from ftlab.core.preferences import off_format

    q = exercises.nb07.dpo_pair
    row = ce.dpo_row()
    assert row == ce.course_rows("test")[0] and row["messages"][0]["content"].splitlines()[0] in q.describe()
    question, worse = row["messages"][0]["content"], off_format(row)

    def pair(chosen=row["answer"], rejected=worse, prompt=question):
        return {"prompt": [{"role": "user", "content": prompt}],
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}]}

    tokenizer = ce.fresh_tokenizer()
    message = assert_right(q, pair())
    prompt_ids = tokenizer.apply_chat_template(pair()["prompt"], tokenize=True, add_generation_prompt=True,
                                               return_dict=True)["input_ids"]
    assert f"a {len(prompt_ids)}-token prompt" in message

    repeated = pair()
    repeated["chosen"] = repeated["prompt"] + repeated["chosen"]
    assert_wrong(q, repeated, "`chosen` repeats the prompt")
    assert_wrong(q, pair(rejected=row["answer"].upper()), "`rejected` is the right answer too")
    assert_wrong(q, pair(chosen=off_format(row), rejected=row["answer"]), "`chosen` (", "is not the right answer")
    assert_wrong(q, pair(prompt="What is the title?"), "not the question of this exercise")
    assert_wrong(q, {**pair(), "rejected_score": 0}, "not expected: rejected_score")
    assert_wrong(q, {"prompt": question, "chosen": row["answer"], "rejected": "no"}, "plain string (TRL's standard")
    swapped = pair()
    swapped["chosen"][0]["role"] = "user"
    assert_wrong(q, swapped, "`chosen` is a 'user' message")


# ---------------------------------------------------------------------------------------- nb08: narrow_set

def test_narrow_set():
    q = exercises.nb08.narrow_set

    def right(rows, task, size):
        mine = [r for r in rows if r["task"] == task]
        if len(mine) < size:
            raise ValueError("too few")
        return mine[:size]

    def no_filter(rows, task, size):
        return rows[:size]

    def silent(rows, task, size):
        return [r for r in rows if r["task"] == task][:size]

    def repeats(rows, task, size):
        mine = [r for r in rows if r["task"] == task]
        if len(mine) < size:
            raise ValueError("too few")
        return mine[:size // 2] * 2

    available = sum(r["task"] == ce.NARROW_TASK for r in ce.course_rows("train"))
    assert available > ce.NARROW_SIZE  # the check's first call can be answered
    assert f"out of the {available} there are" in assert_right(q, right)
    assert_wrong(q, no_filter, "are not 'quote' rows")
    assert_wrong(q, silent, f"asked for {available + 1} 'quote' rows where there are {available}", "raise ValueError")
    assert_wrong(q, repeats, f"{ce.NARROW_SIZE // 2} rows appear more than once")
    assert_wrong(q, lambda rows, task: rows, "narrow_set(rows, task, size)")


# ---------------------------------------------------------------------------------------- nb09: with_answers

def test_with_answers():
    q = exercises.nb09.with_answers

    def right(rows, answers):
        if len(rows) != len(answers):
            raise ValueError("counts differ")
        return [{**r, "messages": [{**m, "content": a} if m["role"] == "assistant" else m for m in r["messages"]]}
                for r, a in zip(rows, answers)]

    def in_place(rows, answers):
        if len(rows) != len(answers):
            raise ValueError("counts differ")
        for r, a in zip(rows, answers):
            r["messages"][-1]["content"] = a
        return rows

    def both_turns(rows, answers):
        if len(rows) != len(answers):
            raise ValueError("counts differ")
        return [{**r, "messages": [{**m, "content": a} for m in r["messages"]]} for r, a in zip(rows, answers)]

    def silent(rows, answers):
        return [{**r, "messages": [{**m, "content": a} if m["role"] == "assistant" else m for m in r["messages"]]}
                for r, a in zip(rows, answers)]

    assert f"{ce.ANSWERED_ROWS} rows with the model's answers" in assert_right(q, right)
    assert_wrong(q, in_place, "changed the rows it was given")
    assert_wrong(q, both_turns, "row 1: the user turn must stay as it was")
    assert_wrong(q, silent, f"given {ce.ANSWERED_ROWS} rows and {ce.ANSWERED_ROWS - 1} answers, it returned")
    assert_wrong(q, lambda rows: rows, "with_answers(rows, answers)")
    assert_wrong(q, lambda rows, answers: answers, "row 1: expected a dict")


# ---------------------------------------------------------------------------------------- nb10: chat_prompt

def test_chat_prompt():
    q = exercises.nb10.chat_prompt

    def right(tokenizer, question):
        return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                             add_generation_prompt=True)

    def no_header(tokenizer, question):
        return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False)

    def ids(tokenizer, question):
        return tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True)

    def by_hand(tokenizer, question):  # ChatML without the tokenizer's start token
        return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"

    assert f"{ce.PROMPTED_ROWS} prompts exactly as the model was trained" in assert_right(q, right)
    assert_wrong(q, no_header, "without add_generation_prompt=True")
    assert_wrong(q, ids, "not the prompt's text")
    assert_wrong(q, lambda tokenizer, question: question, "returned the bare question")
    assert_wrong(q, by_hand, "let the tokenizer's chat template write the format")
    assert_wrong(q, lambda question: question, "chat_prompt(tokenizer, question)")
