"""The instruction rows notebooks 01 and 05 train and test on, sized by the profile."""

from __future__ import annotations

from ftlab.core.instructions import load_instructions
from ftlab.core.profiles import Profile


def course_data(profile: Profile) -> tuple[list[dict], list[dict], list[dict]]:
    """Notebook 01's training, validation and test instructions (notebook 05 trains and tests on the same)."""
    return (load_instructions("train", profile.sft_tasks, limit_per_task=profile.sft_train_per_task),
            load_instructions("val", profile.sft_tasks, limit_per_task=profile.eval_per_task // 2),
            load_instructions("test", profile.sft_tasks, limit_per_task=profile.eval_per_task))
