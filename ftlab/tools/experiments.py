"""The experiments with stored seeds, by name (bench/stored_seeds.py and bench/references.py run them by name).

Each builds its notebook's experiment from a profile, exactly as the notebook does. This registry sits above the
lessons so that no core module has to name a lesson.
"""
from __future__ import annotations

from typing import Callable

from ftlab.core.profiles import Profile
from ftlab.core.seedstore import Experiment
from ftlab.lessons import alignment, curation, domain_tuning, forgetting, peft_comparison, sft

EXPERIMENTS: dict[str, Callable[[Profile], Experiment]] = {
    "01-sft": sft.experiment,
    "02-curation": curation.experiment,
    "03-forgetting": forgetting.experiment,
    "05-peft": peft_comparison.experiment,
    "06-domain": domain_tuning.experiment,
    "07-dpo": alignment.experiment,
}


def experiment(name: str, profile: Profile) -> Experiment:
    """The named experiment as its notebook runs it; an unknown name is a KeyError listing the known ones."""
    if name not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r}; known: {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name](profile)
