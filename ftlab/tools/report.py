"""The HTML side of a course run: every executed notebook as HTML, every plot as a PNG, one index.html that
shows each notebook's status, CLAIM lines and plots, and the run cards the run wrote, copied beside them."""

from __future__ import annotations

import base64
import html
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ftlab.core.jsonl import atomic_write_text

CARD_NAMES = ("runcard.json", "training_card.json")


@dataclass
class NotebookEntry:
    """One executed notebook as the report shows it."""

    name: str
    status: str
    seconds: float
    claims: list[str]
    plots: list[Path] = field(default_factory=list)  # relative to the run folder
    html: Path | None = None
    note: str = ""  # after a failure: which cell stopped the run and which cells did not run


def plot_images(nb) -> list[tuple[int, bytes]]:
    """(cell index, PNG bytes) of every image output, in notebook order."""
    images = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {}) if out.get("output_type") in ("display_data", "execute_result") else {}
            if "image/png" in data:
                images.append((index, base64.b64decode(data["image/png"])))
    return images


def save_plots(nb, stem: str, folder: Path) -> list[Path]:
    """Write a notebook's plots as folder/<stem>_cell<i>_<k>.png; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, counts = [], {}
    for index, png in plot_images(nb):
        counts[index] = counts.get(index, 0) + 1
        path = folder / f"{stem}_cell{index:02d}_{counts[index]}.png"
        path.write_bytes(png)
        paths.append(path)
    return paths


def notebook_html(nb) -> str:
    """The executed notebook as one self-contained HTML page (images embedded), via nbconvert."""
    from nbconvert import HTMLExporter
    body, _resources = HTMLExporter().from_notebook_node(nb)
    return body


def collect_cards(runs: Path, since: float, dest: Path) -> list[Path]:
    """Copy every run card under `runs` written at or after `since` (epoch seconds) into dest/, named after the
    run folder that holds it, so a write-up can cite the exact file."""
    copied = []
    if not runs.is_dir():
        return copied
    for name in CARD_NAMES:
        for card in sorted(runs.rglob(name)):
            if card.stat().st_mtime < since or dest in card.parents:
                continue
            dest.mkdir(parents=True, exist_ok=True)
            target = dest / ("__".join(card.relative_to(runs).parent.parts) + f"__{name}")
            shutil.copy2(card, target)
            copied.append(target)
    return copied


def index_html(title: str, entries: list[NotebookEntry], cards: list[Path], run_dir: Path) -> str:
    """index.html: a table of notebooks (status, time, link), then per notebook its CLAIM lines and plots."""
    rows = "".join(
        f"<tr><td>{_link(e.html, e.name, run_dir)}</td><td>{html.escape(e.status)}</td><td>{e.seconds:.0f} s</td>"
        f"<td>{len(e.claims)}</td><td>{len(e.plots)}</td></tr>" for e in entries)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}img{max-width:520px;margin:4px;"
             "border:1px solid #ccc}td,th{padding:2px 10px;text-align:left}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             "<table><tr><th>notebook</th><th>status</th><th>time</th><th>claims</th><th>plots</th></tr>",
             rows, "</table>"]
    for e in entries:
        parts.append(f"<h2>{html.escape(e.name)}</h2>")
        if e.note:
            parts.append(f"<p><b>{html.escape(e.note)}</b>. The CLAIM lines and plots below are only those of the "
                         "cells that ran in this run.</p>")
        if e.claims:
            parts.append("<ul>" + "".join(f"<li><code>{html.escape(c)}</code></li>" for c in e.claims) + "</ul>")
        parts += [f"<a href='{p.as_posix()}'><img src='{p.as_posix()}' alt='{html.escape(p.name)}'></a>"
                  for p in e.plots]
    if cards:
        parts.append("<h2>Run cards</h2><ul>" + "".join(
            f"<li><a href='{c.relative_to(run_dir).as_posix()}'>{html.escape(c.name)}</a></li>" for c in cards)
            + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _link(path: Path | None, text: str, run_dir: Path) -> str:
    if path is None:
        return html.escape(text)
    return f"<a href='{path.relative_to(run_dir).as_posix()}'>{html.escape(text)}</a>"


def write_notebook_outputs(nb, name: str, run_dir: Path, entry: NotebookEntry) -> None:
    """Save one executed notebook's HTML page and plots into the run folder and record them in `entry`."""
    stem = Path(name).stem
    html_path = run_dir / "html" / f"{stem}.html"
    html_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(html_path, notebook_html(nb))
    entry.html = html_path
    entry.plots = [p.relative_to(run_dir) for p in save_plots(nb, stem, run_dir / "plots")]
