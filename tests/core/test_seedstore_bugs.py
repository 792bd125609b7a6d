"""ftlab.core.seedstore's two decisions a stale stored file must not slip past, with hand-worked values: the twin
check and the certification compare the LARGEST live-stored gap with the tolerance, and the stored file's key changes with the model.
(Written against the current API, `reproduction_gaps` and `experiment_key`.)"""
from types import SimpleNamespace

import pytest

from ftlab.core.provenance import StaleReference
from ftlab.core.seedstore import certification_gaps, experiment_key, record_certification, reproduction_gaps


def _row(arm, seed, score, loss):
    return {"arm": arm, "seed": seed, "score": score, "loss": loss}


def test_the_gap_of_each_metric_is_the_largest_over_the_twins():
    live = [_row("a", 0, 0.30, 1.00), _row("b", 0, 0.50, 2.00), _row("c", 0, 0.70, 3.00)]
    stored = [_row("a", 0, 0.32, 1.50), _row("b", 0, 0.60, 2.01), _row("c", 0, 0.70, 3.00),
              _row("a", 1, 9.00, 9.00)]  # no live twin: never compared
    # |0.30-0.32| = 0.02, |0.50-0.60| = 0.10, 0 -> 0.10; |1.00-1.50| = 0.50, 0.01, 0 -> 0.50
    assert reproduction_gaps(live, stored, ["score", "loss"]) == pytest.approx({"score": 0.10, "loss": 0.50})
    assert reproduction_gaps(live[::-1], stored[::-1], ["score"]) == pytest.approx({"score": 0.10})
    assert reproduction_gaps(live, stored, []) == {}


def test_one_moved_twin_among_good_ones_refuses_certification(tmp_path):
    """Arm a re-runs exactly, arm b moved by 0.05: certification must refuse, whatever the order of the arms."""
    stored = [{"arm": a, "seed": s, "score": {"a": 0.1, "b": 0.2}[a] + s} for a in "ab" for s in (0, 1)]
    live = [{"arm": a, "seed": 0, "score": {"a": 0.1, "b": 0.25}[a]} for a in "ab"]
    for order in (1, -1):
        gaps = certification_gaps(live[::order], stored[::order], {"score": 0.01})
        assert gaps["score"] == pytest.approx((0.05, 0.01))  # arm b: |0.25 - 0.2|; arm a's 0 is not the largest
        with pytest.raises(StaleReference, match=r"score by 0.05"):
            record_certification({"provenance": {"precision": "fp32"}}, tmp_path / "seeds_07-dpo_tiny_fp32.json", gaps, [])
    good = certification_gaps(live[:1], stored, {"score": 0.01})
    assert good["score"] == (0.0, 0.01)


def _profile(**changes):
    values = dict(name="tiny", model="tiny", precision="fp32")
    return SimpleNamespace(**{**values, **changes})


def test_the_stored_file_key_changes_with_the_model_the_inputs_and_the_precision():
    base = experiment_key("05-peft", _profile(), {"steps": 100})
    assert base == experiment_key("05-peft", _profile(), {"steps": 100})  # deterministic
    assert base["experiment"] == "05-peft" and base["profile"] == "tiny" and base["precision"] == "fp32"
    assert len(base["sha256"]) == 16
    assert experiment_key("05-peft", _profile(model="smol"), {"steps": 100})["sha256"] != base["sha256"]
    assert experiment_key("05-peft", _profile(), {"steps": 101})["sha256"] != base["sha256"]
    assert experiment_key("05-peft", _profile(precision="bf16"), {"steps": 100}) != base
    assert experiment_key("05-peft", _profile(name="other"), {"steps": 100})["profile"] == "other"
