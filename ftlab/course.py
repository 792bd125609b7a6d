"""`python -m ftlab course`: execute every notebook headless, keep the executed copies and a short report."""
from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from .jsonl import atomic_write_text
from .paths import NOTEBOOKS_DIR


def course_notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks, in order; `only` keeps those whose names start with one of the prefixes."""
    books = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    return [b for b in books if not only or any(b.name.startswith(p) for p in only)]


def claim_lines(nb) -> list[str]:
    """Every printed `CLAIM …` line in an executed notebook."""
    lines = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            lines += [ln for ln in text.splitlines() if ln.startswith("CLAIM ")]
    return lines


def _cell_progress(nb, name: str):
    """A tqdm bar over a notebook's code cells and the nbclient hook that advances it."""
    from tqdm.auto import tqdm
    bar = tqdm(total=sum(c.cell_type == "code" for c in nb.cells), desc=name, unit="cell", leave=False)
    return bar, (lambda **_kw: bar.update(1))


def run_course(out_dir: Path, only: list[str] | None = None, timeout: int | None = None,
               store: bool = False, profile: str | None = None, html: bool = True) -> int:
    """Execute notebooks into out_dir; with `store`, a clean run's outputs also replace the notebook's stored ones
    (how the outputs shown on GitHub are refreshed). A failed, timed-out or crashed notebook is still written
    with the outputs of the cells that ran. `timeout`: seconds per cell (None: no limit, as large profiles
    need). `profile` sets FTLAB_PROFILE for the kernels. Besides REPORT.md, writes index.html (status, CLAIM
    lines and every plot), html/ (each notebook), plots/ (every image output) and cards/ (the run cards this
    run wrote). Returns 0 if all ran clean."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if profile:
        from .profiles import active
        active(profile)  # an unknown name fails here, listing the known ones
        os.environ["FTLAB_PROFILE"] = profile
    from .paths import runs_dir
    from .profiles import default_profile_name
    from .report import NotebookEntry, collect_cards, index_html, write_notebook_outputs
    started_at = time.time()
    title = f"ftlab course run, profile {default_profile_name()}, {time.strftime('%Y-%m-%d %H:%M')}"
    report, failed, entries = [f"# {title}", ""], 0, []
    for path in course_notebooks(only):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        status = "ok"
        bar, advance = _cell_progress(nb, path.stem)
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3", on_cell_executed=advance,
                           resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            status, failed = f"FAILED: {str(err).strip().splitlines()[-1]}", failed + 1
        finally:
            bar.close()
        seconds = time.perf_counter() - start
        nbformat.write(nb, out_dir / path.name)
        if store and status == "ok":
            nbformat.write(nb, path)
        print(f"{path.name}: {status} in {seconds:.0f} s")
        entry = NotebookEntry(path.name, status, seconds, claim_lines(nb))
        if html:
            write_notebook_outputs(nb, path.name, out_dir, entry)
        entries.append(entry)
        report += [f"## {path.name} — {status} ({seconds:.0f} s)", *[f"- {c}" for c in entry.claims], ""]
    cards = collect_cards(runs_dir(), started_at, out_dir / "cards")
    if cards:
        report += ["## run cards", *[f"- cards/{c.name}" for c in cards], ""]
    atomic_write_text(out_dir / "REPORT.md", "\n".join(report) + "\n")
    if html:
        atomic_write_text(out_dir / "index.html", index_html(title, entries, cards, out_dir))
    print(f"executed notebooks, REPORT.md{', index.html' if html else ''} and {len(cards)} run card(s) are in "
          f"{out_dir.resolve()}")
    return 1 if failed else 0
