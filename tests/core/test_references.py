"""Stored references (bench/results): every file is known, records where it came from, and is current — its
fingerprint of code and data matches today's — so a stale reference is caught here, without training anything."""
import json
from pathlib import Path

import pytest

import ftlab.core.provenance as provenance
from ftlab.core.provenance import (RESULTS_DIR, changes, fingerprint, fingerprint_of, import_closure, normalized_source,
                                    reference_for)

FILES = sorted(RESULTS_DIR.glob("*.json"))
PROVENANCE_FIELDS = ("command", "commit", "dirty", "date", "versions", "python", "precision", "hardware")


def test_there_are_references_to_check():
    assert len(FILES) >= 10, [f.name for f in FILES]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_reference_is_current(path):
    """Fails after any change to the code the file's producer imports, or to data/ and models/: re-certify it
    (`python bench/references.py certify NAME`) or remake it with the command the message names."""
    saved = json.loads(path.read_text())
    changed = changes(saved.get("fingerprint"), fingerprint_of(path))
    how = (f"python bench/references.py certify {path.name}" if reference_for(path).certifiable
           else reference_for(path).remake)
    assert not changed, f"{path.name} is stale ({'; '.join(changed[:5])}): {how}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_reference_records_its_provenance(path):
    p = json.loads(path.read_text()).get("provenance", {})
    missing = [f for f in PROVENANCE_FIELDS if f not in p]
    assert not missing, f"{path.name} lacks provenance fields {missing}"
    assert p["versions"]["torch"] and p["versions"]["transformers"] and p["commit"], p


@pytest.mark.parametrize("path", [f for f in FILES if f.name.startswith("seeds_")], ids=lambda p: p.name)
def test_stored_seeds_hold_every_arm_and_seed_from_one_code_version(path):
    from ftlab.core.profiles import PROFILES, in_fp32

    saved = json.loads(path.read_text())
    key = saved["key"]
    profile = in_fp32(PROFILES[key["profile"]]) if key["precision"] == "fp32" else PROFILES[key["profile"]]
    jobs = {(r["arm"], r["seed"]) for r in saved["rows"]}
    arms = {a for a, _ in jobs}
    assert jobs == {(a, s) for a in arms for s in profile.seeds}, f"{path.name}: runs {sorted(jobs)}"
    assert len(saved["rows"]) == len(jobs), f"{path.name} holds a run twice"


def test_a_file_no_reference_names_is_refused():
    with pytest.raises(Exception, match="no entry in ftlab.core.provenance.REFERENCES"):
        reference_for(Path("bench/results/mystery.json"))


def test_the_fingerprint_ignores_docstrings_and_comments_but_not_code(tmp_path):
    one = tmp_path / "one.py"
    one.write_text('"""Doc."""\nX = 1  # a comment\n\ndef f():\n    """Doc."""\n    return X + 1\n')
    same = tmp_path / "same.py"
    same.write_text('"""Another doc."""\n\nX = 1\n\n\ndef f():\n    return X + 1  # reworded\n')
    changed = tmp_path / "changed.py"
    changed.write_text('"""Doc."""\nX = 1\n\ndef f():\n    return X + 2\n')
    assert normalized_source(one) == normalized_source(same)
    assert normalized_source(one) != normalized_source(changed)


def test_the_import_closure_follows_imports_inside_functions(tmp_path, monkeypatch):
    package = tmp_path / "ftlab"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from .b import g\n    return g()\n")
    (package / "b.py").write_text("from ftlab import c\n\ndef g():\n    return c.h()\n")
    (package / "c.py").write_text("def h():\n    return 1\n")
    (package / "d.py").write_text("import ftlab.a\n")
    monkeypatch.setattr(provenance, "PACKAGE_DIR", package)
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    assert import_closure(["ftlab.a"]) == ["ftlab.a", "ftlab.b", "ftlab.c"]
    before = provenance.code_fingerprint(["ftlab.a"])
    (package / "c.py").write_text("def h():\n    return 2\n")  # a one-line change two imports away
    after = provenance.code_fingerprint(["ftlab.a"])
    assert changes({"code": before, "data": {}}, {"code": after, "data": {}}) == ["ftlab/c.py changed"]


def test_every_training_experiment_fingerprints_the_training_code():
    """The modules a training run goes through are in every seeds file's fingerprint."""
    for ref in provenance.REFERENCES[:6]:
        closure = import_closure(ref.roots)
        assert {"ftlab.core.train", "ftlab.core.models", "ftlab.core.speed.attention", "ftlab.core.evaluate", "ftlab.core.data"} <= set(closure), ref


@pytest.mark.parametrize("name", ["01-sft", "03-forgetting", "05-peft", "06-domain"])  # 02 and 07 train to build
def test_stored_seeds_were_made_with_todays_settings_and_rows(name):
    """The key (the profile's settings and the experiment's rows) the notebook will ask for is the stored one,
    and every row holds the metrics its twin comparison reads."""
    from ftlab.core.profiles import active
    from ftlab.tools.experiments import experiment

    exp = experiment(name, active("tiny"))
    saved = json.loads(exp.path.read_text())
    assert saved["key"] == exp.key, f"{exp.path.name} was made for other settings or rows: python bench/stored_seeds.py {name}"
    for row in saved["rows"]:
        assert all(isinstance(row[m], (int, float)) for m in exp.tolerance), (row["arm"], row["seed"])


# --- the fingerprint machinery on a package and repository built here (hand-worked expectations) -----------------

import ast  # noqa: E402
import hashlib  # noqa: E402
import sys  # noqa: E402

from ftlab.core.provenance import Reference, StaleReference


def sha12(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    """tmp/ftlab (a, b, c, sub/), tmp/bench, tmp/data, tmp/models, tmp/notebooks, as ftlab.core.provenance sees them."""
    package = tmp_path / "ftlab"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import os\nimport ftlab.b\n\ndef f():\n    from ftlab import c\n    return c\n")
    (package / "b.py").write_text("from .c import h\n")
    (package / "c.py").write_text("def h():\n    return 1\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "m.py").write_text("from .. import a\nfrom ..b import h\nfrom . import n\n")
    (package / "sub" / "n.py").write_text("X = 1\n")
    (tmp_path / "bench" / "results").mkdir(parents=True)
    for name, value in (("PACKAGE_DIR", package), ("REPO_ROOT", tmp_path), ("DATA_DIR", tmp_path / "data"),
                        ("MODELS_DIR", tmp_path / "models"), ("RESULTS_DIR", tmp_path / "bench" / "results"),
                        ("PACKAGE_DATA", {}),
                        ("REFERENCES", (Reference("seeds_t_*.json", ("ftlab.a",), "python remake.py t"),
                                        Reference("time_*.json", ("ftlab.c",), "python time.py", certifiable=False)))):
        monkeypatch.setattr(provenance, name, value)
    return tmp_path


def test_reference_for_matches_the_file_name_patterns():
    ref = reference_for(Path("/anywhere/seeds_05-peft_tiny_fp32.json"))
    assert ref.roots == ("ftlab.lessons.peft_comparison",) and ref.remake == "python bench/stored_seeds.py 05-peft"
    assert ref.certifiable
    assert reference_for("course_time_tiny.json").certifiable is False
    with pytest.raises(Exception) as err:
        reference_for("mystery.json")
    assert str(err.value) == ("mystery.json: no entry in ftlab.core.provenance.REFERENCES names this file, so nobody can "
                              "tell whether it is current; add one (its producing module or script and its command)")


def test_module_paths_and_names(fake_repo):
    package = fake_repo / "ftlab"
    assert provenance._module_path("ftlab") == package / "__init__.py"
    assert provenance._module_path("ftlab.a") == provenance._module_path("a") == package / "a.py"
    assert provenance._module_path("ftlab.sub") == package / "sub" / "__init__.py"
    assert provenance._module_path("ftlab.sub.m") == package / "sub" / "m.py"
    assert provenance._module_path("ftlab.nope") is None and provenance._module_path("ftlab.a.f") is None
    assert provenance._module_name(package / "a.py") == "ftlab.a"
    assert provenance._module_name(package / "sub" / "m.py") == "ftlab.sub.m"
    assert provenance._module_name(package / "sub" / "__init__.py") == "ftlab.sub"
    assert provenance._module_name(package / "__init__.py") == "ftlab"


def test_imported_modules_absolute_relative_and_inside_functions(fake_repo):
    package = fake_repo / "ftlab"
    # `import os` is not ftlab's; `from ftlab import c` inside a function names the module ftlab.c
    assert provenance._imported_modules(package / "a.py") == {"ftlab.b", "ftlab.c"}
    assert provenance._imported_modules(package / "b.py") == {"ftlab.c"}  # `from .c import h`: h is no module
    # from ftlab/sub/m.py: `from .. import a` -> ftlab.a, `from ..b import h` -> ftlab.b, `from . import n` -> the
    # package ftlab.sub (imported first) and ftlab.sub.n
    assert provenance._imported_modules(package / "sub" / "m.py") == {"ftlab.a", "ftlab.b", "ftlab.sub",
                                                                       "ftlab.sub.n"}
    script = fake_repo / "bench" / "s.py"
    script.write_text("from . import x\nfrom ftlab.sub import m\nimport ftlab\n")  # relative: not ftlab's
    assert provenance._imported_modules(script) == {"ftlab.sub", "ftlab.sub.m"}


def test_a_subpackage_init_reads_relative_imports_from_its_own_package(fake_repo):
    """In ftlab/sub/__init__.py, `from .n import x` reads ftlab.sub.n (the package is the __init__ itself), and
    `from .. import a` reads ftlab.a; from a plain module one level is one package up."""
    init = fake_repo / "ftlab" / "sub" / "__init__.py"
    init.write_text("from .n import x\nfrom .. import a\n")
    assert provenance._imported_modules(init) == {"ftlab.sub.n", "ftlab.a"}
    assert "ftlab.sub.n" in import_closure(["ftlab.sub"])


def test_import_closure_of_modules_scripts_and_the_whole_package(fake_repo):
    assert import_closure(["ftlab.a"]) == ["ftlab.a", "ftlab.b", "ftlab.c"]
    assert import_closure(["ftlab.sub.m"]) == ["ftlab.a", "ftlab.b", "ftlab.c", "ftlab.sub", "ftlab.sub.m",
                                               "ftlab.sub.n"]
    (fake_repo / "bench" / "s.py").write_text("import ftlab.c\n")
    assert import_closure(["bench/s.py"]) == ["ftlab.c"]  # a script's imports, not the script
    assert import_closure(["ftlab.nope"]) == []
    assert import_closure(["ftlab"]) == ["ftlab", "ftlab.a", "ftlab.b", "ftlab.c", "ftlab.sub", "ftlab.sub.m",
                                         "ftlab.sub.n"]
    (fake_repo / "ftlab" / "c.py").write_text("import ftlab.a\n")  # a cycle ends
    assert import_closure(["ftlab.c"]) == ["ftlab.a", "ftlab.b", "ftlab.c"]


def test_normalized_source_drops_only_docstrings(tmp_path):
    def norm(text):
        path = tmp_path / "x.py"
        path.write_text(text)
        return normalized_source(path)

    assert norm("x = 1\n") == ast.dump(ast.parse("x = 1\n"), annotate_fields=False, include_attributes=False)
    assert norm('def f():\n    """Only a docstring."""\n') == norm("def f():\n    pass\n")
    assert norm('class A:\n    """Doc."""\n    x = 1\n') == norm("class A:\n    x = 1\n")
    assert norm('async def f():\n    """Doc."""\n    return 1\n') == norm("async def f():\n    return 1\n")
    assert norm("def f():\n    42\n    return 1\n") != norm("def f():\n    return 1\n")  # not a string: code
    assert norm('def f():\n    x = 1\n    "late"\n') != norm("def f():\n    x = 1\n")  # not first: code
    assert norm('if X:\n    "s"\n') != norm("if X:\n    pass\n")  # only modules, classes and functions have docs


def test_digest_and_notebook_code(tmp_path):
    assert provenance._digest(b"abc") == "ba7816bf8f01"  # SHA-256 of "abc": ba7816bf8f01cfea…
    book = tmp_path / "n.ipynb"
    book.write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["a = 1\n", "b = 2"]},
                                          {"cell_type": "markdown", "source": ["# Title"]},
                                          {"cell_type": "code", "source": ["c = 3"]}]}))
    assert provenance.notebook_code(book) == "a = 1\nb = 2\n# ---\nc = 3"


def test_code_fingerprint_covers_closure_scripts_notebooks_and_package_data(fake_repo, monkeypatch):
    package = fake_repo / "ftlab"
    (fake_repo / "bench" / "s.py").write_text("import ftlab.c\n")
    (fake_repo / "notebooks").mkdir()
    (fake_repo / "notebooks" / "01.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["x"]}]}))
    (package / "shapes").mkdir()
    (package / "shapes" / "m.json").write_text("{}")
    monkeypatch.setattr(provenance, "PACKAGE_DATA", {"ftlab.c": ("shapes",), "ftlab.sub.n": ("sub",)})
    got = provenance.code_fingerprint(["bench/s.py", "notebooks"])
    assert got == {"bench/s.py": sha12(normalized_source(fake_repo / "bench" / "s.py").encode()),
                   "ftlab/c.py": sha12(normalized_source(package / "c.py").encode()),
                   "ftlab/shapes/m.json": sha12(b"{}"),
                   "notebooks/01.ipynb": sha12(b"x")}
    assert list(got) == sorted(got)
    assert list(provenance.code_fingerprint(["ftlab.b"])) == ["ftlab/b.py", "ftlab/c.py", "ftlab/shapes/m.json"]


def test_data_fingerprint_hashes_every_data_and_model_file_but_readmes(fake_repo):
    (fake_repo / "data" / "sub").mkdir(parents=True)
    (fake_repo / "models").mkdir()
    (fake_repo / "data" / "a.jsonl").write_bytes(b"1\n")
    (fake_repo / "data" / "README.md").write_text("about")
    (fake_repo / "data" / "sub" / "b.txt").write_bytes(b"2")
    (fake_repo / "models" / "m.bin").write_bytes(b"\x00")
    expected = {"data/a.jsonl": sha12(b"1\n"), "data/sub/b.txt": sha12(b"2"), "models/m.bin": sha12(b"\x00")}
    assert provenance.data_fingerprint() == expected
    assert fingerprint(["ftlab.c"]) == {"code": {"ftlab/c.py": sha12(normalized_source(
        fake_repo / "ftlab" / "c.py").encode())}, "data": expected}


def test_changes_name_each_changed_new_and_gone_file():
    no = ["the file records no fingerprint (made before fingerprints existed)"]
    assert changes(None, {"code": {}, "data": {}}) == no and changes({}, {"code": {}, "data": {}}) == no
    recorded = {"code": {"a": "1", "b": "2", "z": "0"}, "data": {"d": "x", "e": "y"}}
    current = {"code": {"a": "1", "b": "3", "c": "4"}, "data": {"e": "y2"}}
    assert changes(recorded, current) == ["b changed", "c is new", "z is gone", "e changed", "d is gone"]
    assert changes({"code": {"a": "1"}}, {"code": {"a": "1"}, "data": {"d": "x"}}) == ["d is new"]
    assert changes(recorded, recorded) == []


def test_require_current_and_load(fake_repo, monkeypatch):
    path = fake_repo / "bench" / "results" / "seeds_t_tiny.json"
    record = {"x": 1, "fingerprint": fingerprint(["ftlab.a"])}
    assert provenance.require_current(record, path) is record
    path.write_text(json.dumps(record))
    assert provenance.load("seeds_t_tiny.json") == record
    (fake_repo / "ftlab" / "c.py").write_text("def h():\n    return 2\n")
    with pytest.raises(StaleReference) as err:
        provenance.load("seeds_t_tiny.json")
    assert str(err.value) == ("bench/results/seeds_t_tiny.json is stale: ftlab/c.py changed. `python "
                              "bench/references.py certify seeds_t_tiny.json` re-runs a sample and, if it reproduces "
                              "the stored numbers, records the new fingerprint; else remake it with `python "
                              "remake.py t`")
    with pytest.raises(FileNotFoundError) as err:
        provenance.load("seeds_t_other.json")
    assert str(err.value) == "bench/results/seeds_t_other.json is missing: make it with `python remake.py t`"


def test_a_stale_reference_lists_six_changes_and_counts_the_rest(fake_repo, tmp_path_factory):
    recorded = {"code": {f"f{i}": "old" for i in range(8)}, "data": {}}
    outside = tmp_path_factory.mktemp("elsewhere") / "time_1.json"  # not under the repository: named as given
    with pytest.raises(StaleReference) as err:
        provenance.require_current({"fingerprint": recorded}, outside)
    # today's fingerprint of ("ftlab.c",) holds ftlab/c.py only: it is new (new files are listed before gone ones),
    # f0..f7 are gone: 9 lines, 6 shown
    assert str(err.value) == (f"{outside} is stale: ftlab/c.py is new; f0 is gone; f1 is gone; f2 is gone; f3 is "
                              "gone; f4 is gone; and 3 more. remake it with `python time.py`")


def test_describe_names_date_command_commit_precision_and_hardware():
    record = {"provenance": {"date": "2026-12-01 10:00 UTC", "command": "python x.py", "commit": "abcdef123456",
                             "dirty": True, "precision": "fp32", "hardware": "2 cores"}}
    assert provenance.describe(record) == ("stored 2026-12-01 10:00 UTC by `python x.py` at commit abcdef1+changes, "
                                           "fp32, on 2 cores")
    record["provenance"]["dirty"] = False
    assert "at commit abcdef1, fp32" in provenance.describe(record)
    assert provenance.describe({}) == "stored ? by `?` at commit ?, ?, on ?"


def test_command_line_leaves_out_the_repository_path(fake_repo, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/opt/env/bin/python3")
    monkeypatch.setattr(sys, "argv", [str(fake_repo / "bench" / "x.py"), "--seeds", "0", "/elsewhere/y.py"])
    monkeypatch.delenv("FTLAB_PROFILE", raising=False)
    monkeypatch.delenv("FTLAB_BF16", raising=False)
    assert provenance.command_line() == "python3 bench/x.py --seeds 0 /elsewhere/y.py"
    monkeypatch.setenv("FTLAB_PROFILE", "smol")
    monkeypatch.setenv("FTLAB_BF16", "on")
    assert provenance.command_line() == "FTLAB_PROFILE=smol FTLAB_BF16=on python3 bench/x.py --seeds 0 /elsewhere/y.py"


def test_certifying_a_sweep_reruns_it_on_the_profile_it_was_made_for(tmp_path, monkeypatch):
    """A smol sweep certified from a shell with no FTLAB_PROFILE must re-run SmolLM2's points, not the tiny
    model's (a session once certified it against the tiny model and saw every loss 'move')."""
    import importlib.util
    import shutil

    from ftlab.core.paths import REPO_ROOT

    spec = importlib.util.spec_from_file_location("peft_lr_sweep", REPO_ROOT / "bench" / "peft_lr_sweep.py")
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    monkeypatch.delenv("FTLAB_PROFILE", raising=False)
    saved = json.loads((REPO_ROOT / "bench" / "results" / "peft_lr_sweep_smol.json").read_text())
    path = tmp_path / "peft_lr_sweep_smol.json"
    shutil.copy(REPO_ROOT / "bench" / "results" / "peft_lr_sweep_smol.json", path)
    used = []

    def point(profile, method, lr, train, val, seed):
        used.append(profile.name)
        return saved["losses"][method][f"{lr:g}"]
    monkeypatch.setattr(sweep, "sweep_point", point)
    sweep.certify(path)
    assert used and set(used) == {"smol"}


PROFILES_SOURCE = '''
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    steps: int = {default}


PROFILES: dict[str, Profile] = {{
    "tiny": Profile(steps={tiny}),
    "smol": Profile(steps={smol}),
}}
'''


@pytest.mark.parametrize("edit, stale", [
    ({"smol": 13}, {"seeds_p_smol_fp32.json", "memory.json"}),
    ({"tiny": 101}, {"seeds_p_tiny_fp32.json", "memory.json"}),
    ({"default": 61}, {"seeds_p_tiny_fp32.json", "seeds_p_smol_fp32.json", "memory.json"}),
])
def test_a_profiles_entry_stales_only_that_profiles_references(fake_repo, monkeypatch, edit, stale):
    """A reference named for a profile depends on its own entry of PROFILES and the Profile class, not on the
    other profiles' entries; one named for no profile depends on the whole module."""
    core = fake_repo / "ftlab" / "core"
    core.mkdir()
    (core / "__init__.py").write_text("")
    values = {"default": 60, "tiny": 100, "smol": 12}
    (core / "profiles.py").write_text(PROFILES_SOURCE.format(**values))
    monkeypatch.setattr(provenance, "REFERENCES", (
        Reference("seeds_p_*.json", ("ftlab.core.profiles",), "python remake.py p"),
        Reference("memory.json", ("ftlab.core.profiles",), "python memory.py")))
    names = ("seeds_p_tiny_fp32.json", "seeds_p_smol_fp32.json", "memory.json")
    assert [provenance.profile_of(n) for n in names] == ["tiny", "smol", None]
    before = {n: fingerprint_of(n) for n in names}
    (core / "profiles.py").write_text(PROFILES_SOURCE.format(**{**values, **edit}))
    assert {n for n in names if changes(before[n], fingerprint_of(n))} == stale
