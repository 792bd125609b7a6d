"""Notebook 01's SFT model as a starting point for later notebooks: the run of the profile's first seed, loaded
from the run cache (ftlab.core.speed.sftcache) when notebook 01 trained it on this machine, trained otherwise."""

from __future__ import annotations

from ftlab.core.course_data import course_data
from ftlab.core.profiles import Profile
from ftlab.core.train import fine_tune_and_score

# Notebook 01's name for its well-tuned arm: with the same rows, settings and seed, `fine_tune_and_score(reuse=True)`
# finds notebook 01's model in the cache.
RUN_NAME = "01-sft"


def course_sft_run(profile: Profile, test_rows: list[dict]) -> dict:
    """`fine_tune_and_score`'s result for notebook 01's SFT run (profile's first seed), scored on `test_rows`; its
    "model" and "tokenizer" are the trained model."""
    train, val, _ = course_data(profile)
    return fine_tune_and_score(profile, train, val, test_rows, profile.seeds[0], name=RUN_NAME, reuse=True)
