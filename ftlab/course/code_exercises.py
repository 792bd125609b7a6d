"""Code exercises, one per notebook: the learner writes a function, a config object or a query, and `check()` runs
or inspects it against the real model, library and data, and names the concrete mistake.

Every expected figure is computed when an answer is checked: perplexities by ftlab's own forward pass of the
committed base, the kept rows by the chat template, trainable parameters from the model's own Linear shapes, the
predicted peak by ftlab's memory predictor, the query's rows by executing the gold query. Nothing loads at import:
models, data and the libraries a check needs are loaded when it runs. `ftlab.course.exercises` puts each exercise
into its notebook's namespace (`nb05.lora_attention.check(config)`).
"""

from __future__ import annotations

import copy
import inspect as pyinspect
import math
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from ftlab.core.course_data import course_data
from ftlab.core.models import load
from ftlab.core.profiles import active
from ftlab.course.quiz import CodeExercise, Findings, learner_code

# Practice question 1's model (ftlab.core.memory's config name); ftlab.course.exercises uses it too.
SEVEN_B = "llama-2-7b"

REL_TOL = 0.01  # how close a learner's perplexity must be to ftlab's


# ---------------------------------------------------------------------------------------------- shared helpers


@lru_cache(maxsize=2)
def _loaded(model_name: str):
    return load(model_name)


def fresh_base():
    """(model, tokenizer) of the active profile's base: private copies, so the learner's code changes neither the
    loaded original nor what the next check sees (loading once, copying ~40 ms for the tiny base)."""
    model, tokenizer = _loaded(active().model)
    return copy.deepcopy(model), copy.deepcopy(tokenizer)


def fresh_tokenizer():
    """A private copy of the active profile's tokenizer (ftlab's chat template included)."""
    return copy.deepcopy(_loaded(active().model)[1])


@lru_cache(maxsize=4)
def _course(profile_name: str) -> tuple[list[dict], list[dict], list[dict]]:
    return course_data(active(profile_name))


def course_rows(split: str) -> list[dict]:
    """The active profile's course rows of notebook 01 ("train", "val" or "test")."""
    return _course(active().name)[("train", "val", "test").index(split)]


def signature_problem(fn: Any, call: str, params: tuple[str, ...], by_name: tuple[str, ...] = ()) -> str | None:
    """Why `fn` cannot be called as `call(*params, **by_name)` (the `by_name` arguments passed as keywords), or
    None (also when Python cannot tell: calling it will)."""
    shown = f"`{call}({', '.join([*params, *(f'{k}=...' for k in by_name)])})`"
    if not callable(fn):
        return f"expected a function {shown}, got a {type(fn).__name__}."
    try:
        signature = pyinspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*params, **dict.fromkeys(by_name))
    except TypeError as err:
        return (f"your function `{getattr(fn, '__name__', call)}{signature}` cannot be called as {shown} "
                f"({err}).")
    return None


@contextmanager
def _quiet() -> Iterator[None]:
    """No library warnings or datasets progress bars while a check runs (the verdict is what the learner reads)."""
    import datasets

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        if bars:
            datasets.enable_progress_bars()


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__.split('.')[0]}.{kind.__name__}"


def _shown(value: Any) -> str:
    """A returned value for a message: its type, and its shape (tensors, arrays) or the start of its text."""
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (int, float)):
        return f"a {_type_name(value)} of shape {tuple(shape)}"
    return f"{_type_name(value)} `{str(value)[:40]}`"


# ------------------------------------------------------------------------------------ nb00: perplexity_fn

PERPLEXITY_TEXTS = 3
PERPLEXITY_TOKENS = (40, 200)  # a held-out text's token count, so that each fits the tiny base's 256 positions


def heldout_texts(tokenizer, n: int = PERPLEXITY_TEXTS) -> list[str]:
    """The first `n` documents of the committed held-out split (data/general) of 40 to 200 tokens."""
    from ftlab.core.corpus import load_general

    low, high = PERPLEXITY_TOKENS
    texts = [d["text"] for d in load_general("heldout", limit=50)
             if low <= len(tokenizer(d["text"])["input_ids"]) <= high]
    return texts[:n]


def reference_perplexity(model, tokenizer, text: str, special_tokens: bool = True) -> tuple[float, int]:
    """(exp of the mean next-token NLL, predicted tokens) of `text` as the tokenizer encodes it by default: ftlab's
    own forward pass and cross-entropy, not transformers' `labels` loss."""
    import torch

    ids = tokenizer(text, return_tensors="pt", add_special_tokens=special_tokens)["input_ids"]
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    nll = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
    return math.exp(nll.item()), ids.size(1) - 1


def _one_number(value: Any) -> float | None:
    """A number, or a one-element tensor or array, as a float; None for anything else (text included)."""
    if isinstance(value, (str, bytes)):
        return None
    if hasattr(value, "detach"):  # a tensor that still needs its graph
        value = value.detach()
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):  # torch raises RuntimeError for a tensor of several elements
        return None


def _perplexity_mismatch(got: float, want: float, tokens: int, without_start: float, which: str) -> str | None:
    """The mistake that explains `got` instead of `want`, or None when they agree within REL_TOL."""
    if math.isfinite(got) and math.isclose(got, want, rel_tol=REL_TOL):
        return None
    loss = math.log(want)
    if math.isclose(got, loss, rel_tol=REL_TOL):
        return (f"you returned the loss, not exp(loss): {got:.4g} is the mean next-token loss of {which}, whose "
                f"perplexity is exp({got:.4g}) = {want:.4g}.")
    if math.isinf(got) or (got > 0 and math.isclose(math.log(got), loss * tokens, rel_tol=REL_TOL)):
        return (f"your function gave {got:.4g} for {which}: exp of the summed loss of its {tokens} predicted tokens"
                f"{' (it overflows)' if math.isinf(got) else ''}; perplexity is exp of their mean loss, {want:.4g}.")
    if math.isfinite(got) and math.isclose(got, without_start, rel_tol=REL_TOL):
        return (f"your function gave {got:.4g} for {which}, ftlab computes {want:.4g}: yours is the text tokenized "
                "without its start token (`add_special_tokens=False`). Score the text as `tokenizer(text)` encodes "
                "it by default, so its first word is predicted too.")
    return (f"your function gave {got:.4g} for {which}, ftlab computes {want:.4g} (exp of the mean next-token loss); "
            "more than 1 % apart.")


def inspect_perplexity(perplexity) -> list[str] | Findings:
    """Run the learner's perplexity(model, tokenizer, text) on held-out texts against ftlab's forward pass."""
    problem = signature_problem(perplexity, "perplexity", ("model", "tokenizer", "text"))
    if problem:
        return [problem]
    model, tokenizer = fresh_base()
    texts = heldout_texts(tokenizer)
    # before the learner's code runs (it may change the model): by default, and without the start token
    wanted = [reference_perplexity(model, tokenizer, t) for t in texts]
    without_start = [reference_perplexity(model, tokenizer, t, special_tokens=False)[0] for t in texts]
    measured = []
    for i, (text, (want, tokens), plain) in enumerate(zip(texts, wanted, without_start), 1):
        which = f"held-out text {i}"
        with learner_code(f"calling perplexity(model, tokenizer, text) on {which}"), _quiet():
            returned = perplexity(model, tokenizer, text)
        got = _one_number(returned)
        if got is None:
            return [(f"`perplexity` returned {_shown(returned)} for {which}; return one number (a float, or a "
                     "one-element tensor).")]
        problem = _perplexity_mismatch(got, want, tokens, plain, which)
        if problem:
            return [problem]
        measured.append(got)
    return Findings(detail=f"Perplexity of the {len(texts)} held-out texts: "
                           + ", ".join(f"{v:.2f}" for v in measured)
                           + " (ftlab's own forward pass agrees within 1 %).")


perplexity_fn = CodeExercise(
    name="perplexity_fn",
    prompt="Write `perplexity(model, tokenizer, text) -> float` with transformers: tokenize the text, run the "
           "model forward with `labels`, and return the exponential of the mean next-token loss. The check runs it "
           "on a fresh copy of the course's base (`ftlab.core.models.load(profile.model)`) and on held-out texts "
           "of data/general, and compares with ftlab's own computation. Then: "
           "`nb00.perplexity_fn.check(perplexity)`.",
    inspect=inspect_perplexity,
    hint_text="`enc = tokenizer(text, return_tensors='pt')`; `model(input_ids=enc['input_ids'], "
              "labels=enc['input_ids']).loss` is the mean loss per predicted token (transformers shifts the labels "
              "by one inside); perplexity is `math.exp` of it.",
    solution_text='''
import math
import torch

def perplexity(model, tokenizer, text) -> float:
    enc = tokenizer(text, return_tensors="pt")  # starts with the tokenizer's start token, as ftlab scores text
    with torch.no_grad():
        out = model(**enc, labels=enc["input_ids"])  # the labels are shifted by one inside the model
    return math.exp(out.loss.item())  # out.loss: mean next-token NLL (nats per token)

nb00.perplexity_fn.check(perplexity)
''',
)


# ----------------------------------------------------------------------------- nb01: assistant_only_config

EFFECTIVE_BATCH = 16
WARMUP_SHARE = 0.1
CHECK_ROWS = 8  # course rows the learner's config trains 2 steps on
CHECK_STEPS = 2


def _config_type_problem(config) -> str | None:
    from transformers import TrainingArguments
    from trl import SFTConfig

    if isinstance(config, SFTConfig):
        return None
    if isinstance(config, dict):
        return "got a dict; build the config object: `trl.SFTConfig(assistant_only_loss=True, ...)`."
    if isinstance(config, TrainingArguments):
        return (f"got a transformers `{type(config).__name__}`, which has no `assistant_only_loss`: use "
                "`trl.SFTConfig`, its subclass for TRL's SFTTrainer.")
    return f"expected a `trl.SFTConfig`, got a {_type_name(config)}."


def sft_config_problems(config) -> list[str]:
    """What differs from the asked recipe, field by field (the active profile's learning rate)."""
    from transformers.trainer_utils import SchedulerType
    from trl import SFTConfig

    problems = []
    if not config.assistant_only_loss:
        problems.append("`assistant_only_loss` is False: the loss would cover the whole templated conversation, "
                        "the user's prompt included; set `assistant_only_loss=True`.")
    batch, accum = config.per_device_train_batch_size, config.gradient_accumulation_steps
    if batch * accum != EFFECTIVE_BATCH:
        problems.append(f"the effective batch is {batch} x {accum} = {batch * accum} "
                        f"(`per_device_train_batch_size` x `gradient_accumulation_steps`), not {EFFECTIVE_BATCH}.")
    schedule = SchedulerType(config.lr_scheduler_type).value
    if schedule != SchedulerType.COSINE.value:
        default = SFTConfig.__dataclass_fields__["lr_scheduler_type"].default
        problems.append(f"`lr_scheduler_type` is '{schedule}'"
                        + (" (the default)" if schedule == SchedulerType(default).value else "")
                        + ", not 'cosine'.")
    warmup = config.warmup_steps
    if warmup >= 1:
        problems.append(f"`warmup_steps={warmup:g}` is a number of steps; in transformers 5 a float below 1 is a "
                        f"share of the training steps: {WARMUP_SHARE:.0%} is `warmup_steps={WARMUP_SHARE}`.")
    elif not math.isclose(warmup, WARMUP_SHARE):
        problems.append(f"the warm-up is {warmup:.0%} of the steps (`warmup_steps={warmup:g}`), not "
                        f"{WARMUP_SHARE:.0%} (`warmup_steps={WARMUP_SHARE}`).")
    profile = active()
    want = profile.sft.learning_rate
    if not math.isclose(config.learning_rate, want, rel_tol=1e-6):
        default = SFTConfig.__dataclass_fields__["learning_rate"].default
        problems.append(f"the learning rate is {config.learning_rate:g}"
                        + (" (SFTConfig's default)" if math.isclose(config.learning_rate, default) else "")
                        + f", not the {profile.name} profile's `profile.sft.learning_rate` = {want:g}.")
    return problems


def train_two_steps(config) -> float:
    """Train a fresh base CHECK_STEPS steps on CHECK_ROWS course rows with a copy of `config`; its training loss.

    The copy changes only where the run goes and how long it is (output_dir, max_steps, no saving, no reports,
    no progress bar). Without CUDA it also sets use_cpu=True and trains in fp32 (bf16=False, fp16=False): bf16
    autocast on a CPU without bf16 units is emulated, ~5x slower here, and precision is not what is asked.
    ftlab's own runs also pass `eos_token=IM_END` (generation stops at the end of the assistant turn); the check
    leaves it as the learner set it: it does not change the loss of these steps.
    """
    import dataclasses
    import tempfile

    import torch
    from transformers import PrinterCallback
    from trl import SFTTrainer

    from ftlab.core.train import to_dataset

    rows = course_rows("train")[:CHECK_ROWS]
    model, tokenizer = fresh_base()
    cpu = {} if torch.cuda.is_available() else {"use_cpu": True, "bf16": False, "fp16": False}
    doing = f"training {CHECK_STEPS} steps with a copy of your config (trl.SFTTrainer, {CHECK_ROWS} course rows)"
    with tempfile.TemporaryDirectory() as out, _quiet(), learner_code(doing):
        args = dataclasses.replace(config, output_dir=out, max_steps=CHECK_STEPS, report_to="none",
                                   save_strategy="no", disable_tqdm=True, **cpu)
        trainer = SFTTrainer(model=model, args=args, train_dataset=to_dataset(rows), processing_class=tokenizer)
        trainer.remove_callback(PrinterCallback)  # the log lines; the verdict reports the loss
        result = trainer.train()
    return result.training_loss


def inspect_sft_config(config) -> list[str] | Findings:
    """Check the learner's SFTConfig field by field, then train 2 steps with it."""
    problem = _config_type_problem(config)
    if problem:
        return [problem]
    problems = sft_config_problems(config)
    if problems:
        return problems
    loss = train_two_steps(config)
    if not math.isfinite(loss):
        return [f"training with it gave a training loss of {loss}: not a number."]
    return Findings(detail=f"A copy of it trained {CHECK_STEPS} steps on {CHECK_ROWS} course rows from a fresh "
                           f"{active().model} base: training loss {loss:.3f} (on the assistant tokens only).")


def _sft_prompt() -> str:
    profile = active()
    return ("Write a TRL `SFTConfig` for notebook 01's SFT that puts the loss on the assistant's tokens only, with "
            f"an effective batch of {EFFECTIVE_BATCH} rows per optimizer step, a cosine schedule, a warm-up over "
            f"{WARMUP_SHARE:.0%} of the steps and the active profile's learning rate (`profile.sft.learning_rate`, "
            f"{profile.sft.learning_rate:g} on the {profile.name} profile). On a machine without a CUDA GPU also pass "
            "`use_cpu=True` (SFTConfig's default bf16 needs it). The check reads each field, then trains a copy "
            f"{CHECK_STEPS} steps on {CHECK_ROWS} course rows. Then: `nb01.assistant_only_config.check(config)`.")


assistant_only_config = CodeExercise(
    name="assistant_only_config",
    prompt=_sft_prompt,
    inspect=inspect_sft_config,
    hint_text="`from trl import SFTConfig`; the fields are `assistant_only_loss`, `per_device_train_batch_size`, "
              "`gradient_accumulation_steps`, `lr_scheduler_type`, `warmup_steps` (in transformers 5 a float below "
              "1 is a share of the steps; `warmup_ratio` is gone) and `learning_rate` "
              "(`ftlab.core.profiles.active().sft.learning_rate`).",
    solution_text='''
import torch
from trl import SFTConfig
from ftlab.core.profiles import active

config = SFTConfig(
    assistant_only_loss=True,  # loss on the {% generation %} part of the chat template only
    per_device_train_batch_size=8, gradient_accumulation_steps=2,  # 8 x 2 = 16 rows per optimizer step
    lr_scheduler_type="cosine",
    warmup_steps=0.1,  # a float below 1: a share of the training steps
    learning_rate=active().sft.learning_rate,
    use_cpu=not torch.cuda.is_available(),
)
nb01.assistant_only_config.check(config)
''',
)


# ---------------------------------------------------------------------------------- nb02: keep_untruncated

KEEP_REAL_ROWS = 10  # real course rows among the planted ones
KEEP_FILLER = " the"  # one token per repeat in ftlab's tokenizers (templated_length checks it)


def templated_length(tokenizer, messages: list[dict]) -> int:
    """Tokens of a conversation after the chat template: what SFTTrainer truncates to max_length, and what
    ftlab.core.data.validate_rows refuses beyond it."""
    return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])


def with_length(row: dict, n: int, tokenizer) -> dict:
    """A copy of a single-turn chat row whose templated length is exactly `n`: its answer padded with KEEP_FILLER."""
    user, assistant = row["messages"][:2]
    base = templated_length(tokenizer, [user, assistant])
    padded = [user, {"role": "assistant", "content": assistant["content"] + KEEP_FILLER * (n - base)}]
    got = templated_length(tokenizer, padded)
    if got != n:  # a broken assumption of this check, not the learner's mistake
        raise RuntimeError(f"could not build a row of {n} tokens ({got}): {KEEP_FILLER!r} is not one token each")
    return {"messages": padded}


def planted_rows(tokenizer, max_length: int) -> list[dict]:
    """Real course rows, rows of exactly max_length and max_length - 1 tokens (they fit), and rows of
    max_length + 1, + 8 and 2 x max_length tokens (they do not), each with an `id`; in a fixed mixed order."""
    real = course_rows("train")[:KEEP_REAL_ROWS + 5]
    made = [with_length(row, n, tokenizer) for row, n in zip(
        real[KEEP_REAL_ROWS:], (max_length, max_length - 1, max_length + 1, max_length + 8, 2 * max_length))]
    rows = [{"messages": r["messages"]} for r in real[:KEEP_REAL_ROWS]]
    mixed = [row for pair in zip(rows[:len(made)], made) for row in pair] + rows[len(made):]
    return [{"id": i, **row} for i, row in enumerate(mixed)]


def inspect_keep(keep) -> list[str] | Findings:
    """Filter planted rows with the learner's keep(row, tokenizer, max_length); compare with the templated lengths."""
    import numpy
    from datasets import Dataset

    problem = signature_problem(keep, "keep", ("row",), by_name=("tokenizer", "max_length"))
    if problem:
        return [problem]
    tokenizer = fresh_tokenizer()
    max_length = active().sft.max_length
    rows = planted_rows(tokenizer, max_length)
    length = {row["id"]: templated_length(tokenizer, row["messages"]) for row in rows}
    with learner_code("calling keep(row, tokenizer=tokenizer, max_length=max_length) on one row"), _quiet():
        first = keep(dict(rows[0]), tokenizer=tokenizer, max_length=max_length)
    if not isinstance(first, (bool, numpy.bool_)):
        return [(f"`keep` returned {_shown(first)}, not True/False: return whether the row fits, e.g. "
                 "`len(ids) <= max_length`.")]
    with learner_code("running `dataset.filter(keep, fn_kwargs={'tokenizer': tokenizer, 'max_length': "
                      f"{max_length}}})`"), _quiet():
        kept = set(Dataset.from_list(rows).filter(keep, fn_kwargs={"tokenizer": tokenizer,
                                                                   "max_length": max_length})["id"])
    long = [i for i in length if length[i] > max_length]
    fits = [i for i in length if length[i] <= max_length]
    long_kept = [i for i in long if i in kept]
    fit_dropped = [i for i in fits if i not in kept]
    problems = []
    if long_kept:
        worst = max(length[i] for i in long_kept)
        problems.append(f"kept {len(long_kept)} of the {len(long)} rows longer than {max_length} tokens after the "
                        f"chat template, e.g. one of {worst} tokens: the trainer would cut them."
                        + (" It kept every row: if you took `len()` of what `apply_chat_template(..., "
                           "tokenize=True)` returns, that is a dict in transformers 5 and `len()` counts its keys; "
                           "take its `['input_ids']`."
                           if len(kept) == len(rows) else ""))
    if fit_dropped:
        shortest = min(length[i] for i in fit_dropped)
        edge_only = all(length[i] == max_length for i in fit_dropped)
        problems.append(f"dropped {len(fit_dropped)} of the {len(fits)} rows that fit, e.g. one of {shortest} tokens"
                        + (f": a row of exactly max_length ({max_length}) tokens is not cut, keep it (`<=`, not `<`)."
                           if edge_only else
                           " (count the tokens of the templated conversation, not its characters or words)."))
    if problems:
        return problems
    return Findings(detail=f"Of {len(rows)} rows ({min(length.values())} to {max(length.values())} tokens) it keeps "
                           f"the {len(fits)} of at most {max_length} tokens, those of exactly {max_length} included.")


keep_untruncated = CodeExercise(
    name="keep_untruncated",
    prompt=lambda: ("Write `keep(row, tokenizer, max_length) -> bool` that keeps a chat row (`row['messages']`) only "
                    "if SFTTrainer would not truncate it: if its length after the chat template "
                    "(`tokenizer.apply_chat_template(row['messages'], tokenize=True, ...)`) is at most `max_length` "
                    f"tokens (`profile.sft.max_length`, {active().sft.max_length} on the {active().name} profile). "
                    "It is used as `dataset.filter(keep, fn_kwargs={'tokenizer': tokenizer, 'max_length': "
                    "max_length})`, which passes those two by name (keep the parameter names). The check filters "
                    "course rows and rows made too long or exactly at the limit. "
                    "Then: `nb02.keep_untruncated.check(keep)`."),
    inspect=inspect_keep,
    hint_text="Count the tokens of the whole templated conversation (role markers included), not of the answer "
              "alone. In transformers 5 `apply_chat_template(..., tokenize=True)` returns a dict (a BatchEncoding): "
              "its `['input_ids']` are the tokens. A row of exactly max_length tokens is not cut.",
    solution_text='''
def keep(row, tokenizer, max_length) -> bool:
    ids = tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True)["input_ids"]
    return len(ids) <= max_length  # exactly max_length tokens: nothing is cut

# dataset = dataset.filter(keep, fn_kwargs={"tokenizer": tokenizer, "max_length": profile.sft.max_length})
nb02.keep_untruncated.check(keep)
''',
)


# ---------------------------------------------------------------------------------------- nb03: replay_mix

REPLAY_SHARE = 0.1
MIX_TASK_ROWS, MIX_GENERAL_ROWS = 1234, 600  # the general set holds more rows than a 10 % mix needs
Z_99 = 2.5758  # two-sided 99 % quantile of the normal distribution


def planted_sets():
    """(task, general): datasets.Dataset objects with `id`, `source` ('task' / 'general') and `text` columns."""
    from datasets import Dataset

    def planted(source: str, n: int):
        return Dataset.from_dict({"id": [f"{source}-{i}" for i in range(n)], "source": [source] * n,
                                  "text": [f"{source} row {i}" for i in range(n)]})

    return planted("task", MIX_TASK_ROWS), planted("general", MIX_GENERAL_ROWS)


def share_interval(n: int, share: float = REPLAY_SHARE) -> tuple[float, float]:
    """The 99 % interval of the general share among `n` rows each general with probability `share` (normal
    approximation of the binomial)."""
    half = Z_99 * math.sqrt(share * (1 - share) / n)
    return share - half, share + half


def _mix_type_problem(result) -> str | None:
    from datasets import Dataset, DatasetDict, IterableDataset

    if isinstance(result, Dataset):
        return None
    if isinstance(result, IterableDataset):
        return ("`mix` returned an IterableDataset (streaming): pass Dataset objects to `interleave_datasets` and "
                "return the `datasets.Dataset` it makes.")
    if isinstance(result, DatasetDict):
        return "`mix` returned a DatasetDict (splits); return one `datasets.Dataset`."
    return f"`mix` returned a {_type_name(result)}; return a `datasets.Dataset`."


def mix_problems(result, again) -> tuple[list[str], str]:
    """(problems, detail) of a mix of the planted sets; `again` is a second call's result."""
    n = len(result)
    sources, ids = result["source"], result["id"]
    general = sum(s == "general" for s in sources)
    share, (low, high) = general / n if n else 0.0, share_interval(max(n, 1))
    problems = []
    if general == 0:
        problems.append("there are no general rows in the result: replay mixes general rows into the task rows.")
    elif not low <= share <= high:
        problems.append(f"general rows are {share:.1%} of the result ({general} of {n}), not {REPLAY_SHARE:.0%} "
                        f"(99 % binomial interval for {n} rows: {low:.1%} to {high:.1%})."
                        + (" `interleave_datasets` without `probabilities` alternates the sets 1:1; pass "
                           "`probabilities=[0.9, 0.1]`." if abs(share - 0.5) < 0.05 else "")
                        + (" The probabilities follow the order of the datasets: task first, then general."
                           if abs(share - (1 - REPLAY_SHARE)) < 0.05 else ""))
    counts = Counter(ids)
    task_ids = [i for i in counts if i.startswith("task-")]
    repeated = {s: [i for i in counts if i.startswith(f"{s}-") and counts[i] > 1] for s in ("task", "general")}
    if repeated["task"]:
        drawn = sum(counts[i] for i in task_ids)
        problems.append(f"task rows repeated: {len(task_ids)} distinct task rows appear {drawn} times. With "
                        "`stopping_strategy='all_exhausted'` sampling goes on until every set is used up, cycling "
                        "through the task rows again; replay should add general rows, not repeat the task (keep the "
                        "default 'first_exhausted').")
    if repeated["general"]:
        problems.append(f"{len(repeated['general'])} general rows appear more than once; each should appear at "
                        "most once (the general set has more rows than the mix needs).")
    if len(task_ids) < MIX_TASK_ROWS:
        problems.append(f"only {len(task_ids)} of the {MIX_TASK_ROWS} task rows are in the mix: replay adds general "
                        "rows to the task rows, it should not drop any.")
    where = [k for k, s in enumerate(sources) if s == "general"]
    if general > 1 and where in (list(range(n - general, n)), list(range(general))):
        problems.append(f"the general rows are not mixed in: all {general} are at the "
                        f"{'end' if where[-1] == n - 1 else 'start'}; shuffle (with a seed) or interleave.")
    if ids != again["id"]:
        problems.append("two calls gave different mixes: pass a `seed` (e.g. `interleave_datasets(..., seed=0)` or "
                        "`.shuffle(seed=0)`) so that a run can be repeated.")
    detail = (f"{general} general rows in {n} ({share:.1%}; 99 % interval for {n} rows {low:.1%} to {high:.1%}), "
              f"each of the {MIX_TASK_ROWS} task rows once, the same mix on every call.")
    return problems, detail


def inspect_mix(mix) -> list[str] | Findings:
    """Call the learner's mix(task, general) twice on planted sets; measure the general share, repeats and drops."""
    problem = signature_problem(mix, "mix", ("task", "general"))
    if problem:
        return [problem]
    task, general = planted_sets()
    with learner_code("calling mix(task, general)"), _quiet():
        result = mix(task, general)
    problem = _mix_type_problem(result)
    if problem:
        return [problem]
    missing = [c for c in ("id", "source") if c not in result.column_names]
    if missing:
        return [(f"the result has no {' or '.join(f'`{c}`' for c in missing)} column: keep the rows' columns "
                 "(the check counts the general rows by `source` and the repeats by `id`).")]
    with learner_code("calling mix(task, general) a second time"), _quiet():
        again = mix(task, general)
    if _mix_type_problem(again) or "id" not in again.column_names:
        return ["a second call of `mix` returned something else than a Dataset with the rows' columns."]
    problems, detail = mix_problems(result, again)
    return problems or Findings(detail=detail)


replay_mix = CodeExercise(
    name="replay_mix",
    prompt="Write `mix(task, general) -> datasets.Dataset` that mixes general rows into the task rows for replay, "
           f"so that {REPLAY_SHARE:.0%} of the result is general text: e.g. `datasets.interleave_datasets` with "
           "probabilities 0.9 / 0.1 and a seed. Both inputs are `datasets.Dataset`s with the same columns; the task "
           "set is the one to go through once, the general set has more rows than needed. The check is about the "
           "mix itself: a 10 % share (within a 99 % binomial interval), every task row exactly once, no general row "
           "twice, general rows spread through the mix, and the same mix on every call; a concatenation of the right "
           "number of general rows, shuffled with a seed, passes too. Then: `nb03.replay_mix.check(mix)`.",
    inspect=inspect_mix,
    hint_text="`interleave_datasets([task, general], probabilities=[0.9, 0.1], seed=0)`; its default "
              "`stopping_strategy='first_exhausted'` ends the mix when the task rows run out, which is what replay "
              "wants here.",
    solution_text='''
from datasets import interleave_datasets

def mix(task, general):
    # draw a task row with probability 0.9, a general one with 0.1, until the task rows run out (first_exhausted)
    return interleave_datasets([task, general], probabilities=[0.9, 0.1], seed=0)

nb03.replay_mix.check(mix)
''',
)


# ---------------------------------------------------------------------------------------- nb04: fits_24gb

CARD_BYTES = 24 * 2**30
ASKED_SEQ_LEN = 512


def inspect_setup(setup) -> list[str] | Findings:
    """Check the learner's TrainSetup against the question, then ftlab's memory predictor against 24 GiB."""
    from ftlab.core.memory import estimate, gib
    from ftlab.core.settings import TrainSetup

    if isinstance(setup, dict):
        return ["got a dict; build the setup object: `TrainSetup(**your_dict)` (ftlab.core.settings)."]
    if not isinstance(setup, TrainSetup):
        return [f"expected an `ftlab.core.settings.TrainSetup`, got a {_type_name(setup)}."]
    problems = []
    if setup.device != "cuda":
        default = TrainSetup.__dataclass_fields__["device"].default
        problems.append(f"device is '{setup.device}'" + (" (TrainSetup's default)" if setup.device == default else "")
                        + ": the question is about a CUDA GPU; set `device='cuda'`.")
    if setup.seq_len < ASKED_SEQ_LEN:
        problems.append(f"seq_len {setup.seq_len} is shorter than the {ASKED_SEQ_LEN} tokens asked.")
    if setup.shards != 1:
        problems.append(f"shards={setup.shards} splits weights, gradients and optimizer states over {setup.shards} "
                        "GPUs (the estimate is per GPU); the question is about one 24 GiB card: `shards=1`.")
    if problems:
        return problems
    try:
        prediction = estimate(SEVEN_B, setup)
    except ValueError as err:  # methods the predictor does not model
        return [f"ftlab's predictor cannot estimate this setup ({err})."]
    parts = sorted(((k, v) for k, v in prediction.breakdown.items() if v), key=lambda kv: -kv[1])
    (top, top_bytes), total = parts[0], prediction.total
    largest = f"the largest part is {top.replace('_', ' ')}, {gib(top_bytes)} ({top_bytes / total:.0%})"
    if total > CARD_BYTES:
        return [f"ftlab predicts a peak of {gib(total)} ({prediction.peak_phase}), over the 24 GiB card; {largest}."]
    rest = ", ".join(f"{k.replace('_', ' ')} {gib(v)}" for k, v in parts[1:3])
    return Findings(detail=f"Predicted peak {gib(total)} of 24 GiB ({prediction.peak_phase}); {largest}, then "
                           f"{rest}.")


fits_24gb = CodeExercise(
    name="fits_24gb",
    prompt=f"Write a `ftlab.core.settings.TrainSetup` for fine-tuning Llama-2-7B (ftlab's config `'{SEVEN_B}'`) at "
           f"batch 1 x {ASKED_SEQ_LEN} tokens on one CUDA GPU that ftlab's memory predictor "
           f"(`ftlab.core.memory.estimate('{SEVEN_B}', setup).total`) says fits a 24 GiB card. Then: "
           "`nb04.fits_24gb.check(setup)`.",
    inspect=inspect_setup,
    hint_text="Full fine-tuning holds gradients and two AdamW states per parameter: far over 24 GiB for 6.7 B "
              "parameters. Freeze the base (method 'lora' or 'qlora') and keep its weights in bf16 or 4-bit; "
              "`estimate(...).breakdown` shows what holds the memory.",
    solution_text=f'''
from ftlab.core.memory import estimate
from ftlab.core.settings import TrainSetup

setup = TrainSetup(method="lora", precision="bf16", batch_size=1, seq_len={ASKED_SEQ_LEN}, device="cuda")
print(estimate("{SEVEN_B}", setup).total / 2**30, "GiB")  # the frozen bf16 weights dominate
nb04.fits_24gb.check(setup)
''',
)


# ------------------------------------------------------------------------------------ nb05: lora_attention

LORA_RANK = 4
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


def expected_lora_parameters(model, rank: int = LORA_RANK) -> int:
    """r x (in_features + out_features) summed over every layer's attention projections, from the model's own
    Linear modules: LoRA's A (r x in) and B (out x r)."""
    import torch

    return sum(rank * (m.in_features + m.out_features) for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] in ATTENTION)


def _lora_type_problem(config) -> str | None:
    from peft import LoraConfig

    from ftlab.core.settings import PeftOptions

    if isinstance(config, LoraConfig):
        return None
    if isinstance(config, dict):
        return "got a dict; build the config object: `peft.LoraConfig(r=..., target_modules=[...], ...)`."
    if isinstance(config, PeftOptions):
        return "got ftlab's `PeftOptions`; the exercise asks for peft's own `LoraConfig`."
    return f"expected a `peft.LoraConfig`, got a {_type_name(config)}."


def adapted_modules(peft_model) -> Counter:
    """How many modules of each kind (q_proj, up_proj, ...) carry LoRA matrices."""
    from peft.tuners.lora import LoraLayer

    return Counter(name.rsplit(".", 1)[-1] for name, m in peft_model.named_modules() if isinstance(m, LoraLayer))


def inspect_lora(config) -> list[str] | Findings:
    """Apply the learner's LoraConfig to a fresh base; compare what became trainable with the asked adapters."""
    from peft import LoraConfig, get_peft_model

    problem = _lora_type_problem(config)
    if problem:
        return [problem]
    problems = []
    task = str(getattr(config.task_type, "value", config.task_type))
    if task != "CAUSAL_LM":
        said = "not set" if config.task_type is None else f"{task!r}"
        problems.append(f"`task_type` is {said}, not 'CAUSAL_LM' (the base is a causal language model; peft then "
                        "wraps it in PeftModelForCausalLM). The modules below are measured as if it were.")
    if config.r != LORA_RANK:
        default = LoraConfig.__dataclass_fields__["r"].default
        problems.append(f"the rank is r={config.r}" + (" (LoraConfig's default)" if config.r == default else "")
                        + f", not {LORA_RANK}.")
    model, _ = fresh_base()
    expected, total = expected_lora_parameters(model), sum(p.numel() for p in model.parameters())
    layers = model.config.num_hidden_layers
    applied = copy.deepcopy(config)  # get_peft_model writes into its config
    applied.task_type = "CAUSAL_LM"
    with learner_code("applying your LoraConfig to a fresh base with `peft.get_peft_model`"), _quiet():
        peft_model = get_peft_model(model, applied)
    kinds = adapted_modules(peft_model)
    mlp = [k for k in MLP if kinds[k]]
    other = sorted(k for k in kinds if k not in ATTENTION + MLP)
    missing = [k for k in ATTENTION if not kinds[k]]
    partial = [k for k in ATTENTION if 0 < kinds[k] < layers]
    if mlp:
        problems.append(f"it adapts MLP projections too ({', '.join(mlp)}); the question asks for the attention "
                        "projections only.")
    if other:
        problems.append(f"it adapts other modules too ({', '.join(other)}); the question asks for the attention "
                        "projections only.")
    if missing:
        problems.append(f"attention projection(s) {', '.join(missing)} not adapted: target all four of "
                        f"{', '.join(ATTENTION)}.")
    if partial:
        problems.append(f"{', '.join(partial)} adapted in only some of the {layers} layers (`layers_to_transform`?); "
                        "adapt every layer.")
    outside = [name for name, p in peft_model.named_parameters() if p.requires_grad and "lora_" not in name]
    if outside:
        count = sum(p.numel() for name, p in peft_model.named_parameters() if name in set(outside))
        problems.append(f"{count:,} trainable parameters outside the LoRA matrices ({', '.join(outside[:3])}"
                        f"{', ...' if len(outside) > 3 else ''}): `modules_to_save`, `trainable_token_indices` or "
                        "`bias` train base weights too; the question asks for LoRA only.")
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    if trainable != expected:
        problems.append(f"`get_peft_model` makes {trainable:,} parameters trainable; rank {LORA_RANK} on the "
                        f"attention projections of all {layers} layers is {expected:,} "
                        f"(r x (in + out) per projection).")
    if problems:
        return problems
    return Findings(detail=f"{trainable:,} trainable parameters = {LORA_RANK} x (in + out) over "
                           f"{sum(kinds.values())} attention projections, {trainable / total:.2%} of the base's "
                           f"{total:,}.")


lora_attention = CodeExercise(
    name="lora_attention",
    prompt=f"Write a `peft.LoraConfig` that adapts only the attention projections ({', '.join(ATTENTION)}) of every "
           f"layer, at rank {LORA_RANK}, for a causal language model (`task_type='CAUSAL_LM'`). The check applies it "
           "to a fresh copy of the course's base with `peft.get_peft_model` and counts what became trainable. Then: "
           "`nb05.lora_attention.check(config)`.",
    inspect=inspect_lora,
    hint_text="`LoraConfig(r=..., target_modules=[...], task_type=...)`; `print(model)` shows the module names. "
              "Each adapted Linear(in, out) gets A (r x in) and B (out x r): r x (in + out) trainable parameters.",
    solution_text=f'''
from peft import LoraConfig

config = LoraConfig(r={LORA_RANK}, target_modules={list(ATTENTION)!r}, task_type="CAUSAL_LM")
nb05.lora_attention.check(config)
''',
)


# ---------------------------------------------------------------------------------- nb06: sql_by_execution

SQL_SPLIT, SQL_TASK = "test_unseen_elements", "filter_two"  # a WHERE with two conditions, several rows


@lru_cache(maxsize=1)
def sql_question() -> dict:
    """The first row of the domain test split (unseen elements) whose template family is SQL_TASK."""
    from ftlab.core.sql import load_domain

    return next(row for row in load_domain(SQL_SPLIT) if row["task"] == SQL_TASK)


@lru_cache(maxsize=1)
def sql_schema() -> str:
    """The sandbox database's CREATE TABLE statements, read through ftlab's read-only executor."""
    from ftlab.core.sql import execute

    result = execute("select sql from sqlite_master where type = 'table' order by name")
    if not result.ok:
        raise RuntimeError(f"cannot read the sandbox database's schema: {result.error}")
    return ";\n".join(row[0] for row in result.rows) + ";"


def _first_difference(got: tuple, want: tuple, ordered: bool) -> str:
    """The first row that differs between two results: by position when order matters, else as multisets."""
    if ordered:
        for k, (g, w) in enumerate(zip(got, want), 1):
            if g != w:
                return f"row {k} is {g!r} in yours, {w!r} in the answer"
        return ""
    extra, lacking = Counter(got) - Counter(want), Counter(want) - Counter(got)
    first_extra = next((row for row in got if row in extra), None)
    first_lacking = next((row for row in want if row in lacking), None)
    if first_extra is not None:
        return f"yours has {first_extra!r}, which the answer does not"
    return f"the answer has {first_lacking!r}, which yours lacks" if first_lacking is not None else ""


def inspect_sql(sql) -> list[str] | Findings:
    """Execute the learner's query and the gold one in ftlab's sandbox; compare their rows."""
    from ftlab.core.sql import check_statement, execute, is_ordered, same_result

    if not isinstance(sql, str):
        return [f"expected the query as a string (`\"select ...\"`), got a {_type_name(sql)}."]
    refused = check_statement(sql)
    if refused:
        return [f"ftlab's sandbox refuses it: {refused}."]
    gold_sql = sql_question()["answer"]
    gold = execute(gold_sql)
    if not gold.ok:
        raise RuntimeError(f"the gold query does not run ({gold.error}): {gold_sql}")
    got = execute(sql)
    if not got.ok:
        return [f"SQLite could not run it: {got.error}."]
    ordered = is_ordered(gold_sql)
    if same_result(got, gold, ordered):
        return Findings(detail=f"It returns the answer's {len(gold.rows)} row(s)"
                               + (", in order." if ordered else " (order not part of the answer)."))
    problems = []
    if got.rows and len(got.columns) != len(gold.columns):
        problems.append(f"your rows have {len(got.columns)} column(s) ({', '.join(got.columns)}), the answer's "
                        f"{len(gold.columns)} ({', '.join(gold.columns)}).")
    first = _first_difference(got.rows, gold.rows, ordered)
    counts = (f"your query returned {len(got.rows)} row(s), the answer has {len(gold.rows)}"
              if len(got.rows) != len(gold.rows) else f"your query returned {len(got.rows)} row(s), as many as the "
              "answer, but not the same")
    problems.append(counts + (f"; first difference: {first}." if first else "."))
    return problems


def _sql_prompt() -> str:
    row = sql_question()
    return (f"Write one SQLite query (a Python string) that answers this question on the sandbox database "
            f"(`ftlab.core.sql.DB_PATH`): **{row['question']}**\n\nIts schema:\n\n```sql\n{sql_schema()}\n```\n\n"
            "The check executes it read-only (`ftlab.core.sql.execute`) and compares its rows with the answer's, as "
            "notebook 06 scores the models. Then: `nb06.sql_by_execution.check(query)`.")


sql_by_execution = CodeExercise(
    name="sql_by_execution",
    prompt=_sql_prompt,
    inspect=inspect_sql,
    hint_text="One SELECT on the `elements` table with both conditions in the WHERE clause, joined by AND; select "
              "only the column the question asks for. `ftlab.core.sql.execute(query).rows` shows what it returns.",
    solution_text=lambda: f'''
from ftlab.core.sql import execute

query = {sql_question()["answer"]!r}
print(execute(query).rows)
nb06.sql_by_execution.check(query)
''',
)


# -------------------------------------------------------------------------------------------- nb07: dpo_pair

PAIR_KEYS = ("prompt", "chosen", "rejected")


def dpo_row() -> dict:
    """The first test row of the course data (notebook 01's test split): a question with a checkable answer."""
    return course_rows("test")[0]


def _messages_problem(key: str, value: Any) -> str | None:
    """Why `value` is not a list of {'role', 'content'} messages with text content, or None."""
    if isinstance(value, str):
        return (f"`{key}` is a plain string (TRL's standard format); the conversational format wraps it in a list "
                f"of messages: `[{{'role': ..., 'content': ...}}]`.")
    if not isinstance(value, list) or not value:
        return f"`{key}` must be a non-empty list of messages, got {_type_name(value)}."
    for message in value:
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            return f"`{key}` holds {str(message)[:60]!r}; each message is a dict with 'role' and 'content' only."
        if not isinstance(message["content"], str) or not message["content"].strip():
            return f"`{key}` has a message whose content is not non-empty text."
    return None


def _roles_problems(pair: dict) -> list[str]:
    problems = []
    roles = {key: [m["role"] for m in pair[key]] for key in PAIR_KEYS}
    if roles["prompt"] != ["user"]:
        problems.append(f"`prompt` has roles {roles['prompt']}; it holds the user's question only: "
                        "`[{'role': 'user', 'content': question}]`.")
    for key in ("chosen", "rejected"):
        if roles[key] == ["user"]:
            problems.append(f"`{key}` is a 'user' message; the reply's role is 'assistant'.")
        elif "user" in roles[key] or "system" in roles[key]:
            problems.append(f"`{key}` repeats the prompt (roles {roles[key]}): in the conversational preference "
                            f"format `{key}` holds only the assistant's reply; TRL puts the prompt in front of it.")
        elif roles[key] != ["assistant"]:
            problems.append(f"`{key}` has roles {roles[key]}; it is one reply: `[{{'role': 'assistant', "
                            "'content': ...}]`.")
    return problems


def _answers_problems(pair: dict, row: dict) -> list[str]:
    from ftlab.core.evaluate import normalize

    question = " ".join(row["messages"][0]["content"].split())
    chosen, rejected = pair["chosen"][-1]["content"], pair["rejected"][-1]["content"]
    problems = []
    if " ".join(pair["prompt"][-1]["content"].split()) != question:
        problems.append("the prompt's user message is not the question of this exercise (instruction and passage, "
                        "as shown in the prompt above).")
    if normalize(chosen) != normalize(row["answer"]):
        problems.append(f"`chosen` ({chosen[:60]!r}) is not the right answer to the question, by exact match after "
                        "`ftlab.core.evaluate.normalize` (as notebook 07 scores answers).")
    if normalize(rejected) == normalize(row["answer"]):
        problems.append("`rejected` is the right answer too: DPO would push a correct answer down.")
    elif normalize(chosen) == normalize(rejected):
        problems.append("`chosen` and `rejected` are the same answer: the pair teaches nothing.")
    return problems


def _template_problems(pair: dict, tokenizer) -> tuple[list[str], dict[str, int]]:
    """Render prompt + chosen and prompt + rejected with the base's chat template, as TRL does; the templated
    prompt must come first in both. Returns (problems, tokens per part)."""
    from jinja2 import TemplateError

    prompt = tokenizer.apply_chat_template(pair["prompt"], tokenize=True, add_generation_prompt=True,
                                           return_dict=True)["input_ids"]
    counts, problems = {"prompt": len(prompt)}, []
    for key in ("chosen", "rejected"):
        try:
            full = tokenizer.apply_chat_template(pair["prompt"] + pair[key], tokenize=True,
                                                 return_dict=True)["input_ids"]
        except (TemplateError, TypeError, ValueError) as err:  # the template's error names what it could not render
            problems.append(f"the chat template cannot render prompt + {key}: {type(err).__name__}: {err}.")
            continue
        if full[:len(prompt)] != prompt:
            problems.append(f"prompt + {key} does not start with the templated prompt, so TRL cannot split it.")
        counts[key] = len(full) - len(prompt)
    return problems, counts


def inspect_pair(pair) -> list[str] | Findings:
    """Check the learner's preference pair's structure, roles and answers, then render it with the chat template."""
    if not isinstance(pair, dict):
        return [f"expected a dict with keys {', '.join(PAIR_KEYS)}, got a {_type_name(pair)}."]
    missing, extra = [k for k in PAIR_KEYS if k not in pair], sorted(str(k) for k in pair if k not in PAIR_KEYS)
    if missing or extra:
        return [f"the pair's keys must be exactly {', '.join(PAIR_KEYS)}"
                + (f"; missing: {', '.join(missing)}" if missing else "")
                + (f"; not expected: {', '.join(extra)}" if extra else "") + "."]
    shape = [p for p in (_messages_problem(k, pair[k]) for k in PAIR_KEYS) if p]
    if shape:
        return shape
    problems = _roles_problems(pair)
    if problems:
        return problems
    problems = _answers_problems(pair, dpo_row())
    template_problems, counts = _template_problems(pair, fresh_tokenizer())
    problems += template_problems
    if problems:
        return problems
    return Findings(detail=f"The {active().model} base's chat template renders it: a {counts['prompt']}-token prompt, "
                           f"then {counts['chosen']} tokens of chosen or {counts['rejected']} of rejected reply.")


def _pair_prompt() -> str:
    question = "\n".join(f"> {line}" for line in dpo_row()["messages"][0]["content"].splitlines())
    return ("Write one preference pair for DPO, in TRL's conversational format: a dict "
            "`{'prompt': [user message], 'chosen': [assistant message], 'rejected': [assistant message]}`, for this "
            f"question (the first test row of notebook 01's data):\n\n{question}\n\n`chosen` is the right answer, "
            "exactly; `rejected` a worse one. Then: `nb07.dpo_pair.check(pair)`.")


def _pair_solution() -> str:
    from ftlab.core.preferences import rambling

    row = dpo_row()
    return f'''
question = {row["messages"][0]["content"]!r}
pair = {{
    "prompt": [{{"role": "user", "content": question}}],
    "chosen": [{{"role": "assistant", "content": {row["answer"]!r}}}],  # the exact answer
    "rejected": [{{"role": "assistant", "content": {rambling(row)!r}}}],  # right, but does not stop
}}
nb07.dpo_pair.check(pair)
'''


dpo_pair = CodeExercise(
    name="dpo_pair",
    prompt=_pair_prompt,
    inspect=inspect_pair,
    hint_text="In the conversational preference format the prompt is a list with the user's message, and chosen "
              "and rejected are lists with one assistant message each; the prompt is not repeated in them. The "
              "answer is in the passage; notebook 07's pair kinds (`ftlab.core.preferences`) show worse answers.",
    solution_text=_pair_solution,
)


# ---------------------------------------------------------------------------------------- nb08: narrow_set

NARROW_TASK, NARROW_SIZE = "quote", 120  # what the check asks for; the course rows hold more `quote` rows than that


def _row_key(row: Any) -> str:
    """A row's identity for the check: its conversation (rows are dicts; the learner may copy them)."""
    return repr(row.get("messages")) if isinstance(row, dict) else repr(row)


def inspect_narrow_set(narrow_set) -> list[str] | Findings:
    """Call the learner's narrow_set(rows, task, size) on the course's training rows: once with a size the task can
    fill (exactly `size` distinct rows of `task`, all from `rows`), once with more than the task holds (ValueError)."""
    problem = signature_problem(narrow_set, "narrow_set", ("rows", "task", "size"))
    if problem:
        return [problem]
    rows = course_rows("train")
    given = {_row_key(r) for r in rows}
    available = sum(r["task"] == NARROW_TASK for r in rows)
    with learner_code(f"calling narrow_set(rows, {NARROW_TASK!r}, {NARROW_SIZE})"):
        got = narrow_set([dict(r) for r in rows], NARROW_TASK, NARROW_SIZE)
    if not isinstance(got, list):
        return [f"`narrow_set` returned {_shown(got)}, not a list of rows."]
    problems = []
    if len(got) != NARROW_SIZE:
        problems.append(f"returned {len(got)} rows for size={NARROW_SIZE}: the task-specific set must have the broad "
                        "set's size, or breadth is not the only difference between the two runs.")
    other = Counter(r.get("task") if isinstance(r, dict) else type(r).__name__ for r in got
                    if not (isinstance(r, dict) and r.get("task") == NARROW_TASK))
    if other:
        problems.append(f"{sum(other.values())} of the rows are not {NARROW_TASK!r} rows (e.g. "
                        f"{other.most_common(1)[0][0]!r}): keep only `row['task'] == task`.")
    keys = [_row_key(r) for r in got]
    if len(set(keys)) < len(keys):
        problems.append(f"{len(keys) - len(set(keys))} rows appear more than once: a repeated row is one example "
                        "trained twice, so the set holds fewer distinct examples than its size says.")
    if any(k not in given for k in keys):
        problems.append("some rows are not among the `rows` given: take them from `rows`, unchanged.")
    too_many = available + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            short = narrow_set([dict(r) for r in rows], NARROW_TASK, too_many)
    except ValueError:
        short = None
    except Exception as e:  # noqa: BLE001  (any other error is the answer's problem, named)
        problems.append(f"asked for {too_many} rows of a task that has {available}, it raised "
                        f"{type(e).__name__} instead of ValueError.")
        short = None
    if short is not None:
        problems.append(f"asked for {too_many} {NARROW_TASK!r} rows where there are {available}, it returned "
                        f"{len(short) if isinstance(short, list) else _shown(short)} without an error: raise "
                        "ValueError, so that a smaller set is never compared with the broad one by mistake.")
    if problems:
        return problems
    return Findings(detail=f"{NARROW_SIZE} distinct {NARROW_TASK!r} rows out of the {available} there are, and a "
                           f"ValueError when asked for {too_many}.")


narrow_set = CodeExercise(
    name="narrow_set",
    prompt=("Write `narrow_set(rows, task, size) -> list` that returns `size` rows of one task from `rows` (chat rows, "
            "each with a `'task'` key): the task-specific training set of notebook 08, which must have the broad "
            "set's size. Each row at most once, unchanged; when `rows` holds fewer than `size` rows of `task`, raise "
            "`ValueError`. The check calls it on the course's training rows. "
            "Then: `nb08.narrow_set.check(narrow_set)`."),
    inspect=inspect_narrow_set,
    hint_text="Filter with `row['task'] == task`, count what is there before slicing, and slice the first `size`. "
              "`data_breadth.training_sets` does the same with `load_instructions(..., limit_per_task=...)`.",
    solution_text='''
def narrow_set(rows, task, size):
    mine = [row for row in rows if row["task"] == task]
    if len(mine) < size:
        raise ValueError(f"only {len(mine)} {task!r} rows, {size} asked for")
    return mine[:size]

nb08.narrow_set.check(narrow_set)
''',
)


# ---------------------------------------------------------------------------------------- nb09: with_answers

ANSWERED_ROWS = 6  # course rows the check hands to the learner's function


def inspect_with_answers(with_answers) -> list[str] | Findings:
    """Call the learner's with_answers(rows, answers) on a few course rows with made-up model answers: one row per
    row given, the assistant turn replaced by its answer, every other turn and the given rows unchanged; and a
    ValueError when the counts differ."""
    problem = signature_problem(with_answers, "with_answers", ("rows", "answers"))
    if problem:
        return [problem]
    rows = course_rows("train")[:ANSWERED_ROWS]
    answers = [f"model answer {i}" for i in range(len(rows))]
    given = copy.deepcopy(rows)
    with learner_code("calling with_answers(rows, answers)"):
        got = with_answers(given, list(answers))
    if not isinstance(got, list):
        return [f"`with_answers` returned {_shown(got)}, not a list of rows."]
    problems = []
    if given != rows:
        problems.append("it changed the rows it was given: copy each row (and its messages) before replacing the "
                        "answer, or the human-written set the other student trains on is lost.")
    if len(got) != len(rows):
        problems.append(f"returned {len(got)} rows for {len(rows)} rows and answers: one row per prompt.")
    for i, (row, answer, new) in enumerate(zip(rows, answers, got)):
        turns = new.get("messages") if isinstance(new, dict) else None
        if not isinstance(turns, list) or len(turns) != len(row["messages"]):
            problems.append(f"row {i + 1}: expected a dict whose 'messages' has the original {len(row['messages'])} "
                            f"turns, got {_shown(new)}.")
            break
        for old, turn in zip(row["messages"], turns):
            want = answer if old["role"] == "assistant" else old["content"]
            if not isinstance(turn, dict) or turn.get("role") != old["role"] or turn.get("content") != want:
                what = "the assistant turn must hold the model's answer" if old["role"] == "assistant" else \
                    f"the {old['role']} turn must stay as it was (only the answer changes)"
                problems.append(f"row {i + 1}: {what}; got {_shown(turn)}.")
                break
        else:
            continue
        break
    try:
        short = with_answers(copy.deepcopy(rows), answers[:-1])
    except ValueError:
        short = None
    except Exception as e:  # noqa: BLE001  (any other error is the answer's problem, named)
        problems.append(f"given {len(rows)} rows and {len(rows) - 1} answers, it raised {type(e).__name__} instead "
                        "of ValueError.")
        short = None
    if short is not None:
        problems.append(f"given {len(rows)} rows and {len(rows) - 1} answers, it returned without an error: raise "
                        "ValueError, or zip() silently drops the last row.")
    if problems:
        return problems
    return Findings(detail=f"{len(rows)} rows with the model's answers as the assistant turn, the prompts and the "
                           "given rows unchanged, and a ValueError when the counts differ.")


with_answers = CodeExercise(
    name="with_answers",
    prompt=("Write `with_answers(rows, answers) -> list` that returns copies of chat rows (each a dict with "
            "`'messages'`: a user turn, then an assistant turn) whose assistant turn holds the given answer instead, "
            "one answer per row, in order: notebook 09's model-written training set. Leave the rows given "
            "unchanged (the human-written set trains on them too) and raise `ValueError` when the numbers of rows "
            "and answers differ. Then: `nb09.with_answers.check(with_answers)`."),
    inspect=inspect_with_answers,
    hint_text="Build new dicts (`{**row, 'messages': [...]}`) and new turns (`{**turn, 'content': answer}`) instead of "
              "assigning into the old ones; `model_written.with_answers` does the same and keeps the human answer "
              "under another key.",
    solution_text='''
def with_answers(rows, answers):
    if len(rows) != len(answers):
        raise ValueError(f"{len(answers)} answers for {len(rows)} rows")
    return [{**row, "messages": [{**turn, "content": answer} if turn["role"] == "assistant" else turn
                                 for turn in row["messages"]]}
            for row, answer in zip(rows, answers)]

nb09.with_answers.check(with_answers)
''',
)


# ---------------------------------------------------------------------------------------- nb10: chat_prompt

PROMPTED_ROWS = 4  # test questions the check asks the learner's function to format


def inspect_chat_prompt(chat_prompt) -> list[str] | Findings:
    """Call the learner's chat_prompt(tokenizer, question) on a few test questions with the tiny model's tokenizer:
    the text must be exactly what the model was trained on up to where its answer starts (the chat template with
    the assistant's header), so that generation continues in the training format."""
    problem = signature_problem(chat_prompt, "chat_prompt", ("tokenizer", "question"))
    if problem:
        return [problem]
    _, tokenizer = load("tiny")
    problems = []
    for row in course_rows("test")[:PROMPTED_ROWS]:
        question = row["messages"][0]["content"]
        want = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                             add_generation_prompt=True)
        with learner_code("calling chat_prompt(tokenizer, question)"):
            got = chat_prompt(tokenizer, question)
        if not isinstance(got, str):
            problems.append(f"returned {_shown(got)}, not the prompt's text: ask the template for text "
                            "(tokenize=False).")
        elif got == want.removesuffix("<|im_start|>assistant\n"):
            problems.append("the prompt ends after the question: without add_generation_prompt=True there is no "
                            "assistant header, so the model does not know its answer starts here.")
        elif got.strip() == question.strip():
            problems.append("returned the bare question: the model was trained on conversations in its chat "
                            "template, and a prompt in another format is a test on another distribution.")
        elif got != want:
            problems.append(f"for {question[:40]!r}... expected {want!r}, got {got!r}: let the tokenizer's chat "
                            "template write the format instead of writing it by hand.")
        if problems:
            break
    if problems:
        return problems
    return Findings(detail=f"{PROMPTED_ROWS} prompts exactly as the model was trained on them, each ending with "
                           "the assistant's header.")


chat_prompt = CodeExercise(
    name="chat_prompt",
    prompt=("Write `chat_prompt(tokenizer, question) -> str` that returns the text to give a chat model so that it "
            "answers `question` in the format it was fine-tuned on: the tokenizer's own chat template, one user "
            "turn, up to where the assistant's answer begins. The check calls it with the tiny model's tokenizer. "
            "Then: `nb10.chat_prompt.check(chat_prompt)`."),
    inspect=inspect_chat_prompt,
    hint_text="`tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)` with "
              "messages = [{'role': 'user', 'content': question}].",
    solution_text='''
def chat_prompt(tokenizer, question):
    messages = [{"role": "user", "content": question}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

nb10.chat_prompt.check(chat_prompt)
''',
)
