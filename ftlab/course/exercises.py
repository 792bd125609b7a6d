"""The course's exercises: the source text's five practice questions plus at least one per notebook, and one code
exercise per notebook (ftlab.course.code_exercises).

Use in a notebook: `from ftlab.course.exercises import nb04; nb04.memory_methods.check((62.8, 15.3, 14.8))`, or
with code: `nb04.fits_24gb.check(TrainSetup(...))`.
Every numeric answer is computed by ftlab when it is checked (memory predictor, stored sweep, active profile,
6·N·T, EWC penalty, shingle Jaccard), so a change in ftlab or the profile changes the expected answer with it.
"""

from __future__ import annotations

from types import SimpleNamespace

from ftlab.core.lr_sweeps import load_sweep
from ftlab.core.memory import estimate
from ftlab.core.profiles import active
from ftlab.core.settings import TrainSetup
from ftlab.core.stages import sft_tokens, training_flops
from ftlab.course import code_exercises as code
from ftlab.course.code_exercises import SEVEN_B
from ftlab.course.quiz import CodeExercise, Question
from ftlab.lessons import data_breadth, failure_modes, model_written
from ftlab.lessons.alignment import PairLogprobs, preference_metrics
from ftlab.lessons.curation import jaccard, shingles
from ftlab.lessons.forgetting import EWC, STARS, ewc_penalty

GIB = 2**30


# Practice question 1 asks about a 7B model (SEVEN_B, shared with the code exercise fits_24gb) at one sequence on a
# GPU in bf16 with AdamW.


def _setup(method: str):
    return TrainSetup(method=method, precision="bf16", batch_size=1, seq_len=512, device="cuda")


def peaks_7b_gib() -> tuple[float, float, float]:
    """Predicted peak (GiB) of full fine-tuning, LoRA and prompt tuning of Llama-2-7B, bf16, AdamW, 1 x 512."""
    return tuple(estimate(SEVEN_B, _setup(m)).total / GIB for m in ("full", "lora", "prompt"))


def static_full_gb() -> float:
    """Weights + gradients + AdamW states of full bf16 fine-tuning of Llama-2-7B, in GB (10^9 bytes)."""
    parts = estimate(SEVEN_B, _setup("full")).breakdown
    return (parts["weights"] + parts["gradients"] + parts["optimizer_states"]) / 1e9


def best_learning_rates() -> dict[str, float]:
    """The learning rate with the lowest validation loss per method, from the active profile's stored sweep
    (bench/peft_lr_sweep.py), the one notebook 05 shows."""
    return load_sweep(active().name)["best"]


def lora_to_full_lr_ratio() -> float:
    best = best_learning_rates()
    return best["lora"] / best["full"]


def sft_epochs() -> float:
    """Passes over its training set that notebook 01's SFT run makes on the active profile."""
    p = active()
    if p.sft.max_steps is None or p.sft.max_steps <= 0:
        return float(p.sft.epochs)
    return p.sft.max_steps * p.sft.effective_batch / (p.sft_train_per_task * len(p.sft_tasks))


def small_data_epochs() -> float:
    """Passes over its <100 rows that notebook 06's small-data specialist makes on the active profile."""
    p = active()
    return p.domain_steps * p.sft.effective_batch / p.domain_small_train


def sft_flops_8b() -> float:
    """6·N·T for SFT of an 8 B model on 10,000 pairs x 512 tokens x 3 epochs."""
    return training_flops(8.0e9, sft_tokens(10_000))


EWC_EXAMPLE = {"fisher": [2.0, 0.5], "theta": [1.0, 3.0], "anchor": [0.5, 1.0], "lam": 10.0}


def breadth_epochs() -> float:
    """Passes over its training set that each run of notebook 08 makes on the active profile."""
    profile = active()
    sets = data_breadth.training_sets(profile)
    return data_breadth.steps(profile) * profile.sft.effective_batch / len(sets[data_breadth.TASK_ARM])


def student_rows_per_task() -> float:
    """Training prompts per task of each student in notebook 09 on the active profile."""
    return model_written.rows_per_task(active())


def few_example_passes() -> float:
    """Times each row of notebook 10's few-examples set is seen in its run on the active profile."""
    profile = active()
    few = failure_modes.training_sets(profile)[failure_modes.FEW_EXAMPLES]
    return failure_modes.steps(profile) * profile.sft.effective_batch / len(few)


def ewc_example_penalty() -> float:
    """ftlab.lessons.forgetting.ewc_penalty on EWC_EXAMPLE's two weights."""
    import torch

    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([EWC_EXAMPLE["theta"]]))
    ewc = EWC({"weight": torch.tensor([EWC_EXAMPLE["fisher"]])}, {"weight": torch.tensor([EWC_EXAMPLE["anchor"]])},
              EWC_EXAMPLE["lam"])
    return float(ewc_penalty(model, ewc).detach())


NEAR_DUP_PAIR = (
    {"messages": [{"role": "user", "content": "What is the capital of France?"},
                  {"role": "assistant", "content": "Paris is the capital of France."}]},
    {"messages": [{"role": "user", "content": "What's the capital of France?"},
                  {"role": "assistant", "content": "Paris is the capital of France."}]},
)


def near_dup_jaccard() -> float:
    """Jaccard similarity of NEAR_DUP_PAIR's character 5-gram shingles, as notebook 02's near-dedup measures it."""
    return jaccard(shingles(NEAR_DUP_PAIR[0]), shingles(NEAR_DUP_PAIR[1]))


def top_rated_mitigations() -> set[str]:
    """The mitigations the source text rates highest (ftlab.lessons.forgetting.STARS)."""
    top = max(STARS.values())
    return {arm for arm, stars in STARS.items() if stars == top}


DPO_EXAMPLE = {"beta": 0.1, "policy": (-4.0, -9.0), "reference": (-5.0, -6.0)}  # log p(chosen), log p(rejected)


def dpo_example_reward_margin() -> float:
    """ftlab.lessons.alignment.preference_metrics' implied reward margin for DPO_EXAMPLE's one pair."""
    import torch

    policy, reference = (PairLogprobs(torch.tensor([c]), torch.tensor([r]))
                         for c, r in (DPO_EXAMPLE["policy"], DPO_EXAMPLE["reference"]))
    return preference_metrics(policy, reference, DPO_EXAMPLE["beta"])["reward_margin"]


nb00 = SimpleNamespace(
    stage_flops=Question(
        name="stage_flops",
        prompt="How many training FLOPs does SFT of an 8 B-parameter model take on 10,000 pairs x 512 tokens x "
               "3 epochs? Use the 6·N·T rule (one number, in FLOPs, e.g. 1.2e18).",
        expected=sft_flops_8b,
        hint_text="T = pairs x tokens per pair x epochs; forward is 2·N per token, backward 4·N.",
        solution_text="6 x 8e9 x (10,000 x 512 x 3) = {expected} FLOPs: `ftlab.core.stages.training_flops(8e9, "
                      "ftlab.core.stages.sft_tokens(10_000))`. On an H100 at 40 % MFU that is minutes, not months.",
    ),
    perplexity_fn=code.perplexity_fn,
)


nb01 = SimpleNamespace(
    task_vs_instruction=Question(
        name="task_vs_instruction (practice question 4)",
        prompt="Which statements about task-specific fine-tuning versus instruction tuning are true?",
        kind="choice",
        options={
            "a": "Task-specific tuning trains on one task's format and makes the model good at that task only.",
            "b": "Instruction tuning trains on many tasks phrased as instructions, so the model follows new ones.",
            "c": "Instruction tuning needs no labelled responses: the prompts alone are enough.",
            "d": "A task-specific model usually beats a general instruction model on its own task at equal size.",
            "e": "Instruction tuning and task-specific tuning use different loss functions.",
        },
        expected=lambda: {"a", "b", "d"},
        hint_text="Both are supervised next-token training on (prompt, response) pairs; what differs is the data.",
        solution_text="{expected}. Same loss (cross-entropy on the response), different data: one task vs many "
                      "tasks as instructions. Notebook 01 instruction-tunes; notebook 06 measures a specialist.",
    ),
    sft_epochs=Question(
        name="sft_epochs",
        prompt="On the active profile, how many passes (epochs) over its training examples does notebook 01's "
               "SFT run make? (steps x effective batch / training examples)",
        expected=sft_epochs,
        hint_text="`profile = ftlab.core.profiles.active()`; look at profile.sft.max_steps, profile.sft.effective_batch, "
                  "profile.sft_train_per_task and profile.sft_tasks.",
        solution_text="{expected} epochs: max_steps x effective_batch / (sft_train_per_task x number of tasks).",
        rel_tol=0.01,
    ),
    assistant_only_config=code.assistant_only_config,
)


nb02 = SimpleNamespace(
    near_dup=Question(
        name="near_dup",
        prompt="Notebook 02 calls two rows near-duplicates when the Jaccard similarity of their character 5-gram "
               "shingles is at least 0.75. What is it for ftlab.course.exercises.NEAR_DUP_PAIR ('What is' vs "
               "'What's')?",
        expected=near_dup_jaccard,
        hint_text="`from ftlab.lessons.curation import shingles, jaccard`; jaccard(shingles(a), shingles(b)).",
        solution_text="{expected}: above 0.75, so near_dedup keeps only one of the two rows.",
        rel_tol=0.01,
    ),
    keep_untruncated=code.keep_untruncated,
)


nb03 = SimpleNamespace(
    forgetting=Question(
        name="forgetting (practice question 3)",
        prompt="Catastrophic forgetting: fine-tuning on a narrow task erodes general ability. Which mitigations "
               "does the source text rate highest (four stars)?",
        kind="choice",
        options={"lora": "LoRA (base weights frozen)", "replay": "replay of general data",
                 "ewc": "EWC (penalise moving important weights)", "low_lr": "a lower learning rate",
                 "short": "shorter fine-tuning"},
        expected=top_rated_mitigations,
        hint_text="ftlab.lessons.forgetting.STARS holds the ratings; notebook 03 measures all five.",
        solution_text="{expected}. LoRA cannot move the base weights at all; replay keeps training on the old "
                      "distribution. Notebook 03 checks whether the measured forgetting agrees with the stars.",
    ),
    ewc_penalty=Question(
        name="ewc_penalty",
        prompt="EWC adds lambda/2 · sum_i F_i (theta_i - theta*_i)^2 to the loss. What is it for "
               "ftlab.course.exercises.EWC_EXAMPLE (F = [2, 0.5], theta = [1, 3], theta* = [0.5, 1], lambda = 10)?",
        expected=ewc_example_penalty,
        hint_text="Weight each squared move by its Fisher value, sum, then multiply by lambda/2.",
        solution_text="{expected} (= 10/2 x (2 x 0.25 + 0.5 x 4)). The weight with the larger Fisher value moved "
                      "less but costs as much per unit moved squared: EWC protects what the old task needed.",
        rel_tol=0.001,
    ),
    replay_mix=code.replay_mix,
)


nb04 = SimpleNamespace(
    memory_methods=Question(
        name="memory_methods (practice question 1)",
        prompt="Predicted peak training memory of Llama-2-7B in bf16 with AdamW, batch 1, 512 tokens, on a GPU: "
               "full fine-tuning, LoRA (r=8) and prompt tuning, in GiB (three numbers, in that order).",
        expected=peaks_7b_gib,
        hint_text="`ftlab.core.memory.estimate('llama-2-7b', TrainSetup(method=..., precision='bf16', batch_size=1, "
                  "seq_len=512, device='cuda')).total / 2**30`, or the calculator widget.",
        solution_text="{expected} GiB. Full fine-tuning holds weights, gradients and two AdamW states for every "
                      "parameter (plus the optimizer step's temporaries); LoRA and prompt tuning hold the frozen "
                      "weights and a tiny trainable part, so activations dominate what is left.",
        rel_tol=0.05,
    ),
    static_full=Question(
        name="static_full",
        prompt="The source text's practice answer says full fine-tuning of a 7B model needs ~56 GB = 14 weights + "
               "14 gradients + 28 Adam. What does ftlab's predictor give for weights + gradients + optimizer "
               "states of Llama-2-7B in bf16, in GB (10^9 bytes)?",
        expected=static_full_gb,
        hint_text="Sum three entries of `estimate(...).breakdown` for method='full', precision='bf16'.",
        solution_text="{expected} GB: Llama-2-7B has 6.74 B parameters, not 7 B, so slightly under 56 GB; the "
                      "activations and the optimizer step's temporaries come on top.",
        rel_tol=0.03,
    ),
    fits_24gb=code.fits_24gb,
)


nb05 = SimpleNamespace(
    lr_ratio=Question(
        name="lr_ratio (practice question 2)",
        prompt="LoRA is trained with a higher learning rate than full fine-tuning (the source text: 1e-4 to 3e-4 vs "
               "1e-5 to 5e-5). In the stored sweep shown above (bench/results/peft_lr_sweep_<profile>.json), how many "
               "times larger is LoRA's best learning rate than full fine-tuning's?",
        expected=lora_to_full_lr_ratio,
        hint_text="`ftlab.course.exercises.best_learning_rates()` reads the sweep's 'best' entries.",
        solution_text="{expected}x. LoRA's update B·A starts at zero and has few parameters, so it needs larger steps "
                      "to move the output as much; the source text's ranges put the ratio near 10x.",
        rel_tol=0.01,
    ),
    lora_attention=code.lora_attention,
)


nb06 = SimpleNamespace(
    why_worse=Question(
        name="why_worse (practice question 5)",
        prompt="A fine-tuned model sometimes does worse than its base. Which of these does the source text name as "
               "causes?",
        kind="choice",
        options={"few_examples": "fewer than ~100 training examples",
                 "many_epochs": "too many epochs over the same data",
                 "high_lr": "too high a learning rate",
                 "format_mismatch": "a prompt format at test time that differs from training",
                 "same_format": "testing with exactly the training prompt format",
                 "more_data": "more diverse training data"},
        expected=lambda: {"few_examples", "many_epochs", "high_lr", "format_mismatch"},
        hint_text="Think of what makes a model memorise, overshoot, or see inputs unlike its training inputs.",
        solution_text="{expected}. Notebook 06 trains on <100 rows for many epochs and measures the specialist "
                      "getting worse on both test splits and forgetting more.",
    ),
    small_data_epochs=Question(
        name="small_data_epochs",
        prompt="On the active profile, how many epochs does notebook 06's small-data run make over its rows? "
               "(domain steps x effective batch / rows)",
        expected=small_data_epochs,
        hint_text="profile.domain_steps, profile.sft.effective_batch and profile.domain_small_train.",
        solution_text="{expected} epochs: every row seen that many times, which is how it memorises.",
        rel_tol=0.01,
    ),
    sql_by_execution=code.sql_by_execution,
)


nb07 = SimpleNamespace(
    reward_margin=Question(
        name="reward_margin",
        prompt="After DPO with beta = {beta}, a held-out pair's chosen answer has log-probability {pc} under the "
               "policy and {rc} under the reference (the SFT model); the rejected answer has {pr} and {rr}. What is "
               "DPO's implied reward margin for this pair?".format(
                   beta=DPO_EXAMPLE["beta"], pc=DPO_EXAMPLE["policy"][0], rc=DPO_EXAMPLE["reference"][0],
                   pr=DPO_EXAMPLE["policy"][1], rr=DPO_EXAMPLE["reference"][1]),
        expected=dpo_example_reward_margin,
        hint_text="The implied reward of an answer is beta x (log pi - log pi_ref); the margin is chosen minus "
                  "rejected.",
        solution_text="{expected}: beta x [(-4 - -5) - (-9 - -6)] = 0.1 x (1 + 3). Most of it comes from pushing the "
                      "rejected answer down, as notebook 07 measured (`ftlab.lessons.alignment.preference_metrics`).",
        rel_tol=0.01,
    ),
    dpo_pair=code.dpo_pair,
)


nb08 = SimpleNamespace(
    breadth_epochs=Question(
        name="breadth_epochs",
        prompt="On the active profile, how many passes (epochs) over its training set does each run of notebook 08 "
               "make? (steps x effective batch / training rows; both sets have the same number of rows)",
        expected=breadth_epochs,
        hint_text="`from ftlab.lessons import data_breadth`; data_breadth.steps(profile), profile.sft.effective_batch "
                  "and the length of either set of data_breadth.training_sets(profile).",
        solution_text="{expected} epochs: about one pass, so neither set is memorised and only the breadth differs.",
        rel_tol=0.01,
    ),
    narrow_set=code.narrow_set,
)


nb09 = SimpleNamespace(
    student_rows=Question(
        name="student_rows",
        prompt="On the active profile, how many training prompts of each task does each student of notebook 09 get? "
               "(enough for one pass: steps x effective batch, shared among the profile's tasks, rounded up)",
        expected=student_rows_per_task,
        hint_text="`from ftlab.lessons import model_written`; model_written.steps(profile), "
                  "profile.sft.effective_batch and len(profile.sft_tasks).",
        solution_text="{expected} per task: each student sees its set about once, as the teacher saw its own, so the "
                      "two students differ only in who wrote the answers.",
        rel_tol=0.01,
    ),
    with_answers=code.with_answers,
)


nb10 = SimpleNamespace(
    few_passes=Question(
        name="few_passes",
        prompt="On the active profile, how many times is each row of notebook 10's few-examples set seen during its "
               "run? (steps x effective batch / rows)",
        expected=few_example_passes,
        hint_text="`from ftlab.lessons import failure_modes`; failure_modes.steps(profile), "
                  "profile.sft.effective_batch, and the few-examples set of failure_modes.training_sets(profile).",
        solution_text="{expected} times: the same steps as the well-tuned run spent on a handful of rows, so the "
                      "model can learn those answers by heart instead of the tasks.",
        rel_tol=0.01,
    ),
    chat_prompt=code.chat_prompt,
)


NOTEBOOKS = {"00": nb00, "01": nb01, "02": nb02, "03": nb03, "04": nb04, "05": nb05, "06": nb06, "07": nb07,
             "08": nb08, "09": nb09, "10": nb10}


PRACTICE = (nb04.memory_methods, nb05.lr_ratio, nb03.forgetting, nb01.task_vs_instruction, nb06.why_worse)


def all_questions() -> list[Question | CodeExercise]:
    """Every exercise of every notebook, both kinds, in notebook order."""
    return [q for group in NOTEBOOKS.values() for q in vars(group).values()]


def code_exercises() -> list[CodeExercise]:
    return [q for q in all_questions() if isinstance(q, CodeExercise)]
