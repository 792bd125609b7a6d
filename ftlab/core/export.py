"""Export a trained model as a folder anyone can load with `AutoModelForCausalLM.from_pretrained`: the weights
(a LoRA adapter merged into its base, or the adapter alone on request), the tokenizer with its chat template, and
a model card (README.md) whose metadata and numbers come from the run card of the training run.

The card is built with huggingface_hub's `ModelCard`/`ModelCardData` (the metadata block the hub reads: license,
base_model, library_name, tags); its body lists what the run card measured (data, steps, seed, metrics, hardware,
versions, commit), so a shared model says how it was made. `round_trip_gap` reloads the folder and compares its
logits with the model in memory: an export is checked, not assumed.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import ModelCard, ModelCardData
from peft import AutoPeftModelForCausalLM, PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from ftlab.core.errors import ConfigError
from ftlab.core.profiles import PROFILES
from ftlab.core.progress import quiet_library_bars


@dataclass(frozen=True)
class BaseFacts:
    """What a model card says about the base a run started from: its name, its hub id (None: not on the hub),
    the licence its weights carry, and where that licence comes from."""

    name: str
    hub_id: str | None
    license: str
    why: str


# The bases ftlab trains from offline, by profile model name (ftlab.core.profiles). A hub id (the gpu profile)
# gets BaseFacts(hub_id, hub_id, "other", ...): its own card says its licence.
BASES = {
    "tiny": BaseFacts("ftlab tiny base (models/tiny-base in the ftlab repository)", None, "cc-by-sa-4.0",
                      "pretrained by ftlab on Wikipedia article leads (CC BY-SA 4.0) and WordNet 3.0 glosses (WordNet "
                      "licence): see data/LICENCES.md"),
    "smol": BaseFacts("SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0",
                      "SmolLM2-135M-Instruct is released under Apache-2.0"),
}


class ExportError(ConfigError):
    """A model that cannot be exported as asked (a quantized base to merge, a folder without its tokenizer)."""


def base_facts(model_name: str) -> BaseFacts:
    """The card facts of a profile's base model (`BASES`); a hub id stands for itself, licence per its own card."""
    return BASES.get(model_name) or BaseFacts(model_name, model_name, "other",
                                              f"see the licence of {model_name} on the Hugging Face hub")


def is_quantized(model) -> bool:
    """True for a model loaded in 4 or 8 bits (bitsandbytes): its adapter cannot be merged into exact weights."""
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    return bool(getattr(base, "is_loaded_in_4bit", False) or getattr(base, "is_loaded_in_8bit", False)
                or getattr(base.config, "quantization_config", None))


def standalone(model, adapter_only: bool = False):
    """What to save: a plain model as it is; a PEFT model merged into a copy of its base (the model in memory is
    left as it was), or as it is with `adapter_only`. A quantized base cannot be merged exactly: ExportError."""
    if not isinstance(model, PeftModel) or adapter_only:
        return model
    if is_quantized(model):
        raise ExportError("this adapter sits on a 4/8-bit base, which cannot be merged into exact weights: export "
                          "it with adapter_only=True (`ftlab export ... --adapter-only`), or merge it into the "
                          "unquantized base yourself")
    return copy.deepcopy(model).merge_and_unload()


def card_numbers(card: dict) -> list[tuple[str, str]]:
    """The run card's numbers a model card lists, as (what, value) rows."""
    settings = card.get("settings") or card.get("config") or {}
    metrics = card.get("metrics") or {}
    evals = [row["eval_loss"] for row in card.get("history") or [] if "eval_loss" in row]
    rows = [("kind of run", str(card.get("kind"))), ("profile", str(card.get("profile"))),
            ("training rows", f"{card.get('train_rows', '?')} (validation {card.get('val_rows', '?')})"),
            ("tokens trained on", f"{card.get('tokens', 0):,}"),
            ("optimizer steps", str(metrics.get("step", settings.get("max_steps", "?")))),
            ("learning rate", str(settings.get("learning_rate", "?"))),
            ("batch", f"{settings.get('batch_size', '?')} x {settings.get('grad_accum', 1)} accumulation"),
            ("seed", str(card.get("seed")))]
    if "train_loss" in metrics:
        rows.append(("final training loss (mean over the run)", f"{metrics['train_loss']:.4f}"))
    if evals:
        rows.append(("last validation loss", f"{evals[-1]:.4f}"))
    rows += [("wall time", f"{card.get('wall_time_s', 0):.0f} s ({card.get('tokens_per_s', 0):,.0f} tokens/s)"),
             ("hardware", f"{card.get('device')} on {card.get('platform')}"),
             ("versions", ", ".join(f"{k} {v}" for k, v in (card.get("versions") or {}).items() if v)),
             ("ftlab commit", str(card.get("git_commit"))), ("trained", str(card.get("created")))]
    return rows


def model_card(model_name: str, card: dict | None, adapter_only: bool = False) -> ModelCard:
    """A hub model card for a model fine-tuned from the base `model_name` (a profile's model), with the run
    card's numbers (`card_numbers`) when there is one."""
    base = base_facts(model_name)
    data = ModelCardData(license=base.license, base_model=base.hub_id, library_name="peft" if adapter_only else
                         "transformers", pipeline_tag="text-generation", tags=["ftlab", "trl", "sft"])
    what = "a LoRA adapter" if adapter_only else "a causal language model"
    body = [f"# {model_name} fine-tuned with ftlab", "",
            f"This folder holds {what} fine-tuned from {base.name} with TRL, by the ftlab course "
            "(a lab course in LLM fine-tuning). Licence: " + f"{base.license} ({base.why}).", "",
            "## Load it", "", "```python",
            "from transformers import AutoModelForCausalLM, AutoTokenizer" if not adapter_only else
            "from peft import AutoPeftModelForCausalLM\nfrom transformers import AutoTokenizer",
            ("model = AutoModelForCausalLM" if not adapter_only else "model = AutoPeftModelForCausalLM")
            + '.from_pretrained("path/to/this/folder")',
            'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
            'prompt = tokenizer.apply_chat_template([{"role": "user", "content": "..."}], add_generation_prompt=True,',
            '                                       return_tensors="pt", return_dict=True)',
            "print(tokenizer.decode(model.generate(**prompt, max_new_tokens=24)[0]))", "```", ""]
    if card:
        body += ["## How it was trained (from the run card)", "", "| | |", "| --- | --- |"]
        body += [f"| {what} | {value} |" for what, value in card_numbers(card)]
        body += ["", "The full run card is `runcard.json` in this folder."]
    else:
        body += ["No run card came with this model: how it was trained is not recorded here."]
    body += ["", "## Limits", "",
             "A course model: trained for minutes on a few hundred examples of short, checkable tasks, to be measured "
             "— not a general assistant. Judge it by the numbers above."]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body) + "\n")


def export(model, tokenizer, out: Path | str, model_name: str, card: dict | None = None,
           adapter_only: bool = False) -> Path:
    """Write `model` (merged unless `adapter_only`, see `standalone`), `tokenizer` (with its chat template), the
    model card and the run card to the folder `out`; return it. `model_name`: the profile model it was trained
    from ('tiny', 'smol' or a hub id), for the card's metadata."""
    if tokenizer.chat_template is None:
        raise ExportError("the tokenizer has no chat template: the exported model could not be prompted as it was "
                          "trained")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    standalone(model, adapter_only).save_pretrained(out)
    tokenizer.save_pretrained(out)
    model_card(model_name, card, adapter_only).save(out / "README.md")
    if card:
        (out / "runcard.json").write_text(json.dumps(card, indent=1) + "\n")
    return out


@torch.no_grad()
def round_trip_gap(model, folder: Path | str, tokenizer, text: str = "The capital of France is") -> float:
    """Largest |logit| difference between `model` and the exported full model in `folder` reloaded with
    `AutoModelForCausalLM.from_pretrained`, on `text` (0 for an exact export; float rounding of a merge gives
    ~1e-5)."""
    with quiet_library_bars():  # a check, not a wait the learner needs to watch
        reloaded = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True).eval()
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    was_training = model.training
    model.eval()
    try:
        mine = model(input_ids=ids.to(model.device)).logits.float().cpu()
    finally:
        model.train(was_training)
    return float((reloaded(input_ids=ids).logits.float() - mine).abs().max())


RUN_MODEL = "model"  # where a run's folder keeps its saved model (`run_sft(save_to=run_folder / RUN_MODEL)`)


def find_card(folder: Path) -> Path | None:
    """The run card of a saved model: runcard.json in its folder or the run folder above it (`run_sft`'s
    `save_to` inside the run's folder); None if neither has one."""
    return next((p for p in (folder / "runcard.json", folder.parent / "runcard.json") if p.is_file()), None)


def load_saved(folder: Path | str):
    """(model, tokenizer) from a folder written by `save_pretrained` or `Trainer.save_model` (`run_sft`'s
    `save_to`), or from a run's folder that holds one as model/: a full model, or a PEFT adapter on the base its
    adapter_config.json names. ExportError naming what is missing otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"{folder} is not a folder: give the folder a trained model was saved to")
    if (folder / "runcard.json").is_file() and not (folder / "config.json").is_file():  # a run's folder
        if not (folder / RUN_MODEL).is_dir():
            raise ExportError(f"{folder} is a run's folder but the run saved no model: train it with "
                              f"run_sft(..., save_to=<run folder>/{RUN_MODEL}) to export it")
        folder = folder / RUN_MODEL
    adapter = (folder / "adapter_config.json").is_file()
    if not adapter and not (folder / "config.json").is_file():
        raise ExportError(f"{folder} holds neither config.json (a saved model) nor adapter_config.json (a saved "
                          "adapter): save the model there first (run_sft(..., save_to=folder) or "
                          "model.save_pretrained(folder))")
    if not (folder / "tokenizer_config.json").is_file():
        raise ExportError(f"{folder} has no tokenizer (tokenizer_config.json): save it beside the model "
                          "(tokenizer.save_pretrained(folder)); the export needs its chat template")
    loader = AutoPeftModelForCausalLM if adapter else AutoModelForCausalLM
    with quiet_library_bars():
        model = loader.from_pretrained(folder, use_safetensors=True)
    return model, AutoTokenizer.from_pretrained(folder)


def export_saved(source: Path | str, out: Path | str, adapter_only: bool = False, card_path: Path | None = None,
                 model_name: str | None = None) -> Path:
    """`export` of a saved model folder (`load_saved`), with its run card (`find_card`, or `card_path`); the
    card's profile names the base for the metadata unless `model_name` is given."""
    model, tokenizer = load_saved(source)
    card_path = card_path or find_card(Path(source))
    card = json.loads(Path(card_path).read_text()) if card_path else None
    if model_name is None:
        profile = (card or {}).get("profile")
        model_name = PROFILES[profile].model if profile in PROFILES else str(Path(source).resolve().name)
    return export(model, tokenizer, out, model_name, card, adapter_only)
