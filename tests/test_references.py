"""Stored references (bench/results): every file is known, records where it came from, and is current — its
fingerprint of code and data matches today's — so a stale reference is caught here, without training anything."""
import json
from pathlib import Path

import pytest

import ftlab.provenance as provenance
from ftlab.provenance import RESULTS_DIR, changes, fingerprint, import_closure, normalized_source, reference_for

FILES = sorted(RESULTS_DIR.glob("*.json"))
PROVENANCE_FIELDS = ("command", "commit", "dirty", "date", "versions", "python", "precision", "hardware")


def test_there_are_references_to_check():
    assert len(FILES) >= 10, [f.name for f in FILES]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_reference_is_current(path):
    """Fails after any change to the code the file's producer imports, or to data/ and models/: re-certify it
    (`python bench/references.py certify NAME`) or remake it with the command the message names."""
    saved = json.loads(path.read_text())
    changed = changes(saved.get("fingerprint"), fingerprint(reference_for(path).roots))
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
    from ftlab.profiles import PROFILES, in_fp32

    saved = json.loads(path.read_text())
    key = saved["key"]
    profile = in_fp32(PROFILES[key["profile"]]) if key["precision"] == "fp32" else PROFILES[key["profile"]]
    jobs = {(r["arm"], r["seed"]) for r in saved["rows"]}
    arms = {a for a, _ in jobs}
    assert jobs == {(a, s) for a in arms for s in profile.seeds}, f"{path.name}: runs {sorted(jobs)}"
    assert len(saved["rows"]) == len(jobs), f"{path.name} holds a run twice"


def test_a_file_no_reference_names_is_refused():
    with pytest.raises(Exception, match="no entry in ftlab.provenance.REFERENCES"):
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
        assert {"ftlab.sft", "ftlab.models", "ftlab.attention", "ftlab.evaluate", "ftlab.data"} <= set(closure), ref


@pytest.mark.parametrize("name", ["01-sft", "03-forgetting", "05-peft", "06-domain"])  # 02 and 07 train to build
def test_stored_seeds_were_made_with_todays_settings_and_rows(name):
    """The key (the profile's settings and the experiment's rows) the notebook will ask for is the stored one,
    and every row holds the metrics its twin comparison reads."""
    from ftlab.profiles import active
    from ftlab.seedstore import experiment

    exp = experiment(name, active("tiny"))
    saved = json.loads(exp.path.read_text())
    assert saved["key"] == exp.key, f"{exp.path.name} was made for other settings or rows: python bench/stored_seeds.py {name}"
    for row in saved["rows"]:
        assert all(isinstance(row[m], (int, float)) for m in exp.tolerance), (row["arm"], row["seed"])
