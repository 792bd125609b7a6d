"""The claims registry (ftlab.claims) and the statistics its rules use: verdicts from hand-worked numbers, a
flipped verdict stops the notebook, and every CLAIM line in the notebooks goes through the registry."""
import json
import re
from pathlib import Path

import pytest

from ftlab import claims, stats
from ftlab.claims import CLAIMS, ClaimMismatch, check

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_of(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")


def test_wilson_interval_at_zero_successes():
    # p = 0, n = 50, z = 1.96: centre = (z²/2n) / (1 + z²/n) = 0.038416 / 1.076832 = 0.035675, and the half-width
    # z·sqrt(z²/4n²) / (1 + z²/n) = 1.96·0.0196 / 1.076832 = 0.035675, so [0, 0.07135]
    low, high = stats.wilson(0, 50)
    assert low == 0 and high == pytest.approx(0.07135, abs=1e-4)


def test_an_accuracy_estimate_adds_the_binomial_error_of_the_test_set():
    # seeds 0.4, 0.5, 0.6: sd 0.1, seed variance 0.01 / 3 = 0.0033333; binomial 0.5·0.5 / (100·3) = 0.00083333;
    # se = sqrt(0.0041667) = 0.064550
    e = stats.estimate([0.4, 0.5, 0.6], n_items=100)
    assert (e.mean, e.sd, e.se) == pytest.approx((0.5, 0.1, 0.064550), abs=1e-6)
    assert stats.estimate([0.4, 0.5, 0.6]).se == pytest.approx(0.1 / 3 ** 0.5)


def test_sign_reads_a_difference_through_its_interval():
    wide = stats.difference(stats.estimate([0.30], 50), stats.estimate([0.22], 50))  # 8 points on 50 questions
    assert stats.sign(wide) == 0
    narrow = stats.difference(stats.estimate([0.30] * 3, 2000), stats.estimate([0.22] * 3, 2000))
    assert stats.sign(narrow) == 1 and stats.sign(stats.difference(narrow, stats.Estimate(0.2, 0, 0, 1))) == -1


def test_instruction_following_needs_every_task_to_improve_in_the_unseen_wording():
    j = claims.judge_instruction_following
    base = {"title": 0.0, "count": 0.0}
    assert j(0.0, [0.4] * 3, base, {"title": [0.7, 0.8, 0.75], "count": [0.3, 0.35, 0.3]}, 200, 50).verdict == "held"
    # counting never improved beyond its interval (0, 0.08, 0.10 on 50 questions: mean 0.06, se 0.036)
    partial = j(0.0, [0.4] * 3, base, {"title": [0.7, 0.8, 0.75], "count": [0.0, 0.08, 0.10]}, 200, 50)
    assert partial.verdict == "depends" and "count 0.0% -> 6.0%" in partial.evidence
    assert j(0.0, [0.4] * 3, base, {"title": [0.0] * 3, "count": [0.0] * 3}, 200, 50).verdict == "did not hold"


def test_relative_quality_is_judged_by_the_interval_of_the_ratio():
    # 0.30 vs 0.40 on 200 questions, 3 equal seeds: ratio 0.75; relative errors sqrt(.21/600)/.3 = 0.06236 and
    # sqrt(.24/600)/.4 = 0.05, combined 0.0799 -> se 0.0599: [0.633, 0.867], wholly below LoRA's 95-98 %
    j = claims.judge_relative_quality([0.30] * 3, [0.40] * 3, 200, "lora", 3.4e6)
    assert j.verdict == "did not hold" and "75% [63%, 87%]" in j.evidence
    assert claims.judge_relative_quality([0.38] * 3, [0.40] * 3, 200, "lora", 3.4e6).verdict == "held"


def test_competitive_means_not_worse_beyond_the_interval():
    j = claims.judge_lima_competitive
    tied = j([0.33] * 3, [0.32] * 3, [0.35] * 3, [0.36] * 3, 200, 20000, 1000, (63, 1250))
    worse_once = j([0.33] * 3, [0.32] * 3, [0.35] * 3, [0.70] * 3, 200, 20000, 1000, (63, 1250))
    worse_twice = j([0.10] * 3, [0.32] * 3, [0.35] * 3, [0.70] * 3, 200, 20000, 1000, (63, 1250))
    assert (tied.verdict, worse_once.verdict, worse_twice.verdict) == ("held", "depends", "did not hold")


def test_latency_reads_the_fastest_round_and_the_majority_of_rounds():
    adapters, lora = [1.1, 1.2, 1.1, 1.3, 1.2, 1.1], [1.0, 1.0, 1.0, 1.0, 1.0, 1.2]  # slower in 5 of 6, min 1.1 > 1.0
    assert claims.judge_adapters_latency(adapters, lora, 1e-6).verdict == "held"
    assert claims.judge_adapters_latency(lora, adapters, 1e-6).verdict == "did not hold"
    # a load spike slows most of merged LoRA's rounds, but its fastest round shows it is not slower
    assert claims.judge_adapters_latency([1.1] * 6, [1.0, 1.5, 1.5, 1.5, 1.5, 1.5], 1e-6).verdict == "depends"


def test_the_few_examples_claim_says_when_the_base_scores_zero():
    j = claims.judge_few_examples({"a": 0.08, "b": 0.16}, {"a": 0.0, "b": 0.0}, 64, 64, 10, (4.08, 3.54))
    assert j.verdict == "did not hold" and "the base scores 0 %" in j.evidence


def test_memory_claims_and_predictor_accuracy():
    assert claims.judge_memory_claim(16, [13.9, 25.1, 16.5, 18.0], 0.25).verdict == "depends"  # 13.9, 16.5, 18 in
    assert claims.judge_memory_claim(56, [67.4] * 4, 0.25).verdict == "held"  # |67.4 - 56| / 56 = 0.204
    assert claims.judge_memory_claim(6, [21.4, 8.1], 0.25).verdict == "did not hold"
    assert claims.judge_predictor_accuracy([0.01, -0.02, 0.03]).verdict == "held"
    assert claims.judge_predictor_accuracy([0.01, -0.02, 0.12]).verdict == "did not hold"  # max over 10 %


def test_a_verdict_the_registry_does_not_expect_stops_the_notebook():
    claim = CLAIMS["00-stage-ratio"]
    assert claim.expected["tiny"] == "held"
    assert check("00-stage-ratio", "tiny", pretraining_usd=1e6, sft_usd=10.0).startswith("CLAIM 00-stage-ratio: held")
    with pytest.raises(ClaimMismatch, match=r"(?s)00-stage-ratio: did not hold.*expects 'held'.*tiny"):
        check("00-stage-ratio", "tiny", pretraining_usd=1e6, sft_usd=2e3)  # 500x: below the 1,000x the rule needs


def test_an_unknown_claim_or_a_bad_verdict_is_an_error(monkeypatch):
    with pytest.raises(Exception, match="unknown claim"):
        check("99-nothing", "tiny")
    monkeypatch.setitem(CLAIMS, "x", claims.Claim("x", "00", "", "", "", lambda: claims.Judgement("maybe", ""), {}))
    with pytest.raises(ValueError, match="not one of"):
        check("x", "tiny")


def test_every_claim_expects_a_verdict_on_the_default_profile():
    missing = [c.id for c in CLAIMS.values() if c.expected.get("tiny") not in claims.VERDICTS]
    assert not missing, f"claims with no expected verdict for tiny: {missing}"


def test_notebooks_judge_claims_only_through_the_registry():
    from ftlab.memory_claims import SOURCE_CLAIMS

    used = set()
    for path in NOTEBOOKS:
        code = code_of(path)
        typed = re.findall(r"notebook\.claim\(\s*[^,]+,\s*\"(held|did not hold|depends)\"", code)
        assert not typed, f"{path.name} types a verdict: {typed}"
        used |= set(re.findall(r"notebook\.claim\(\s*\"([^\"]+)\"", code))
        if "f\"05-{m}-quality\"" in code:
            used |= {f"05-{m}-quality" for m in claims.SOURCE_QUALITY}
        if "j[\"claim\"].claim_id" in code:
            used |= {c.claim_id for c in SOURCE_CLAIMS}
    assert used == set(CLAIMS), f"registered but never judged: {set(CLAIMS) - used}; judged but not registered: " \
                                f"{used - set(CLAIMS)}"


def test_each_claim_names_its_notebook_and_rule():
    for c in CLAIMS.values():
        assert any(p.name.startswith(c.notebook) for p in NOTEBOOKS) and c.rule and c.statement, c.id


def test_a_profile_without_a_recorded_verdict_is_said_not_to_be_enforced():
    line = check("01-assistant-only-loss", "smol", assistant_only=[0.4] * 3, whole_sequence=[0.1] * 3, n_items=200)
    assert line.startswith("CLAIM 01-assistant-only-loss: held") and "not enforced" in line
