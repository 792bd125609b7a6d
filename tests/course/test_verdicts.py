"""ftlab.course.verdicts: the numbers each notebook-05 claim reads, taken from rows the way the notebook takes
them (live or stored), and which scale sits beside which."""
import pytest

from ftlab.core import claims
from ftlab.course import verdicts


def _rows():
    """Two seeds of three methods, as peft_comparison.run_method returns them (fields the claims read)."""
    acc = {("full", 0): 0.5, ("full", 1): 0.6, ("lora", 0): 0.45, ("lora", 1): 0.55, ("qlora", 0): 0.4,
           ("qlora", 1): 0.3}
    return [{"method": m, "seed": s, "accuracy": a, "total": 1000 + (m == "full")} for (m, s), a in acc.items()]


def test_peft_quality_reads_the_method_and_full_per_seed_and_full_ft_parameters():
    got = verdicts.peft_quality(_rows(), 120, "lora")
    assert got == {"method": [0.45, 0.55], "full": [0.5, 0.6], "n_items": 120, "name": "lora", "parameters": 1001,
                   "note": ""}
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
