"""`ftlab export`: a trained model comes out as a folder that transformers loads on its own, with the same logits
as the model that was trained, its tokenizer's chat template, and a model card whose metadata the hub reads and
whose numbers are the run card's."""
from __future__ import annotations

import json

import pytest
import torch
from huggingface_hub import ModelCard
from peft import AutoPeftModelForCausalLM, LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from ftlab.core.export import ExportError, export_saved, load_saved, round_trip_gap
from ftlab.core.instructions import load_instructions
from ftlab.core.models import load
from ftlab.core.settings import SFTSettings
from ftlab.core.train import run_sft
from ftlab.tools.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A LoRA run of the tiny base, 4 steps, saved the way a run saves its model (run_sft's save_to)."""
    run = tmp_path_factory.mktemp("run")
    model, tokenizer = load("tiny")
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                             task_type="CAUSAL_LM"))
    rows = load_instructions("train", ("title",), limit_per_task=32)
    result = run_sft(model, tokenizer, rows, SFTSettings(learning_rate=1e-2, max_steps=4, batch_size=8,
                                                         logging_steps=1, progress=False),
                     run, profile="tiny", save_to=run / "model")
    return result, tokenizer, run


def logits(model, tokenizer, text="Give the title of this passage."):
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model.eval()(input_ids=ids).logits.float()


def test_a_merged_export_loads_alone_and_gives_the_trained_models_logits(trained, tmp_path):
    result, tokenizer, run = trained
    assert main(["export", str(run), str(tmp_path / "out")]) == 0  # the run's folder: its model/ is exported
    out = tmp_path / "out"
    assert not (out / "adapter_config.json").exists(), "the adapter was to be merged into the weights"
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    gap = (logits(reloaded, tokenizer) - logits(result.model, tokenizer)).abs().max().item()
    assert gap < 1e-4, f"the exported model's logits differ from the trained model's by {gap}"
    untrained, _ = load("tiny")
    moved = (logits(untrained, tokenizer) - logits(result.model, tokenizer)).abs().max().item()
    assert moved > 100 * max(gap, 1e-6), "the run did not move the model: the comparison would show nothing"
    assert round_trip_gap(result.model, out, tokenizer) < 1e-4
    again = AutoTokenizer.from_pretrained(out)
    chat = [{"role": "user", "content": "hi"}]
    assert again.apply_chat_template(chat, tokenize=False) == tokenizer.apply_chat_template(chat, tokenize=False)


def test_the_model_card_has_hub_metadata_and_the_run_cards_numbers(trained, tmp_path):
    result, _, run = trained
    out = export_saved(run / "model", tmp_path / "out")
    card = ModelCard.load(out / "README.md")
    assert (card.data.license, card.data.library_name, card.data.pipeline_tag) == \
        ("cc-by-sa-4.0", "transformers", "text-generation")
    run_card = json.loads((run / "runcard.json").read_text())
    assert json.loads((out / "runcard.json").read_text()) == run_card
    for row in (f"| optimizer steps | {run_card['metrics']['step']} |", f"| seed | {run_card['seed']} |",
                f"| tokens trained on | {run_card['tokens']:,} |", f"| ftlab commit | {run_card['git_commit']} |"):
        assert row in card.text, f"the card lacks {row!r}"


def test_an_adapter_export_stays_an_adapter_that_peft_loads(trained, tmp_path):
    result, tokenizer, run = trained
    out = export_saved(run / "model", tmp_path / "adapter", adapter_only=True)
    assert (out / "adapter_config.json").exists() and not (out / "model.safetensors").exists()
    assert ModelCard.load(out / "README.md").data.library_name == "peft"
    reloaded = AutoPeftModelForCausalLM.from_pretrained(out)
    assert (logits(reloaded, tokenizer) - logits(result.model, tokenizer)).abs().max().item() < 1e-4


def test_a_folder_without_a_model_or_a_tokenizer_is_refused_with_what_is_missing(trained, tmp_path, capsys):
    _, _, run = trained
    assert main(["export", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "neither config.json" in capsys.readouterr().err
    unsaved = tmp_path / "unsaved-run"
    unsaved.mkdir()
    (unsaved / "runcard.json").write_text((run / "runcard.json").read_text())
    assert main(["export", str(unsaved), str(tmp_path / "out")]) == 2
    assert "saved no model" in capsys.readouterr().err
    bare = tmp_path / "bare"
    load_saved(run / "model")[0].save_pretrained(bare)  # weights, no tokenizer
    with pytest.raises(ExportError, match="no tokenizer"):
        export_saved(bare, tmp_path / "out2")


def test_the_tiny_bases_own_card_carries_the_metadata_its_exports_inherit():
    from ftlab.core.export import BASES
    from ftlab.core.paths import MODELS_DIR

    card = ModelCard.load(MODELS_DIR / "tiny-base" / "README.md")
    assert (card.data.license, card.data.library_name, card.data.pipeline_tag) == \
        (BASES["tiny"].license, "transformers", "text-generation")
