"""`python -m ftlab data build`: rebuild every derived file in data/ and its manifest entries."""

from __future__ import annotations

from dataclasses import replace

from ftlab.build.manifest import BUILD_COMMAND, ManifestEntry, entry_for, sha256_of, write_manifest
from ftlab.build.sql_domain import MENDELEEV, build_database, build_domain
from ftlab.core.contamination import decontaminate
from ftlab.core.corpus import GENERAL_DIR, build_general
from ftlab.core.instructions import CHATTERBOT, COUNTRYINFO, INSTRUCTIONS_DIR, build_instructions
from ftlab.core.jsonl import write_jsonl
from ftlab.core.paths import DATA_DIR
from ftlab.core.sources import WIKI, WORDNET
from ftlab.core.sql import DB_PATH, DOMAIN_DIR

DOMAIN_COMMAND = f"{BUILD_COMMAND} --only domain"


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
    entries += build_instruction_files()
    entries += build_domain_files()
    write_manifest(entries)
    return [f"{e.path}: {e.rows} rows, {e.chars:,} chars, sha256 {e.sha256[:12]}…" for e in entries]


def build_instruction_files() -> list:
    """Instruction splits from the committed corpus + chatterbot + countryinfo; val/test decontaminated."""
    splits = build_instructions()
    removed = {}
    for name in ("val", "test"):
        splits[name], removed[name] = decontaminate(splits["train"], splits[name])
    sources = [WIKI.pin, WORDNET.pin, CHATTERBOT.pin, COUNTRYINFO.pin]
    licence = (f"{WIKI.name}: {WIKI.licence}; {WORDNET.name}: {WORDNET.licence}; "
               f"{CHATTERBOT.name}: {CHATTERBOT.licence}; {COUNTRYINFO.name}: {COUNTRYINFO.licence}")
    entries = []
    for name, rows in splits.items():
        path = INSTRUCTIONS_DIR / f"{name}.jsonl.gz"
        write_jsonl(path, rows)
        entries.append(entry_for(path, sources, licence))
    print(f"instructions: removed as contaminated (13-gram overlap with train): "
          f"val {len(removed['val'])}, test {len(removed['test'])}")
    return entries


def build_domain_files() -> list:
    """Notebook 06's text-to-SQL files: data/domain/elements.db from mendeleev, then the question splits."""
    build_database(DB_PATH)
    splits, report = build_domain(DB_PATH)
    sources, licence = [MENDELEEV.pin], f"{MENDELEEV.name}: {MENDELEEV.licence}"
    entries = [ManifestEntry(str(DB_PATH.relative_to(DATA_DIR)), sources, licence, sha256_of(DB_PATH),
                             report["elements"], 0, DOMAIN_COMMAND)]
    for name, rows in splits.items():
        path = DOMAIN_DIR / f"{name}.jsonl.gz"
        write_jsonl(path, rows)
        entries.append(replace(entry_for(path, sources, licence), command=DOMAIN_COMMAND))
    print(f"domain: held out {', '.join(report['heldout_elements'])} and column(s) "
          f"{', '.join(report['heldout_columns'])}; removed as contaminated: {report['removed_as_contaminated']}")
    return entries


def build_domain_only() -> list[str]:
    """Rebuild only the domain files and their manifest entries, leaving every other entry as it is."""
    entries = build_domain_files()
    write_manifest(entries)
    return [f"{e.path}: {e.rows} rows, {e.chars:,} chars, sha256 {e.sha256[:12]}…" for e in entries]
