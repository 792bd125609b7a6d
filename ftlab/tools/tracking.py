"""Experiment tracking: the run cards under runs/ logged into trackio, and trackio's dashboard opened on them.

Every ftlab training run writes a run card (ftlab.core.runcard): its settings, the per-step log of the trainer
(loss, evaluation loss, learning rate, ...), the measured tokens/s, MFU, peak memory, hardware and versions.
`sync` logs each card not logged yet as one trackio run (the card's fields as the run's config, its per-step rows
as the run's logs) into a local SQLite project beside the runs (runs/trackio; nothing leaves the machine), and
`show` opens trackio's dashboard on that project (`ftlab dashboard`; `ftlab course` syncs after its notebooks).

Why from the cards rather than `report_to="trackio"` inside the trainer: a card is written by every run ftlab
starts (SFT, DPO, pre-training, the forgetting runs) and can be copied from another machine, it already holds what
a tracker would log, and the training code, hence every stored reference's fingerprint, stays as it is. A run shows
in the dashboard once it has finished. For curves that grow while a run trains, pass your own
`SFTConfig(report_to="trackio")` to ftlab: it reaches TRL unchanged.

trackio reads its folder (the TRACKIO_DIR variable) once, when it is first imported: so `sync` logs in a process
of its own, and this module imports trackio only inside `_trackio`, after setting the folder, and refuses to use
another folder than the one asked for.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ftlab.core.errors import ConfigError
from ftlab.core.paths import runs_dir

PROJECT = "ftlab"
CARD_NAME = "runcard.json"
# The trainer's closing row (whole-run figures, logged once at the last step): config, not a curve.
SUMMARY_KEYS = frozenset({"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos",
                          "train_loss"})


def tracker_dir(runs: Path | None = None) -> Path:
    """Where the tracker's database lives: TRACKIO_DIR when set, else a `trackio` folder inside the runs folder."""
    return Path(os.environ["TRACKIO_DIR"]) if os.environ.get("TRACKIO_DIR") else (runs or runs_dir()) / "trackio"


def _trackio(folder: Path):
    """The trackio module, writing into `folder` (see the module docstring for why it is imported here)."""
    loaded = sys.modules.get("trackio")
    if loaded is not None and Path(loaded.utils.TRACKIO_DIR).resolve() != folder.resolve():
        raise ConfigError(f"trackio was already imported in this process with its folder at "
                          f"{loaded.utils.TRACKIO_DIR}, not {folder}: set TRACKIO_DIR={folder} before importing "
                          "trackio, or run `ftlab track` in a terminal")
    os.environ["TRACKIO_DIR"] = str(folder)
    import trackio
    return trackio


def find_cards(runs: Path) -> list[tuple[str, Path]]:
    """(run name, card path) for every run card under `runs`: the name is the run's folder relative to `runs`."""
    if not runs.is_dir():
        return []
    cards = sorted(runs.rglob(CARD_NAME))
    return [("/".join(card.relative_to(runs).parent.parts) or runs.name, card) for card in cards]


def _flat(prefix: str, value, out: dict) -> None:
    """Nested dicts as dotted keys; lists (the per-step history) are not config."""
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif not isinstance(value, list):
        out[prefix] = value


def run_config(card: dict) -> dict:
    """A card's fields as one flat config: its scalars, `settings.*` (or `config.*`), `mfu.*`, `versions.*`, ...
    and the trainer's whole-run figures as `result.*`."""
    out: dict = {}
    for key, value in card.items():
        if key == "config" and isinstance(card.get("settings"), dict):
            continue  # the same settings twice
        _flat(key, value, out)
    for row in card.get("history") or []:
        out.update({f"result.{k}": v for k, v in row.items() if k in SUMMARY_KEYS})
    return out


def step_logs(card: dict) -> list[tuple[int, dict]]:
    """(step, numeric metrics) for every row of a card's history that holds more than whole-run figures."""
    out = []
    for index, row in enumerate(card.get("history") or []):
        metrics = {k: v for k, v in row.items() if k != "step" and k not in SUMMARY_KEYS
                   and isinstance(v, (int, float)) and not isinstance(v, bool)}
        if metrics:
            out.append((int(row.get("step", index + 1)), metrics))
    return out


@dataclass
class SyncResult:
    folder: Path
    project: str
    logged: list[str] = field(default_factory=list)
    already: int = 0
    unreadable: list[str] = field(default_factory=list)  # 'path: why' for cards that are not a run card's JSON

    def summary(self) -> str:
        line = (f"trackio project '{self.project}' in {self.folder}: {len(self.logged)} run(s) logged, "
                f"{self.already} already there")
        return line + "".join(f"\n  skipped {u}" for u in self.unreadable)


def read_card(path: Path) -> dict:
    """A run card's JSON; ConfigError naming the file and what is wrong when it is not one."""
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not a readable JSON run card ({e})") from e
    if not isinstance(card, dict) or "kind" not in card:
        raise ConfigError(f"{path}: a run card is a JSON object with a 'kind' field (as ftlab.core.runcard "
                          "writes); this file has none")
    return card


def group_of(name: str, card: dict, by_student: bool) -> str:
    """The dashboard group of a run: its kind (sft, dpo, ...), or with `by_student` the first folder of its name,
    the student's, when a class's runs folder holds one folder per student (FTLAB_RUNS=<class folder>/<student>)."""
    return name.split("/", 1)[0] if by_student else str(card.get("kind"))


def log_cards(runs: Path, folder: Path, project: str = PROJECT, progress: bool = True,
              by_student: bool = False) -> SyncResult:
    """Log every run card under `runs` not yet in trackio's `project` (in `folder`) as one trackio run, in this
    process (see `sync`), grouped by `group_of`. Cards already logged (same run name) are left as they are; a
    card that cannot be read is reported in the result and skipped, not fatal."""
    trackio = _trackio(folder)
    result = SyncResult(folder, project)
    try:
        known = {run.name for run in trackio.Api().runs(project)}
    except ValueError:  # trackio: the project does not exist yet
        known = set()
    cards = find_cards(runs)
    todo = [(name, path) for name, path in cards if name not in known]
    result.already = len(cards) - len(todo)
    for name, path in tqdm(todo, desc="logging run cards to trackio", unit="run", disable=not progress or not todo):
        try:
            card = read_card(path)
        except ConfigError as e:
            result.unreadable.append(str(e))
            continue
        with contextlib.redirect_stdout(io.StringIO()):  # trackio prints several lines per run
            trackio.init(project=project, name=name, group=group_of(name, card, by_student),
                         config=run_config(card),
                         auto_log_cpu=False, auto_log_gpu=False, embed=False)
            for step, metrics in step_logs(card):
                trackio.log(metrics, step=step)
            trackio.finish()
        result.logged.append(name)
    return result


def sync(runs: Path | None = None, project: str = PROJECT, folder: Path | None = None,
         progress: bool = True, by_student: bool = False) -> SyncResult:
    """`log_cards` for `runs` (default: the runs folder) into `folder` (default: `tracker_dir`), run in a process
    of its own: trackio's folder is fixed for the life of the process that imports it, so this lets one process
    (the course runner, a test session) sync any number of run folders. Safe to repeat at any time."""
    runs = Path(runs) if runs else runs_dir()
    folder = Path(folder) if folder else tracker_dir(runs)
    command = [sys.executable, "-m", "ftlab.tools.tracking", str(runs), str(folder), project]
    command += ([] if progress else ["--quiet"]) + (["--by-student"] if by_student else [])
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True,
                          env={**os.environ, "TRACKIO_DIR": str(folder)})  # stderr (the bar) passes through
    if proc.returncode != 0:
        raise RuntimeError(f"logging the run cards of {runs} into trackio failed (exit {proc.returncode}): "
                           f"{proc.stdout[-2000:]}")
    saved = json.loads(proc.stdout.strip().splitlines()[-1])
    return SyncResult(**{**saved, "folder": Path(saved["folder"])})


def show(runs: Path | None = None, project: str = PROJECT, port: int | None = None, open_browser: bool = True,
         block: bool = True, by_student: bool = False):
    """Sync, then serve trackio's dashboard on `project` at 127.0.0.1 (until Ctrl-C when `block`). Returns
    (sync result, dashboard URL, the server handle: `.close()` stops it)."""
    runs = Path(runs) if runs else runs_dir()
    result = sync(runs, project, by_student=by_student)
    print(result.summary(), flush=True)  # then this process imports trackio itself, pointed at the same folder
    trackio = _trackio(result.folder)
    with contextlib.redirect_stdout(io.StringIO()):
        server, url, _share, _full = trackio.show(project=project, open_browser=open_browser, block_thread=False,
                                                  host="127.0.0.1", share=False, server_port=port)
    address = f"{url.rstrip('/')}/?project={project}"
    print(f"trackio dashboard of {runs}: {address} (Ctrl-C stops it)" if block else
          f"trackio dashboard of {runs}: {address}", flush=True)
    if block:
        try:
            while True:
                time.sleep(1.0)  # the server runs in a background thread
        except KeyboardInterrupt:
            server.close()
    return result, address, server


def main(argv: list[str] | None = None) -> int:
    """`python -m ftlab.tools.tracking RUNS FOLDER PROJECT [--quiet] [--by-student]`: `log_cards`, its result as
    one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m ftlab.tools.tracking", description=main.__doc__)
    parser.add_argument("runs", type=Path)
    parser.add_argument("folder", type=Path)
    parser.add_argument("project")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--by-student", action="store_true", help="group runs by their first folder")
    args = parser.parse_args(argv)
    result = log_cards(args.runs, args.folder, args.project, progress=not args.quiet,
                       by_student=args.by_student)
    print(json.dumps({**asdict(result), "folder": str(result.folder)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
