"""`python -m ftlab course`: execute every notebook headless, keep the executed copies and a short report."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from ftlab.core.errors import ConfigError
from ftlab.core.jsonl import atomic_write_text
from ftlab.core.paths import NOTEBOOKS_DIR, REPO_ROOT, runs_dir
from ftlab.core.profiles import active, default_profile_name
from ftlab.tools.report import (
    NotebookEntry,
    collect_cards,
    index_html,
    write_notebook_outputs,
)
from ftlab.tools.tracking import sync


def course_notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks, in order; `only` keeps those whose names start with one of the prefixes. A prefix
    that names no notebook is a ConfigError (a typo would otherwise run nothing and look like a pass)."""
    books = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    unmatched = [p for p in only or [] if not any(b.name.startswith(p) for b in books)]
    if unmatched:
        raise ConfigError(f"no notebook name starts with {', '.join(map(repr, unmatched))}; the notebooks are "
                          f"{', '.join(b.name[:2] for b in books)} (e.g. --only 01 05)")
    return [b for b in books if not only or any(b.name.startswith(p) for p in only)]


KERNEL_ENV_DROPPED = ("MPLBACKEND",)  # a kernel that inherits MPLBACKEND=Agg never shows a plot (no image outputs)


def clear_outputs(nb) -> None:
    """Empty every code cell's outputs, execution count and timing metadata, so that after a run the notebook
    holds only what that run produced: a cell the run never reached shows nothing, not the stored outputs."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)


# A library bar stored in a notebook shows stuck (its widget state is not saved): transformers' model loading bar,
# for a `from_pretrained` a notebook calls itself (ftlab's own loads print one line instead: ftlab.core.progress).
STUCK_BARS = ("Loading weights",)


def _tidy_text(text: str) -> str:
    """Stored text without stuck bars' lines, and with the repository's absolute path dropped from paths inside it."""
    kept = [line for line in text.split("\n") if not any(bar in line for bar in STUCK_BARS)]
    return "\n".join(kept).replace(f"{REPO_ROOT}/", "")


def tidy_for_storage(nb) -> None:
    """What a notebook's stored outputs (those GitHub shows) may hold, applied in place before storing: no output
    that is only a stuck library bar, and no absolute path of the machine that ran it (a run folder that
    `ftlab.core.models.load` was given, say, is shown relative to the repository, as `ftlab.core.paths.relative`
    shows paths)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = _tidy_text(out["text"])
                if not out["text"].strip():
                    continue
            data = out.get("data", {})
            plain = data.get("text/plain", "")
            if any(bar in plain for bar in STUCK_BARS):
                continue
            for mime in [m for m in data if m.startswith("text/")]:
                data[mime] = _tidy_text(data[mime] if isinstance(data[mime], str) else "".join(data[mime]))
            kept.append(out)
        cell["outputs"] = kept


def kernel_env() -> dict[str, str]:
    """The environment a course kernel starts with: this process's, without MPLBACKEND (ipykernel then installs
    the inline backend, and every plot becomes an image output)."""
    return {k: v for k, v in os.environ.items() if k not in KERNEL_ENV_DROPPED}


def mark_stop(nb, index: int | None, error: str) -> str:
    """After a failure: insert a markdown cell after cell `index` (the one that stopped the run) that says so, and
    return the report's line naming that cell and the code cells that did not run. Cells are numbered from 0, as
    in nb.cells and the plots' file names, before the note is inserted."""
    if index is None:
        return f"stopped before any cell ran: {error}"
    later = [i for i in range(index + 1, len(nb.cells)) if nb.cells[i].cell_type == "code"]
    last = len(nb.cells) - 1
    where = f"cell {last}" if later and later[0] == last else f"cells {later[0]}–{last}" if later else ""
    skipped = (f"{where} did not run ({len(later)} code cell(s), left without outputs)" if later
               else "no code cell after it")
    nb.cells.insert(index + 1, nbformat.v4.new_markdown_cell(
        f"**ftlab course: this run stopped at the cell above** ({error}). "
        + (f"The {len(later)} code cell(s) below did not run in this run: they have no outputs."
           if later else "No code cell follows it.")))
    return f"stopped at cell {index}: {error}; {skipped}"


def claim_lines(nb) -> list[str]:
    """Every printed `CLAIM …` line in an executed notebook, each with the indented line below it that gives the
    claim at the other scale (`ftlab.course.notebook.claim`), joined to it."""
    lines: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            for ln in text.splitlines():
                if ln.startswith("CLAIM "):
                    lines.append(ln)
                elif lines and ln.startswith("    at ") and lines[-1].startswith("CLAIM "):
                    lines[-1] += "\n" + ln
    return lines


def _cell_progress(nb, name: str):
    """A tqdm bar over a notebook's code cells and the nbclient hook that advances it."""
    from tqdm.auto import tqdm
    bar = tqdm(total=sum(c.cell_type == "code" for c in nb.cells), desc=name, unit="cell", leave=False)
    return bar, (lambda **_kw: bar.update(1))


def execute(nb, timeout: int | None, on_cell_executed=None) -> tuple[str, str | None]:
    """Run `nb` in place in a fresh kernel (outputs cleared first, MPLBACKEND kept out of the kernel's environment).
    Returns (status, stop line): ("ok", None) or ("FAILED: <error>", "stopped at cell N: …") for a cell error,
    timeout or dead kernel; the notebook then holds the outputs up to the failure and a note after it."""
    clear_outputs(nb)
    started: list[int] = []
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", on_cell_executed=on_cell_executed,
                            on_cell_start=lambda cell, cell_index: started.append(cell_index),
                            resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
    try:
        client.execute(env=kernel_env())
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()  # the traceback's colours
        error = text.splitlines()[-1] if text else type(err).__name__
        return f"FAILED: {error}", mark_stop(nb, started[-1] if started else None, error)
    return "ok", None


def run_course(out_dir: Path, only: list[str] | None = None, timeout: int | None = None,
               store: bool = False, profile: str | None = None, html: bool = True) -> int:
    """Execute notebooks into out_dir; with `store`, a clean run's outputs also replace the notebook's stored ones
    (how the outputs shown on GitHub are refreshed). Every code cell's stored outputs are cleared before the run,
    so the executed copies, REPORT.md and index.html show only what this run measured: a failed, timed-out or
    crashed notebook is written with the outputs of the cells that ran, a note after the cell that stopped it,
    and no outputs below (REPORT.md says which cell stopped it and which did not run). Kernels never inherit
    MPLBACKEND, so plots are images even when the caller set MPLBACKEND=Agg. `timeout`: seconds per cell (None:
    no limit, as large profiles need). `profile` sets FTLAB_PROFILE for the kernels. Besides REPORT.md, writes
    index.html (status, CLAIM lines and every plot), html/ (each notebook), plots/ (every image output) and
    cards/ (the run cards this run wrote). Returns 0 if all ran clean."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if profile:
        active(profile)  # an unknown name fails here, listing the known ones
        os.environ["FTLAB_PROFILE"] = profile
    started_at = time.time()
    title = f"ftlab course run, profile {default_profile_name()}, {time.strftime('%Y-%m-%d %H:%M')}"
    report, failed, entries = [f"# {title}", ""], 0, []
    for path in course_notebooks(only):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        bar, advance = _cell_progress(nb, path.stem)
        try:
            status, stopped = execute(nb, timeout, on_cell_executed=advance)
        finally:
            bar.close()
        failed += status != "ok"
        seconds = time.perf_counter() - start
        nbformat.write(nb, out_dir / path.name)
        if store and status == "ok":
            tidy_for_storage(nb)
            nbformat.write(nb, path)
        print(f"{path.name}: {status} in {seconds:.0f} s" + (f" ({stopped})" if stopped else ""))
        entry = NotebookEntry(path.name, status, seconds, claim_lines(nb), note=stopped or "")
        if html:
            write_notebook_outputs(nb, path.name, out_dir, entry)
        entries.append(entry)
        report += [f"## {path.name} — {status} ({seconds:.0f} s)", *([f"{stopped}. CLAIM lines below are only "
                                                                     "those of cells that ran in this run."]
                                                                   if stopped else []),
                   *[f"- {c}" for c in entry.claims], ""]
    cards = collect_cards(runs_dir(), started_at, out_dir / "cards")
    if cards:
        report += ["## run cards", *[f"- cards/{c.name}" for c in cards], ""]
    tracked = sync(runs_dir())  # every run card, this run's and earlier ones, into trackio (`ftlab dashboard`)
    report += ["## tracking", tracked.summary().replace("\n", "\n- "), ""]
    atomic_write_text(out_dir / "REPORT.md", "\n".join(report) + "\n")
    if html:
        atomic_write_text(out_dir / "index.html", index_html(title, entries, cards, out_dir))
    print(f"executed notebooks, REPORT.md{', index.html' if html else ''} and {len(cards)} run card(s) are in "
          f"{out_dir.resolve()}")
    print(f"{tracked.summary()}\n`ftlab dashboard` shows them")
    return 1 if failed else 0
