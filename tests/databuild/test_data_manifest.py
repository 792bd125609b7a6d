import shutil

from ftlab.build import manifest
from ftlab.core.corpus import HELDOUT_EVERY, is_heldout, load_general
from ftlab.core.paths import DATA_DIR


def test_every_committed_data_file_matches_its_manifest_entry():
    assert manifest.verify() == []


def test_manifest_names_source_version_licence_and_builder_for_every_file():
    for entry in manifest.load_manifest():
        assert all("==" in s for s in entry["sources"]), entry
        assert entry["licence"] and entry["command"].startswith("python -m ftlab")
        assert len(entry["sha256"]) == 64 and entry["rows"] > 0


def test_verify_detects_a_changed_file(tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(DATA_DIR, copy)
    target = copy / manifest.load_manifest()[0]["path"]
    target.write_bytes(target.read_bytes()[:-10])
    problems = manifest.verify(copy / "MANIFEST.json")
    assert any("sha256" in p for p in problems)


def test_general_corpus_is_big_enough_and_split_by_the_hash_rule():
    entries = {e["path"]: e for e in manifest.load_manifest()}
    chars = entries["general/train.jsonl.gz"]["chars"] + entries["general/heldout.jsonl.gz"]["chars"]
    assert chars >= 10_000_000
    heldout = load_general("heldout")
    assert all(is_heldout(d["id"]) for d in heldout)
    train_ids = {d["id"] for d in load_general("train", limit=20_000)}
    assert not train_ids & {d["id"] for d in heldout}
    share = len(heldout) / (len(heldout) + entries["general/train.jsonl.gz"]["rows"])
    assert abs(share - 1 / HELDOUT_EVERY) < 0.005
    assert {d["source"] for d in heldout} == {"wikipedia", "wordnet"}
