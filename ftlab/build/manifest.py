"""data/MANIFEST.json: for every committed data file, its source packages, licence, sha256, rows and builder.

`verify()` is what the tests run: a committed file that no longer matches its manifest entry is an error.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ftlab.core.jsonl import atomic_write_text
from ftlab.core.paths import DATA_DIR

MANIFEST = DATA_DIR / "MANIFEST.json"


BUILD_COMMAND = "python -m ftlab data build"


@dataclass
class ManifestEntry:
    path: str  # relative to data/
    sources: list[str]  # package==version
    licence: str
    sha256: str
    rows: int
    chars: int
    command: str = BUILD_COMMAND


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def count_rows_and_chars(path: Path) -> tuple[int, int]:
    """Rows (non-empty lines) and characters of text in a JSONL(.gz) file's `text`-like fields."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows = chars = 0
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows += 1
                row = json.loads(line)
                chars += _text_chars(row)
    return rows, chars


def _text_chars(row) -> int:
    """Characters of text in a row: its `text`, or the content of its chat `messages`."""
    if not isinstance(row, dict):
        return 0
    if "messages" in row:
        return sum(len(m.get("content", "")) for m in row["messages"] if isinstance(m, dict))
    return len(row.get("text", ""))


def entry_for(path: Path, sources: list[str], licence: str) -> ManifestEntry:
    rows, chars = count_rows_and_chars(path)
    return ManifestEntry(str(path.relative_to(DATA_DIR)), sources, licence, sha256_of(path), rows, chars)


def write_manifest(entries: list[ManifestEntry], path: Path = MANIFEST) -> None:
    """Replace the manifest's entries for these paths, keeping the others (other builders' files)."""
    old = {e["path"]: e for e in load_manifest(path)} if path.exists() else {}
    old.update({e.path: asdict(e) for e in entries})
    body = {"about": "Every file under data/ that ftlab derived, with where it came from. "
                     "Check with `python -m ftlab data verify`.",
            "files": [old[k] for k in sorted(old)]}
    atomic_write_text(path, json.dumps(body, indent=2, ensure_ascii=False) + "\n")


def load_manifest(path: Path = MANIFEST) -> list[dict]:
    return json.loads(Path(path).read_text())["files"]


def verify(path: Path = MANIFEST) -> list[str]:
    """Problems found (empty when every listed file exists and matches its sha256 and row count)."""
    problems = []
    for entry in load_manifest(path):
        file = path.parent / entry["path"]
        if not file.exists():
            problems.append(f"{entry['path']}: listed in the manifest but missing")
            continue
        digest = sha256_of(file)
        if digest != entry["sha256"]:
            problems.append(f"{entry['path']}: sha256 {digest[:12]}… != manifest {entry['sha256'][:12]}…")
            continue
        rows, _ = count_rows_and_chars(file) if file.suffix in (".gz", ".jsonl") else (entry["rows"], 0)
        if rows != entry["rows"]:
            problems.append(f"{entry['path']}: {rows} rows != manifest {entry['rows']}")
    return problems
