"""environment.yml (conda) and pyproject.toml (pip) must name the same dependencies with the same bounds."""
import re
import tomllib

import yaml

from ftlab.paths import REPO_ROOT

CONDA_TO_PIP = {"pytorch": "torch"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement.strip()).groups()
    return CONDA_TO_PIP.get(name.lower(), name.lower()), spec.replace(" ", "")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return dict(_split(r) for r in project["dependencies"] + extras)


def _environment() -> tuple[dict[str, str], dict[str, str]]:
    deps = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())["dependencies"]
    conda = dict(_split(d.replace("=", "==", 1) if re.search(r"[^<>=!]=[^=]", d) else d)
                 for d in deps if isinstance(d, str))
    pip = dict(_split(r) for d in deps if isinstance(d, dict) for r in d["pip"] if not r.startswith("-e"))
    conda.pop("python"), conda.pop("pip")
    return conda, pip


def test_both_files_name_the_same_packages():
    conda, pip = _environment()
    assert set(conda) | set(pip) == set(_pyproject())


def test_pip_entries_carry_the_same_version_bounds():
    _, pip = _environment()
    wanted = _pyproject()
    assert {name: spec for name, spec in pip.items()} == {name: wanted[name] for name in pip}


def test_torch_pin_matches_what_setup_installs():
    """environment.yml's pytorch=X.Y.* and scripts/setup.sh's TORCH_VERSION name the same release line."""
    deps = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())["dependencies"]
    conda_pin = next(d for d in deps if isinstance(d, str) and d.startswith("pytorch")).split("=", 1)[1]
    setup_pin = re.search(r"^TORCH_VERSION=(\S+)$", (REPO_ROOT / "scripts" / "setup.sh").read_text(), re.M).group(1)
    assert setup_pin.startswith(conda_pin.rstrip("*").rstrip(".")), (conda_pin, setup_pin)


def test_test_tools_are_in_both_files():
    """The browser test's playwright (Python package only) is a declared test dependency in both files."""
    conda, pip = _environment()
    assert "playwright" in pip and "playwright" in _pyproject()
