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


def run_course(out_dir: Path, only: list[str] | None = None, timeout: int | None = None,
               store: bool = False) -> int:
    """Execute notebooks into out_dir; with `store`, a clean run's outputs also replace the notebook's stored ones
    (how the outputs shown on GitHub are refreshed). A failed, timed-out or crashed notebook is still written
    with the outputs of the cells that ran. `timeout`: seconds per cell (None: no limit, as large profiles
    need). Returns 0 if all ran clean."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report, failed = ["# ftlab course run", ""], 0
    for path in course_notebooks(only):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        status = "ok"
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            status, failed = f"FAILED: {str(err).strip().splitlines()[-1]}", failed + 1
        seconds = time.perf_counter() - start
        nbformat.write(nb, out_dir / path.name)
        if store and status == "ok":
            nbformat.write(nb, path)
        print(f"{path.name}: {status} in {seconds:.0f} s")
        report += [f"## {path.name} — {status} ({seconds:.0f} s)", *[f"- {c}" for c in claim_lines(nb)], ""]
    atomic_write_text(out_dir / "REPORT.md", "\n".join(report) + "\n")
    print(f"executed notebooks and REPORT.md are in {out_dir.resolve()}")
    return 1 if failed else 0
