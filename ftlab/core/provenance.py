"""Where a stored result came from, and whether it still describes today's code and data.

Everything under bench/results is a stored reference: numbers that would not fit a learner's time budget, made
once by a script. Each file records its provenance (command, commit, date, library versions, precision,
hardware) and a fingerprint of what it depends on:

- code: a hash per ftlab module that the producing module or script imports, directly or through other
  modules, at any level (imports inside functions count). The hash is of the parsed source with docstrings
  removed, so comments and docstrings can change freely, and any other edit is a change. One exception: a file
  made for one profile (its name says which: seeds_01-sft_smol_fp32.json) hashes ftlab/core/profiles.py with the
  other profiles' entries of PROFILES left out, so tuning the `smol` profile does not stale `tiny`'s references.
- data: a hash per file under data/ and models/.

`require_current` compares a file's fingerprint with today's and raises `StaleReference` naming what changed
and the commands that re-certify or remake it (`python bench/references.py`); the notebooks read references
only through it, and tests/core/test_references.py checks every committed file without training anything.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ftlab.core.device import BF16_CPU_FLAGS, cpu_flags, hardware_summary
from ftlab.core.errors import ConfigError
from ftlab.core.paths import DATA_DIR, MODELS_DIR, REPO_ROOT
from ftlab.core.runcard import package_versions

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # ftlab/ (this file is ftlab/core/provenance.py)


RESULTS_DIR = REPO_ROOT / "bench" / "results"


PACKAGE = PACKAGE_DIR.name


HASH_CHARS = 12


# Package data that changes results as code does, by the module that reads it (model shapes: the predictor).
PACKAGE_DATA = {"ftlab.core.memory": ("core/model_configs",)}


# The module whose dict of profiles a per-profile reference hashes only its own entry of (`profile_scoped_source`).
PROFILES_MODULE, PROFILES_NAME = "ftlab.core.profiles", "PROFILES"


class StaleReference(ConfigError):
    """A stored result whose fingerprint no longer matches the code or data it depends on."""


@dataclass(frozen=True)
class Reference:
    """One kind of stored result: the files it names (a glob under bench/results), the modules or scripts
    that produce it (the roots of its code fingerprint), the command that remakes it, and whether
    `bench/references.py certify` can re-certify it by a cheap re-run."""

    pattern: str
    roots: tuple[str, ...]
    remake: str
    certifiable: bool = True


# Every kind of file under bench/results. A file that matches none is an error (tests/core/test_references.py).
REFERENCES = (
    Reference("seeds_01-sft_*.json", ("ftlab.lessons.sft",), "python bench/stored_seeds.py 01-sft"),
    Reference("seeds_02-curation_*.json", ("ftlab.lessons.curation",), "python bench/stored_seeds.py 02-curation"),
    Reference("seeds_03-forgetting_*.json", ("ftlab.lessons.forgetting",), "python bench/stored_seeds.py 03-forgetting"),
    Reference("seeds_05-peft_*.json", ("ftlab.lessons.peft_comparison",), "python bench/stored_seeds.py 05-peft"),
    Reference("seeds_06-domain_*.json", ("ftlab.lessons.domain_tuning",), "python bench/stored_seeds.py 06-domain"),
    Reference("seeds_07-dpo_*.json", ("ftlab.lessons.alignment",), "python bench/stored_seeds.py 07-dpo"),
    Reference("curation_epochs_*.json", ("bench/curation_epochs.py",), "python bench/curation_epochs.py --seeds 0 1 2"),
    Reference("peft_lr_sweep_*.json", ("bench/peft_lr_sweep.py",), "python bench/peft_lr_sweep.py"),
    Reference("memory_cpu.json", ("bench/memory_cpu.py",), "python bench/memory_cpu.py"),
    Reference("domain_smol.json", ("bench/domain_smol.py",), "FTLAB_EXTRAS=smol bash scripts/setup.sh test && "
              "python bench/domain_smol.py"),
    Reference("course_time_*.json", ("bench/course_time.py", "ftlab", "notebooks"),
              "python bench/course_time.py --store", certifiable=False),
)


def reference_for(path: Path | str) -> Reference:
    """The `Reference` a results file belongs to; a file no entry names is a ConfigError."""
    name = Path(path).name
    for ref in REFERENCES:
        if Path(name).match(ref.pattern):
            return ref
    raise ConfigError(f"{name}: no entry in ftlab.core.provenance.REFERENCES names this file, so nobody can tell "
                      "whether it is current; add one (its producing module or script and its command)")


def _module_path(name: str) -> Path | None:
    """The source file of an ftlab module name ('ftlab.core.train' or 'sft'), None if there is none."""
    if name == PACKAGE:
        return PACKAGE_DIR / "__init__.py"
    stem = name.removeprefix(f"{PACKAGE}.")
    path = PACKAGE_DIR / (stem.replace(".", "/") + ".py")
    if path.exists():
        return path
    init = PACKAGE_DIR / stem.replace(".", "/") / "__init__.py"
    return init if init.exists() else None


def _imported_modules(path: Path) -> set[str]:
    """ftlab modules that the file imports anywhere (module level or inside functions), as 'ftlab.x' names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    # a package's __init__ is its own package: `from .x import y` there reads <package>.x
    here = (_module_name(path) + (".__init__" if path.name == "__init__.py" else "")
            if PACKAGE_DIR in path.parents else None)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, here)
            if base is None:
                continue
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # `from ftlab import sft` names a module
    return {m for m in found if m != PACKAGE and _module_path(m) is not None}


def _absolute(node: ast.ImportFrom, here: str | None) -> str | None:
    """The absolute module an ImportFrom reads from, if it is inside ftlab."""
    if node.level == 0:
        return node.module if node.module and node.module.split(".")[0] == PACKAGE else None
    if here is None:
        return None
    parts = here.split(".")[:-node.level] if here.count(".") >= node.level else [PACKAGE]
    return ".".join(parts + ([node.module] if node.module else []))


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_closure(roots: Iterable[str]) -> list[str]:
    """Every ftlab module the roots import, directly or through each other ('ftlab' alone: every module).
    A root is a module name ('ftlab.core.train') or a script path relative to the repository ('bench/x.py')."""
    todo: list[Path] = []
    for root in roots:
        if root == PACKAGE:
            todo += sorted(PACKAGE_DIR.rglob("*.py"))
        elif root.endswith(".py"):
            todo.append(REPO_ROOT / root)
        elif _module_path(root) is not None:
            todo.append(_module_path(root))
    seen: set[str] = set()
    while todo:
        path = todo.pop()
        if PACKAGE_DIR in path.parents:
            name = _module_name(path)
            if name in seen:
                continue
            seen.add(name)
        for module in _imported_modules(path):
            if module not in seen:
                todo.append(_module_path(module))
    return sorted(seen)


def _without_docstrings(tree: ast.AST) -> ast.AST:
    """`tree` with the docstring of its module, classes and functions removed (in place)."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _dump(tree: ast.AST) -> str:
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def normalized_source(path: Path) -> str:
    """The file's syntax tree with docstrings removed: what a code fingerprint hashes (comments, docstrings and
    layout do not count; any other change does)."""
    return _dump(_without_docstrings(ast.parse(path.read_text(), filename=str(path))))


def _profiles_dict(tree: ast.Module) -> ast.Dict | None:
    """The dict literal assigned to PROFILES at the top level of the profiles module, if there is one."""
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if isinstance(target, ast.Name) and target.id == PROFILES_NAME and isinstance(node.value, ast.Dict):
            return node.value
    return None


def profile_names() -> tuple[str, ...]:
    """The profile names PROFILES defines, read from the source (no import: the fingerprint needs no torch)."""
    path = _module_path(PROFILES_MODULE)
    found = _profiles_dict(ast.parse(path.read_text())) if path else None
    return tuple(k.value for k in found.keys if isinstance(k, ast.Constant)) if found else ()


def profile_scoped_source(path: Path, profile: str) -> str:
    """`normalized_source` of the profiles module with every entry of PROFILES but `profile`'s left out: what
    a reference made for one profile depends on (the Profile class and its defaults, and its own entry)."""
    tree = _without_docstrings(ast.parse(path.read_text(), filename=str(path)))
    found = _profiles_dict(tree)
    if found is not None:
        kept = [(k, v) for k, v in zip(found.keys, found.values) if isinstance(k, ast.Constant) and k.value == profile]
        found.keys, found.values = [k for k, _ in kept], [v for _, v in kept]
    return _dump(tree)


def profile_of(path: Path | str) -> str | None:
    """The profile a results file was made for, from its name (seeds_05-peft_smol_fp32.json, domain_smol.json:
    'smol'); None for a file made for no one profile (memory_cpu.json)."""
    parts = set(Path(path).stem.split("_"))
    named = [p for p in profile_names() if p in parts]
    return named[0] if len(named) == 1 else None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:HASH_CHARS]


def notebook_code(path: Path) -> str:
    """A notebook's code cells only (outputs and markdown do not count)."""
    cells = json.loads(path.read_text())["cells"]
    return "\n# ---\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def code_fingerprint(roots: Iterable[str], profile: str | None = None) -> dict[str, str]:
    """{file: hash} over the import closure of `roots`, the scripts among the roots, the package data that
    changes results, and (for the root 'notebooks') every notebook's code cells. With `profile`, the profiles
    module counts only that profile's entry of PROFILES (`profile_scoped_source`)."""
    roots, modules = tuple(roots), import_closure(roots)

    def source(name: str) -> str:
        path = _module_path(name)
        return profile_scoped_source(path, profile) if profile and name == PROFILES_MODULE else normalized_source(path)

    out = {_module_path(name).relative_to(REPO_ROOT).as_posix(): _digest(source(name).encode()) for name in modules}
    for root in roots:
        if root.endswith(".py"):
            out[root] = _digest(normalized_source(REPO_ROOT / root).encode())
        if root == "notebooks":
            for book in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
                out[f"notebooks/{book.name}"] = _digest(notebook_code(book).encode())
    for folder in (f for module, folders in PACKAGE_DATA.items() if module in modules for f in folders):
        for path in sorted((PACKAGE_DIR / folder).rglob("*")):
            if path.is_file():
                out[path.relative_to(REPO_ROOT).as_posix()] = _digest(path.read_bytes())
    return dict(sorted(out.items()))


def data_fingerprint() -> dict[str, str]:
    """{file: hash} of every file under data/ and models/ (the committed data and checkpoint)."""
    out = {}
    for folder in (DATA_DIR, MODELS_DIR):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix != ".md":
                out[path.relative_to(REPO_ROOT).as_posix()] = _digest(path.read_bytes())
    return out


def fingerprint(roots: Iterable[str], profile: str | None = None) -> dict:
    """What a stored result depends on: {"code": {file: hash}, "data": {file: hash}} (`code_fingerprint`)."""
    return {"code": code_fingerprint(roots, profile), "data": data_fingerprint()}


def fingerprint_of(path: Path | str) -> dict:
    """Today's fingerprint for the results file at `path`: its kind's roots, scoped to the profile its name says."""
    return fingerprint(reference_for(path).roots, profile_of(path))


def changes(recorded: dict | None, current: dict) -> list[str]:
    """The files whose hash differs between a recorded fingerprint and today's, as readable lines."""
    if not recorded:
        return ["the file records no fingerprint (made before fingerprints existed)"]
    out = []
    for part in ("code", "data"):
        old, new = recorded.get(part, {}), current[part]
        out += [f"{f} changed" for f in sorted(set(old) & set(new)) if old[f] != new[f]]
        out += [f"{f} is new" for f in sorted(set(new) - set(old))]
        out += [f"{f} is gone" for f in sorted(set(old) - set(new))]
    return out


def git_state() -> dict:
    """The commit HEAD points at, and whether tracked files differ from it (`dirty`)."""
    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain", "-uno"))}


def command_line() -> str:
    """How this process was started, with the repository's own path left out."""
    parts = [sys.executable.rsplit("/", 1)[-1]] + sys.argv
    shown = []
    for part in parts:
        try:
            shown.append(Path(part).resolve().relative_to(REPO_ROOT).as_posix() if "/" in part else part)
        except ValueError:
            shown.append(part)
    env = " ".join(f"{k}={os.environ[k]}" for k in ("FTLAB_PROFILE", "FTLAB_BF16") if os.environ.get(k))
    return f"{env} {' '.join(shown)}".strip()


def provenance(precision: str, command: str | None = None) -> dict:
    """Who made a stored result, where and with what: command, commit, date, versions, precision, hardware."""
    return {"command": command or command_line(), **git_state(), "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "versions": package_versions(), "python": platform.python_version(), "precision": precision,
            "hardware": hardware_summary(), "cpu_bf16_flags": sorted(cpu_flags() & BF16_CPU_FLAGS)}


def stamp(record: dict, path: Path, precision: str, command: str | None = None) -> dict:
    """`record` with its provenance and today's fingerprint (for a results file at `path`)."""
    return {**record, "provenance": provenance(precision, command), "fingerprint": fingerprint_of(path)}


def require_current(record: dict, path: Path) -> dict:
    """`record` (read from `path`) if its fingerprint matches today's code and data; else StaleReference with
    what changed and the commands that re-certify or remake it."""
    ref = reference_for(path)
    changed = changes(record.get("fingerprint"), fingerprint_of(path))
    if changed:
        shown = "; ".join(changed[:6]) + (f"; and {len(changed) - 6} more" if len(changed) > 6 else "")
        how = (f"`python bench/references.py certify {Path(path).name}` re-runs a sample and, if it reproduces "
               f"the stored numbers, records the new fingerprint; else remake it with `{ref.remake}`"
               if ref.certifiable else f"remake it with `{ref.remake}`")
        raise StaleReference(f"{Path(path).relative_to(REPO_ROOT) if REPO_ROOT in Path(path).parents else path} "
                             f"is stale: {shown}. {how}")
    return record


def load(name: str) -> dict:
    """A results file from bench/results, refused when missing or stale (`require_current`)."""
    path = RESULTS_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"{path.relative_to(REPO_ROOT)} is missing: make it with "
                                f"`{reference_for(path).remake}`")
    return require_current(json.loads(path.read_text()), path)


def describe(record: dict) -> str:
    """One line of provenance for a learner: when, how, at which commit, on what."""
    p = record.get("provenance", {})
    commit = (p.get("commit") or "?")[:7] + ("+changes" if p.get("dirty") else "")
    return (f"stored {p.get('date', '?')} by `{p.get('command', '?')}` at commit {commit}, {p.get('precision', '?')}, "
            f"on {p.get('hardware', '?')}")
