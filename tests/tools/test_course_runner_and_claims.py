import json

import nbformat
import pytest

from ftlab.tools.course_runner import claim_lines, course_notebooks
from ftlab.course.notebook import claim


def test_notebook_claim_prints_the_registry_line_it_returns(capsys, monkeypatch):
    monkeypatch.setenv("FTLAB_PROFILE", "tiny")
    line = claim("00-stage-ratio", pretraining_usd=1e6, sft_usd=10.0)
    assert line.startswith("CLAIM 00-stage-ratio: held — ") and capsys.readouterr().out.strip() == line
    # the other scale below it: a claim computed from published figures gives the same verdict at every scale
    assert line.splitlines()[1] == ("    at 135 M (smol): held — computed from the same figures at every scale")


def test_claim_lines_are_collected_from_executed_outputs():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text="x\nCLAIM a: held — 1\n    at 135 M (smol): held — 2\n  more\n"
                                                "CLAIM b: depends — 3\n")]
    nb.cells = [cell]
    assert claim_lines(nb) == ["CLAIM a: held — 1\n    at 135 M (smol): held — 2", "CLAIM b: depends — 3"]


def test_every_course_notebook_is_numbered_and_stored_with_outputs():
    books = course_notebooks()
    assert books and books[0].name.startswith("00_")
    for path in books:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        first_text = "".join(o.get("text", "") for o in code[0].outputs)
        assert first_text.startswith("ftlab profile: "), path.name  # the first output names the profile
        assert not any(o.output_type == "error" for c in code for o in c.outputs), path.name


def test_a_failing_notebook_is_still_written_with_the_outputs_that_ran(tmp_path, monkeypatch):
    from ftlab.tools import course_runner as course

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print('first cell ran')"), nbformat.v4.new_code_cell("1 / 0"),
                nbformat.v4.new_code_cell("print('never')")]
    books = tmp_path / "books"
    books.mkdir()
    nbformat.write(nb, books / "00_broken.ipynb")
    monkeypatch.setattr(course, "NOTEBOOKS_DIR", books)
    assert course.run_course(tmp_path / "out") == 1
    written = nbformat.read(tmp_path / "out" / "00_broken.ipynb", as_version=4)
    assert "first cell ran" in written.cells[0].outputs[0]["text"]
    assert written.cells[1].outputs[0]["ename"] == "ZeroDivisionError"
    assert written.cells[2].cell_type == "markdown" and "stopped at the cell above" in written.cells[2].source
    assert not written.cells[3].outputs and written.cells[3].execution_count is None
    report = (tmp_path / "out" / "REPORT.md").read_text()
    assert "FAILED" in report and "stopped at cell 1: ZeroDivisionError: division by zero; cell 2 did not run" in report


def _stale(source: str, text: str, count: int):
    """A code cell as the repository stores it: source, an output from an earlier run, its execution count."""
    cell = nbformat.v4.new_code_cell(source, execution_count=count)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return cell


@pytest.mark.parametrize("store", [False, True])
def test_a_failed_run_shows_only_what_it_measured(tmp_path, monkeypatch, store):
    """Issue 30: stored outputs of the cells after a failure (CLAIM lines among them) must not appear in the
    executed copy, REPORT.md or index.html as if this run had produced them; the cells before it show this run's
    outputs; with --store the stored notebook is left as it was."""
    from ftlab.tools import course_runner as course

    nb = nbformat.v4.new_notebook()
    nb.cells = [_stale("print('CLAIM fresh: held - printed by this run')", "CLAIM stale0: held - stored\n", 1),
                nbformat.v4.new_markdown_cell("some prose"),
                _stale("raise RuntimeError('stop here')", "CLAIM stale2: held - stored\n", 2),
                _stale("print('CLAIM late: held - after the failure')", "CLAIM stale3: held - stored\n", 3),
                _stale("x = 1", "stored output without a claim\n", 4)]
    books = tmp_path / "books"
    books.mkdir()
    nbformat.write(nb, books / "00_midway.ipynb")
    stored_before = (books / "00_midway.ipynb").read_text()
    monkeypatch.setattr(course, "NOTEBOOKS_DIR", books)
    out = tmp_path / "out"
    assert course.run_course(out, store=store) == 1

    written = nbformat.read(out / "00_midway.ipynb", as_version=4)
    texts = [o.get("text", "") + o.get("evalue", "") for c in written.cells for o in c.get("outputs", [])]
    assert not any("stale" in t or "stored output" in t for t in texts), texts
    assert written.cells[0].outputs[0]["text"] == "CLAIM fresh: held - printed by this run\n"
    assert written.cells[2].outputs[-1]["ename"] == "RuntimeError"
    assert "stopped at the cell above" in written.cells[3].source  # the note, inserted after the failing cell
    assert [(c.outputs, c.execution_count) for c in written.cells[4:]] == [([], None), ([], None)]
    assert course.claim_lines(written) == ["CLAIM fresh: held - printed by this run"]

    report = (out / "REPORT.md").read_text()
    index = (out / "index.html").read_text()
    for page in (report, index):
        assert "CLAIM fresh: held - printed by this run" in page
        assert "stale" not in page and "CLAIM late" not in page
    assert "stale" not in (out / "html" / "00_midway.html").read_text()  # it shows the sources: CLAIM late is there
    assert "stopped at cell 2: RuntimeError: stop here; cells 3–4 did not run (2 code cell(s)" in report
    assert "stopped at cell 2: RuntimeError: stop here" in index
    assert (books / "00_midway.ipynb").read_text() == stored_before  # only a clean run replaces it


def test_kernels_draw_images_even_when_the_caller_set_mplbackend_agg(tmp_path, monkeypatch):
    """The test suite and `scripts/setup.sh test` set MPLBACKEND=Agg (bench/course_time.py --store used to): a
    kernel that inherited it would install no inline backend, and executed or stored notebooks would hold no plots."""
    from ftlab.tools import course_runner as course

    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])")]
    books = tmp_path / "books"
    books.mkdir()
    nbformat.write(nb, books / "00_plot.ipynb")
    monkeypatch.setattr(course, "NOTEBOOKS_DIR", books)
    assert course.run_course(tmp_path / "out", html=False) == 0
    written = nbformat.read(tmp_path / "out" / "00_plot.ipynb", as_version=4)
    kinds = [(o.output_type, sorted(o.get("data", {}))) for o in written.cells[0].outputs]
    assert any("image/png" in data for _, data in kinds), kinds


def test_course_run_folder_has_html_every_plot_run_cards_and_the_profile(tmp_path, monkeypatch):
    """One small notebook: it sees the chosen profile, prints a CLAIM, draws a plot and writes a run card; the run
    folder gets the executed notebook, REPORT.md, index.html, the notebook's HTML, the PNG and the card, and the
    card is logged into trackio."""
    from ftlab.tools import course_runner as course

    monkeypatch.setenv("FTLAB_PROFILE", "tiny")  # restored afterwards; run_course sets it for the kernels
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os, json, pathlib\n"
        "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
        "import matplotlib.pyplot as plt\n"
        "print('CLAIM demo: held - profile', os.environ['FTLAB_PROFILE'])\n"
        "plt.plot([1, 2, 3]); plt.show()\n"
        "card = pathlib.Path(os.environ['FTLAB_RUNS']) / 'demo-run' / 'runcard.json'\n"
        "card.parent.mkdir(parents=True); card.write_text(json.dumps({'kind': 'demo'}))")]
    books = tmp_path / "books"
    books.mkdir()
    nbformat.write(nb, books / "00_demo.ipynb")
    monkeypatch.setattr(course, "NOTEBOOKS_DIR", books)
    out = tmp_path / "out"
    assert course.run_course(out, profile="smol") == 0
    report = (out / "REPORT.md").read_text()
    assert "CLAIM demo: held - profile smol" in report and "profile smol" in report.splitlines()[0]
    plots = sorted((out / "plots").glob("*.png"))
    assert [p.name for p in plots] == ["00_demo_cell00_1.png"] and plots[0].read_bytes()[:4] == b"\x89PNG"
    index = (out / "index.html").read_text()
    assert "plots/00_demo_cell00_1.png" in index and "html/00_demo.html" in index and "CLAIM demo" in index
    assert "data:image/png;base64" in (out / "html" / "00_demo.html").read_text()
    assert json.loads((out / "cards" / "demo-run__runcard.json").read_text()) == {"kind": "demo"}
    assert "1 run(s) logged, 0 already there" in report  # the card went into trackio (ftlab.tools.tracking)


def test_unknown_profile_is_refused_before_any_notebook_runs(tmp_path):
    from ftlab.tools import course_runner as course
    with pytest.raises(KeyError, match="unknown profile 'huge'"):
        course.run_course(tmp_path / "out", profile="huge")
    assert not (tmp_path / "out" / "REPORT.md").exists()


def test_a_notebook_prefix_that_names_nothing_is_refused_by_the_command(tmp_path, capsys):
    from ftlab.tools.cli import main
    assert main(["course", "--only", "01", "9", "--out", str(tmp_path / "out")]) == 2
    assert "no notebook name starts with '9'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert [b.name[:2] for b in course_notebooks(["01", "05"])] == ["01", "05"]


def test_every_stored_output_belongs_to_a_run_cell():
    """nbval refuses a cell with outputs but no execution count ('Unrun reference cell has outputs')."""
    for path in course_notebooks():
        nb = nbformat.read(path, as_version=4)
        unrun = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.outputs and not c.execution_count]
        assert not unrun, (path.name, unrun)


def test_stored_outputs_lose_stuck_loading_bars_and_the_repositorys_absolute_path():
    from ftlab.core.paths import REPO_ROOT
    from ftlab.tools.course_runner import tidy_for_storage

    run = f"{REPO_ROOT}/runs/07-dpo-sft-0001/sft"
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("policy, _ = models.load(str(sft_dir))")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"loaded {run}: 3.4 M parameters, float32, 0.1 s\n"),
        nbformat.v4.new_output("stream", name="stderr", text="Loading weights:   0%|          | 0/30\r"
                                                             "Loading weights: 100%|##########| 30/30\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "Loading weights:   0%|          | 0/30",
                                                     "application/vnd.jupyter.widget-view+json": {"model_id": "x"}}),
        nbformat.v4.new_output("display_data", data={"text/plain": f"saved to {run}/card.json"}),
    ]
    nb.cells.append(cell)
    tidy_for_storage(nb)
    assert [o.get("text") or o["data"]["text/plain"] for o in nb.cells[0].outputs] == [
        "loaded runs/07-dpo-sft-0001/sft: 3.4 M parameters, float32, 0.1 s\n",
        "saved to runs/07-dpo-sft-0001/sft/card.json"]
