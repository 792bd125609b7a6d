"""The teacher's guide (docs/teaching.md) is made from the stored outputs, the course's measured times and the
teacher's notes; it must be current, and a notebook without notes is refused by name."""
from __future__ import annotations

import pytest
import yaml

from ftlab.core.errors import ConfigError
from ftlab.tools import teaching


def test_the_guide_is_current():
    assert teaching.main(["--check"]) == 0, ("docs/teaching.md is out of date: run `python -m ftlab.tools.teaching` "
                                             "(after `bench/course_time.py --store` or an edit of the notes)")


def test_every_notebooks_section_carries_its_stored_claims_and_time():
    guide = teaching.GUIDE.read_text()
    times = teaching.read_times()
    for book in sorted(teaching.NOTEBOOKS_DIR.glob("*.ipynb")):
        for line in teaching.stored_claims(book):
            assert line in guide, f"{book.name}: {line[:80]} is not in the guide"
        assert f"{times['notebooks'][book.name]['seconds'] / 60:.1f} min (`{book.name}`" in guide


def test_the_shared_server_figures_are_the_measured_one_core_times():
    guide = teaching.GUIDE.read_text()
    one_core = teaching.read_one_core_times()
    for name, seconds in one_core["notebooks"].items():
        assert f"(`{name}`, run top to bottom); on one core of a shared server: {seconds / 60:.1f} min." in guide
    assert f"CI's test run of commit {one_core['tested_commit']}" in guide


def test_without_one_core_times_the_guide_says_the_server_figure_is_not_measured(tmp_path):
    guide = teaching.render(one_core={})
    assert "**On a shared server**: not measured" in guide
    assert "on one core of a shared server" not in guide


def test_a_notebook_without_notes_is_named(tmp_path):
    notes = yaml.safe_load(teaching.NOTES.read_text())
    del notes["05"]["discuss"]
    path = tmp_path / "notes.yaml"
    path.write_text(yaml.safe_dump(notes))
    with pytest.raises(ConfigError, match="missing: 05: discuss"):
        teaching.read_notes(path)
