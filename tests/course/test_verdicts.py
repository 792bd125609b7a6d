"""ftlab.course.verdicts: the numbers each notebook-01, -03 and -05 claim reads, taken from rows the way the notebook
takes them (live or stored), and which scale sits beside which."""
import pytest

from ftlab.core import claims
from ftlab.core.settings import ForgettingSettings
from ftlab.course import verdicts


def _rows():
    """Two seeds of three methods, as peft_comparison.run_method returns them (fields the claims read)."""
    acc = {("full", 0): 0.5, ("full", 1): 0.6, ("lora", 0): 0.45, ("lora", 1): 0.55, ("qlora", 0): 0.4,
           ("qlora", 1): 0.3}
    return [{"method": m, "seed": s, "accuracy": a, "total": 1000 + (m == "full")} for (m, s), a in acc.items()]


def test_peft_quality_reads_the_method_and_full_per_seed_and_full_ft_parameters():
    got = verdicts.peft_quality(_rows(), 120, "lora")
    assert got == {"method": [0.45, 0.55], "full": [0.5, 0.6], "n_items": 120, "name": "lora", "parameters": 1001}
    assert claims.judge_relative_quality(**got).verdict == "held"  # 91 % of full FT, interval overlaps 95–98 %


def test_qlora_vs_lora_and_every_comparison_claim():
    assert verdicts.qlora_vs_lora(_rows(), 50) == {"qlora": [0.4, 0.3], "lora": [0.45, 0.55], "n_items": 50}
    rows = _rows() + [{"method": m, "seed": s, "accuracy": 0.2, "total": 1000}
                      for m in ("adapters", "prefix", "prompt") for s in (0, 1)]
    got = verdicts.peft_measurements(rows, 50)
    assert set(got) == {f"05-{m}-quality" for m in claims.SOURCE_QUALITY} | {"05-qlora-matches-lora"}
    assert got["05-prompt-quality"]["method"] == [0.2, 0.2] and got["05-prompt-quality"]["name"] == "prompt"


@pytest.mark.parametrize("profile, other", [("tiny", "smol"), ("smol", "tiny"), ("gpu", None)])
def test_the_scale_beside_each_profile(profile, other):
    assert verdicts.other_scale(profile) == other


def test_scale_labels_count_the_models_parameters():
    assert (verdicts.scale_label("tiny"), verdicts.scale_label("smol")) == ("3.4 M", "135 M")


def test_brief_provenance_names_date_commit_and_precision():
    record = {"provenance": {"date": "2026-12-02 03:04 UTC", "commit": "0123456789abcdef", "dirty": True,
                             "precision": "fp32"}}
    assert verdicts.brief(record) == "2026-12-02, commit 0123456+changes, fp32"


def _sft_rows():
    """A base row and two seeds of each trained arm, as sft.sft_experiment returns them (fields the claims read)."""
    def reworded(a, b):
        return {"a": {"accuracy": a}, "b": {"accuracy": b}, "overall": {"accuracy": (a + b) / 2}}
    rows = [{"arm": "base", "seed": 0, "accuracy": 0.05, "reworded_scores": reworded(0.0, 0.1), "parameters": 3e6}]
    for arm, acc in (("assistant-only", (0.4, 0.5)), ("whole-sequence", (0.2, 0.3)), ("recipe-lr", (0.1, 0.1))):
        rows += [{"arm": arm, "seed": s, "accuracy": a, "reworded_scores": reworded(a, a + 0.1)}
                 for s, a in enumerate(acc)]
    return rows


def test_sft_measurements_take_each_claims_numbers_from_its_arm():
    got = verdicts.sft_measurements(_sft_rows(), 100, 50, 1e-3)
    assert set(got) == {c for c in claims.CLAIMS if c.startswith("01-")}
    follow = got["01-sft-instruction-following"]
    assert follow["base_seen"] == 0.05 and follow["after_seen"] == [0.4, 0.5]
    assert follow["base_reworded"] == {"a": 0.0, "b": 0.1}  # per task, never the overall score
    assert follow["after_reworded"] == {"a": [0.4, 0.5], "b": [0.5, 0.6]}
    recipe = got["01-sft-recipe-lr"]
    assert (recipe["recipe"], recipe["tuned"], recipe["tuned_lr"], recipe["parameters"]) == ([0.1, 0.1], [0.4, 0.5],
                                                                                           1e-3, 3e6)
    assert got["01-assistant-only-loss"] == {"assistant_only": [0.4, 0.5], "whole_sequence": [0.2, 0.3],
                                             "n_items": 100}
    for claim_id, measured in got.items():  # each claim's rule accepts what the function gives it
        claims.judge(claim_id, "tiny", **measured)


def _forgetting_rows():
    """The base, two seeds of every SQL arm and of instruction SFT, as forgetting.mitigation_experiment returns
    them (fields the claims read): full forgets 0.4 and 0.6 nats and gains 1.0 of SQL loss."""
    rows = [{"arm": "base", "seed": 0, "general_loss": 3.0, "probe_accuracy": 0.6, "task_loss": 2.0}]
    rise_and_loss = {"full": (0.5, 1.0), "lora": (0.1, 1.2), "replay": (0.2, 1.1), "ewc": (0.3, 1.0),
                     "low_lr": (0.05, 1.8), "short": (0.25, 1.5), "instructions": (0.15, 1.9)}
    for arm, (rise, loss) in rise_and_loss.items():
        rows += [{"arm": arm, "seed": s, "general_loss": 3.0 + rise + d, "probe_accuracy": 0.5, "task_loss": loss}
                 for s, d in enumerate((-0.1, 0.1))]
    return rows


def test_forgetting_measurements_read_rises_over_the_base_and_score_each_mitigation():
    got = verdicts.forgetting_measurements(_forgetting_rows(), ForgettingSettings(steps=16, batch_size=8))
    assert set(got) == {c for c in claims.CLAIMS if c.startswith("03-")}
    assert got["03-narrow-finetuning-forgets"]["rise"] == pytest.approx([0.4, 0.6])
    assert got["03-alignment-tax"]["rise"] == pytest.approx([0.05, 0.25])
    assert "16 steps x 8" in got["03-alignment-tax"]["what"]
    lora = got["03-lora-forgets-less"]
    assert lora["lora_rise"] == pytest.approx([0.0, 0.2]) and lora["kept_gain"] == pytest.approx(0.8)
    # LoRA avoided 80 % of full's 0.5-nat rise and kept 0.8 / 1.0 of its task gain: 0.64
    assert got["03-mitigation-stars"]["scores"]["lora"] == pytest.approx(0.64)
    assert got["03-mitigation-stars"]["stars"]["low_lr"] == 2
    for claim_id, measured in got.items():
        claims.judge(claim_id, "tiny", **measured)


def _dpo_rows():
    """The SFT arm and two seeds of two betas, as alignment.alignment_experiment returns them (fields the claims
    read): the SFT model prefers the chosen answer in 60 % of 50 held-out pairs at general loss 3.0."""
    def row(arm, seed, accuracy, reward_accuracy, loss, exact):
        return {"arm": arm, "seed": seed, "general_loss": loss, "exact_match": exact,
                "pairs": {"all": {"accuracy": accuracy, "reward_accuracy": reward_accuracy, "n": 50}}}
    return [row("sft", 0, 0.6, 0.0, 3.0, 0.5), row("sft", 1, 0.6, 0.0, 3.0, 0.5),
            row("0.1", 0, 0.8, 0.9, 3.2, 0.4), row("0.1", 1, 0.9, 0.95, 3.3, 0.3),
            row("0.5", 0, 0.7, 0.8, 3.05, 0.5), row("0.5", 1, 0.7, 0.85, 3.1, 0.45)]


def test_dpo_measurements_compare_every_beta_with_the_sft_arm():
    got = verdicts.dpo_measurements(_dpo_rows())
    assert set(got) == {c for c in claims.CLAIMS if c.startswith("07-")}
    prefers = got["07-dpo-prefers-better-answer"]
    assert (prefers["sft_accuracy"], prefers["n_pairs"]) == (0.6, 50)
    assert prefers["accuracy"] == {"0.1": [0.8, 0.9], "0.5": [0.7, 0.7]}
    assert prefers["reward_accuracy"] == {"0.1": [0.9, 0.95], "0.5": [0.8, 0.85]}
    assert got["07-alignment-tax"]["rise"] == {"0.1": pytest.approx([0.2, 0.3]), "0.5": pytest.approx([0.05, 0.1])}
    assert got["07-alignment-tax"]["note"] == "exact match SFT 50.0% -> β=0.1 35.0%, β=0.5 47.5%"
    for claim_id, measured in got.items():
        claims.judge(claim_id, "tiny", **measured)
