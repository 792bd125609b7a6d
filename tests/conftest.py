"""Shared test setup: offline hub, headless plots, few threads, and small fixtures."""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests draw the same examples on every run and machine (a failure reproduces), and keep no example
# database in the repository.
settings.register_profile("ftlab", derandomize=True, database=None, deadline=None)
settings.load_profile("ftlab")

from ftlab.core.corpus import load_general


@pytest.fixture(scope="session")
def small_docs():
    """A few hundred real documents from both sources of the committed corpus."""
    wiki = load_general("train", limit=150, source="wikipedia")
    wordnet = load_general("train", limit=300, source="wordnet")
    return wiki + wordnet


@pytest.fixture(scope="session")
def small_tokenizer(small_docs):
    from ftlab.core.tokenizer import train_bpe
    return train_bpe((d["text"] for d in small_docs), vocab_size=512)


@pytest.fixture(autouse=True)
def _runs_in_tmp(tmp_path, monkeypatch):
    """Run folders and caches go to a temporary folder, never into the repository."""
    monkeypatch.setenv("FTLAB_RUNS", str(tmp_path / "runs"))
