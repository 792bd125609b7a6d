"""Every verdict at two scales (ftlab.course.verdicts): the verdicts a profile's stored references give are the
registry's, without training anything; no verdict is recorded for a scale without the numbers behind it; README's
claims table is the registry's; a verdict that differs between the scales is named in its notebook's prose."""
import json
from dataclasses import replace

import pytest

from ftlab.core import claims
from ftlab.core.paths import REPO_ROOT
from ftlab.course import verdicts
from ftlab.tools import claims_table


@pytest.mark.parametrize("profile", verdicts.SCALES)
def test_every_stored_measurement_gives_the_verdict_the_registry_expects(profile):
    found = verdicts.stored(profile)
    for claim_id, entry in found.items():
        judgement, expected = claims.judge(claim_id, profile, **entry.measured)
        assert expected is not None, (f"{claim_id}: the {profile} profile's references measure it ({entry.source}) "
                                      f"but the registry records no verdict for {profile}: {judgement}")
        assert judgement.verdict == expected, (f"{claim_id} at {profile}: its stored numbers ({entry.source}) give "
                                               f"'{judgement.verdict}', the registry expects '{expected}': "
                                               f"{judgement.evidence}")


def test_the_tiny_references_measure_every_claim_of_the_notebooks_that_train():
    """The references a notebook reads are judged too, not only the smol ones (seeds_01, seeds_02 and the
    epoch-matched comparison, seeds_03, seeds_05 and the sweep, seeds_06, seeds_07), so a re-made tiny reference
    that flips a verdict fails here before any notebook runs."""
    assert {f"05-{m}-quality" for m in claims.SOURCE_QUALITY} | {"05-qlora-matches-lora", "05-lora-learning-rate"} \
        | {c for c in claims.CLAIMS if c[:3] in ("01-", "03-", "06-", "07-") or c.startswith("lima-")} \
        <= set(verdicts.stored("tiny"))


def test_no_smol_verdict_is_recorded_without_a_stored_reference_behind_it():
    backed = set(verdicts.stored("smol")) | set(claims.SAME_ON_EVERY_PROFILE)
    recorded = set(claims.EXPECTED.get("smol", {}))
    assert recorded <= backed, f"smol verdicts with no stored numbers: {sorted(recorded - backed)}"


def test_a_verdict_at_the_other_scale_that_differs_from_the_registry_stops_the_claim(monkeypatch):
    claim_id = "05-lora-learning-rate"
    real = claims.CLAIMS[claim_id]
    flipped = {**real.expected, "tiny": "depends" if real.expected["tiny"] != "depends" else "held"}
    monkeypatch.setitem(claims.CLAIMS, claim_id, replace(real, expected=flipped))
    with pytest.raises(claims.ClaimMismatch, match=f"{claim_id}.*tiny profile"):
        verdicts.stored_line(claim_id, "tiny")


def test_the_other_scale_line_names_its_reference_and_its_provenance():
    line = verdicts.stored_line("05-lora-learning-rate", "tiny")
    sweep = json.loads((REPO_ROOT / "bench" / "results" / "peft_lr_sweep_tiny.json").read_text())["provenance"]
    assert line.startswith(f"    at 3.4 M (tiny, stored: peft_lr_sweep_tiny.json, {sweep['date'][:10]}, commit "
                           f"{sweep['commit'][:7]}")
    assert f"): {claims.CLAIMS['05-lora-learning-rate'].expected['tiny']} — LoRA's best rate" in line
    assert verdicts.stored_line("lima-1k-competitive", "smol") == \
        "    at 135 M (smol): not measured at this scale yet"  # its full pool's epoch is a GPU's job


def test_the_readme_claims_table_is_the_registrys():
    assert claims_table.readme_table() == claims_table.markdown(), \
        "README.md's claims table is out of date: run `python -m ftlab claims --readme`"


def test_a_verdict_that_differs_between_the_scales_is_named_in_its_notebook():
    for claim_id in claims_table.differing():
        claim = claims.get(claim_id)
        book = next((REPO_ROOT / "notebooks").glob(f"{claim.notebook}_*.ipynb"))
        prose = "".join("".join(c["source"]) for c in json.loads(book.read_text())["cells"]
                        if c["cell_type"] == "markdown")
        assert claim_id in prose, f"{claim_id} differs between the scales; {book.name}'s prose must say so"


@pytest.mark.parametrize("source, experiment", [(verdicts._stored_peft, "05-peft"),
                                                (verdicts._stored_forgetting, "03-forgetting"),
                                                (verdicts._stored_domain, "06-domain"),
                                                (verdicts._stored_dpo, "07-dpo")])
def test_a_stored_reference_missing_an_arm_names_the_command_that_fills_it(monkeypatch, source, experiment):
    """A reference made before an arm existed is refused with the command that adds it, not read as if whole."""
    real = verdicts.load_runs

    def without_one_arm(name, key):
        record = real(name, key)
        dropped = record["rows"][-1]["arm"]
        return {**record, "rows": [r for r in record["rows"] if r["arm"] != dropped]}
    monkeypatch.setattr(verdicts, "load_runs", without_one_arm)
    profile = verdicts.for_this_machine(verdicts.PROFILES["tiny"])
    with pytest.raises(ValueError, match=rf"lacks the arms \['[\w.-]+'\]: run `FTLAB_PROFILE=tiny python "
                                         rf"bench/stored_seeds.py {experiment}`"):
        source(profile)


@pytest.mark.parametrize("profile", verdicts.SCALES)
def test_a_notebook_reads_the_other_scales_specialists_from_their_file_one_row_per_seed(profile):
    rows, source = verdicts.stored_specialists(profile)
    assert {r["arm"] for r in rows} == {"specialist"}, "the base and few-examples arms must be left out"
    assert sorted(r["seed"] for r in rows) == sorted(verdicts.PROFILES[profile].seeds)
    assert source.startswith(f"seeds_06-domain_{profile}_"), source


def test_without_the_profiles_model_notebook_06s_file_is_read_on_its_fingerprint_and_says_so(monkeypatch):
    """CI has no SmolLM2 (FTLAB_EXTRAS=smol is optional), so the key's token hash cannot be recomputed there; the
    file is still read (its fingerprint still checked by require_current), and its source line says the key was not."""
    def unavailable(profile):
        raise verdicts.ModelNotAvailable("not installed here")

    monkeypatch.setattr(verdicts.domain_tuning, "experiment", unavailable)
    profile = verdicts.for_this_machine(verdicts.PROFILES["smol"])
    rows, source = verdicts._domain_rows(profile)
    assert {r["arm"] for r in rows} == {"base", "specialist", "few-examples"}
    assert source.startswith("seeds_06-domain_smol_") and "key not re-hashed" in source
    measured = verdicts.domain_measurements(rows, verdicts.domain_tuning.load_generalist(),
                                            verdicts.domain_tuning.notebook_data(profile)[1], profile)
    assert set(measured) == {c for c in claims.EXPECTED["smol"] if c.startswith("06-")}


def test_notebook_02s_file_is_read_without_rebuilding_its_training_sets(monkeypatch):
    """Its key hashes the four sets, which only the whole curation (sentence embeddings, the profile's tokenizer:
    SmolLM2, which CI lacks) rebuilds: the file is read on its fingerprint, and its source line says so."""
    def no_curation(*args, **kwargs):
        raise AssertionError("reading the stored claims must not rebuild the training sets")

    monkeypatch.setattr(verdicts.curation, "notebook_arms", no_curation)
    monkeypatch.setattr(verdicts.curation, "experiment", no_curation)
    for profile_name in verdicts.SCALES:
        measured = verdicts._stored_curation(verdicts.for_this_machine(verdicts.PROFILES[profile_name]))
        assert {c for c in claims.CLAIMS if c.startswith("lima-")} - {"lima-1k-competitive"} <= set(measured)
        assert all(s.source.startswith(f"seeds_02-curation_{profile_name}_") and "key not re-hashed" in s.source
                   for s in measured.values())


def test_notebook_02s_file_missing_an_arm_names_the_command_that_fills_it(monkeypatch):
    real = verdicts.require_current

    def without_longest(saved, path):
        return real({**saved, "rows": [r for r in saved["rows"] if r["arm"] != "longest"]}, path)
    monkeypatch.setattr(verdicts, "require_current", without_longest)
    with pytest.raises(ValueError, match=r"lacks the arms \['longest'\]: run `FTLAB_PROFILE=tiny python "
                                         r"bench/stored_seeds.py 02-curation`"):
        verdicts._stored_curation(verdicts.for_this_machine(verdicts.PROFILES["tiny"]))
