"""`python -m ftlab data build`: rebuild every derived file in data/ and its manifest entries."""
from __future__ import annotations

from .corpus import GENERAL_DIR, build_general
from .jsonl import write_jsonl
from .manifest import entry_for, write_manifest
from .sources import WIKI, WORDNET


def build_all() -> list[str]:
    """Derive the data files from their source packages and record them in data/MANIFEST.json."""
    split = build_general()
    sources = [WIKI.pin, WORDNET.pin]
    licence = f"{WIKI.name}: {WIKI.licence}; {WORDNET.name}: {WORDNET.licence}"
    entries = []
    for name, docs in split.items():
        path = GENERAL_DIR / f"{name}.jsonl.gz"
        write_jsonl(path, docs)
        entries.append(entry_for(path, sources, licence))
    write_manifest(entries)
    return [f"{e.path}: {e.rows} rows, {e.chars:,} chars, sha256 {e.sha256[:12]}…" for e in entries]
