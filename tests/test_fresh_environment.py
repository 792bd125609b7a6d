"""Every ftlab module imports in a fresh virtual environment that holds only what pyproject.toml declares for every
install (its dependencies, and theirs, recursively), and nothing the test extra, the smol extra or a developer's
own installs brought along. It catches an import that works here only because something undeclared happens to be
installed, including one a library makes on ftlab's behalf.

Offline: the fresh venv gets no pip and downloads nothing; each declared distribution's installed files (its
RECORD) are linked into the venv's site-packages, so the venv sees exactly the declared set at the versions
installed here. tests/test_environment_files.py checks the same declarations statically, from the source."""
from __future__ import annotations

import importlib.metadata as md
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ftlab.core.paths import REPO_ROOT

PACKAGE_DIR = REPO_ROOT / "ftlab"


def declared_closure() -> dict[str, md.Distribution]:
    """{name: installed distribution} of pyproject's dependencies and everything they require here, recursively,
    with each requirement's markers (and the extras it asks of the next one) evaluated for this Python."""
    wanted = [Requirement(r) for r in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
              ["dependencies"]]
    found: dict[str, md.Distribution] = {}
    while wanted:
        req = wanted.pop()
        name = canonicalize_name(req.name)
        if name in found:
            continue
        found[name] = md.distribution(req.name)
        for line in found[name].requires or []:
            child = Requirement(line)
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                wanted.append(child)
    return found


def link_into(site: Path, dist: md.Distribution) -> int:
    """Symlink every installed file of `dist` that lives in site-packages into `site`; how many were linked."""
    linked = 0
    for file in dist.files or []:
        if file.parts[0] == ".." or file.suffix == ".pyc":
            continue  # scripts in bin/, caches
        target = site / file
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(Path(dist.locate_file(file)).resolve())
            linked += 1
    return linked


def ftlab_modules() -> list[str]:
    """Every module of the ftlab package, by name (the `python -m` entry point left out: importing it runs it)."""
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        if parts[-1] != "__main__":
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_ftlab_module_imports_with_only_the_declared_dependencies(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    closure = declared_closure()
    assert {"torch", "transformers", "trl", "peft", "datasets"} <= set(closure), sorted(closure)
    assert all(link_into(site, dist) for dist in closure.values()), "a declared distribution has no files here"
    python = venv / "bin" / "python"
    probe = ("import importlib, sys\n"
             f"assert not any('site-packages' in p and not p.startswith({str(venv)!r}) for p in sys.path), sys.path\n"
             "failed = []\n"
             "for name in sys.argv[1:]:\n"
             "    try:\n"
             "        importlib.import_module(name)\n"
             "    except Exception as err:\n"
             "        failed.append(f'{name}: {type(err).__name__}: {err}')\n"
             "print('\\n'.join(failed))\n"
             "sys.exit(1 if failed else 0)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PYTHONPATH=str(REPO_ROOT), PYTHONNOUSERSITE="1", HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    modules = ftlab_modules()
    done = subprocess.run([str(python), "-c", probe, *modules], capture_output=True, text=True, env=env,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, (f"with only pyproject's declared dependencies ({len(closure)} distributions), "
                                  f"these ftlab modules do not import:\n{done.stdout}\n{done.stderr[-3000:]}")
    assert len(modules) > 50, modules
