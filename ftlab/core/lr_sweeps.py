"""The stored learning-rate sweeps of the fine-tuning methods (bench/peft_lr_sweep.py writes them) and the rate
each gives a method.

A profile either names its methods' rates (`Profile.peft_learning_rates`, tiny) or leaves them to its sweep
(smol), whose winners are read from the stored file, never copied by hand. Notebook 05 compares the methods at
these rates and notebook 03 trains its LoRA arm at LoRA's; both read them here, so neither lesson imports the other.
"""

from __future__ import annotations

from ftlab.core.profiles import Profile
from ftlab.core.provenance import load as load_reference


def sweep_file(profile_name: str) -> str:
    """The sweep's file name under bench/results."""
    return f"peft_lr_sweep_{profile_name}.json"


def load_sweep(profile_name: str) -> dict:
    """The committed learning-rate sweep for a profile, refused when missing or stale
    (`ftlab.core.provenance.load`, which names the command that makes it)."""
    return load_reference(sweep_file(profile_name))


def learning_rates(profile: Profile) -> dict[str, float]:
    """Each method's learning rate: the profile's `peft_learning_rates`, or where it names none, the winners of
    its stored sweep."""
    if profile.peft_learning_rates:
        return dict(profile.peft_learning_rates)
    return {method: float(rate) for method, rate in load_sweep(profile.name)["best"].items()}
