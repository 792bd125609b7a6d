"""Test-set contamination: does a test example share a long word n-gram with the training data?

The check GPT-3 (Brown et al. 2020, appendix C) used, at 13-grams: long enough that instruction templates
(at most 9 words here) never match on their own, short enough to catch a copied sentence. Taught in notebooks
01 and 02 (curation must not leak test items into training).
"""

from __future__ import annotations

import re

WORD = re.compile(r"\w+")


def row_text(row: dict) -> str:
    return " ".join(m["content"] for m in row["messages"]) if "messages" in row else row.get("text", "")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(text: str, n: int = 13) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def contaminated(train: list[dict], test: list[dict], n: int = 13) -> list[str]:
    """Ids of test rows sharing at least one n-gram with any training row (short rows compare whole)."""
    seen: set = set()
    whole: set[str] = set()
    for row in train:
        text = row_text(row)
        seen |= ngrams(text, n)
        whole.add(" ".join(words(text)))
    bad = []
    for row in test:
        text = row_text(row)
        grams = ngrams(text, n)
        if (grams and grams & seen) or (not grams and " ".join(words(text)) in whole):
            bad.append(row["id"])
    return bad


def decontaminate(train: list[dict], test: list[dict], n: int = 13) -> tuple[list[dict], list[str]]:
    """Test rows with the contaminated ones removed, and the ids removed."""
    bad = set(contaminated(train, test, n))
    return [r for r in test if r["id"] not in bad], sorted(bad)
