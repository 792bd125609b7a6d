"""Experiment tracking (ftlab.tools.tracking): two real tiny SFT runs are logged into trackio from their run cards,
read back through trackio, logged only once however often the sync runs, and shown by `ftlab dashboard` in a real
browser (Debian's headless Chromium through Playwright), whose screenshot is the README's."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tiny_sft_run
from browser_support import CHROMIUM, CHROMIUM_ARGS, free_port, missing_browser, stop, under_ci, wait_until_serving

from ftlab.core.paths import REPO_ROOT
from ftlab.tools.tracking import SUMMARY_KEYS, find_cards

DOCS_SCREENSHOT = REPO_ROOT / "docs" / "trackio_dashboard.png"  # refreshed with FTLAB_DOCS_SCREENSHOT=1
STEPS = 4
START_TIMEOUT_S = 120

# Reads a trackio project back in a process of its own (trackio fixes its folder when first imported).
READ_BACK = """
import json, sys, trackio
from trackio.sqlite_storage import SQLiteStorage
project = sys.argv[1]
print(json.dumps({run.name: {"config": run.config, "logs": SQLiteStorage.get_logs(project, run.name)}
                  for run in trackio.Api().runs(project)}))
"""


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    """A runs folder holding two real tiny SFT runs (seeds 0 and 1) and their run cards."""
    runs = tmp_path_factory.mktemp("tracked") / "runs"
    for seed in (0, 1):
        tiny_sft_run.train(runs / f"sft-seed{seed}", seed=seed, steps=STEPS)
    return runs


def ftlab(*args: str, runs: Path, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FTLAB_RUNS": str(runs)}
    env.pop("TRACKIO_DIR", None)
    command = [sys.executable, "-m", "ftlab", *args]
    if popen:
        return subprocess.Popen(command, env=env, **popen)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def read_back(runs: Path, project: str = "ftlab") -> dict:
    env = {**os.environ, "TRACKIO_DIR": str(runs / "trackio")}
    proc = subprocess.run([sys.executable, "-c", READ_BACK, project], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_card_is_logged_once_with_its_curve_and_settings(two_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(two_runs, runs)
    first = ftlab("track", runs=runs)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "2 run(s) logged, 0 already there" in first.stdout

    tracked = read_back(runs)
    assert sorted(tracked) == ["sft-seed0", "sft-seed1"]
    for name, path in find_cards(runs):
        card = json.loads(path.read_text())
        curve = {row["step"]: row["loss"] for row in card["history"] if "loss" in row}
        logged = {row["step"]: row["loss"] for row in tracked[name]["logs"] if "loss" in row}
        assert len(curve) == STEPS and logged == curve  # every measured step, as the trainer logged it
        assert not any(SUMMARY_KEYS & set(row) for row in tracked[name]["logs"])  # whole-run figures are config
        config = tracked[name]["config"]
        assert config["settings.learning_rate"] == card["settings"]["learning_rate"]
        assert config["seed"] == card["seed"] and config["tokens_per_s"] == card["tokens_per_s"]
        assert config["result.train_loss"] == card["history"][-1]["train_loss"]

    (runs / "broken").mkdir()
    (runs / "broken" / "runcard.json").write_text("{not json")
    again = ftlab("track", runs=runs)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "0 run(s) logged, 2 already there" in again.stdout
    assert f"skipped {runs / 'broken' / 'runcard.json'}: not a readable JSON run card" in again.stdout
    assert sorted(read_back(runs)) == ["sft-seed0", "sft-seed1"]  # nothing logged twice


def test_a_config_with_report_to_reaches_the_trainer_unchanged(tmp_path):
    """ftlab sets its per-run arguments on a learner's SFTConfig; the tracker the learner chose stays."""
    from trl import SFTConfig

    from ftlab.core.device import pick_device
    from ftlab.core.settings import SFTSettings
    from ftlab.core.train import config_for_run

    mine = SFTConfig(output_dir=str(tmp_path), report_to=["trackio"], run_name="my-run", use_cpu=True)
    ran = config_for_run(mine, SFTSettings(seed=3), tmp_path / "run", False, pick_device())
    assert ran.report_to == ["trackio"] and ran.run_name == "my-run" and ran.seed == 3


def dashboard_screenshot(runs: Path, tmp_path: Path, names: list[str], *args: str) -> Path:
    """Start `ftlab dashboard --runs RUNS`, open it in headless Chromium, wait until every run name and the loss
    chart show, and return the screenshot's path."""
    missing = missing_browser()
    assert missing is None, f"CI must run the browser test: {missing}"
    from playwright.sync_api import expect, sync_playwright

    port = free_port()
    log = open(tmp_path / "dashboard.log", "w")
    server = ftlab("dashboard", "--no-browser", "--port", str(port), *args, runs=runs, stdout=log,
                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/?project=ftlab"
    shot = tmp_path / "dashboard.png"
    try:
        wait_until_serving(url, server, START_TIMEOUT_S, tmp_path / "dashboard.log")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(60_000)
            page.goto(url)
            try:
                for name in names:
                    expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=60_000)
                expect(page.get_by_text("loss", exact=True).first).to_be_visible(timeout=60_000)
            finally:
                page.screenshot(path=str(shot))
            browser.close()
    finally:
        stop(server)
        log.close()
    assert shot.stat().st_size > 20_000
    return shot


@pytest.mark.skipif(bool(missing_browser()) and not under_ci(), reason=f"browser test: {missing_browser()}")
def test_the_dashboard_shows_both_runs_in_a_real_browser(two_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(two_runs, runs)
    shot = dashboard_screenshot(runs, tmp_path, ["sft-seed0", "sft-seed1"])
    if os.environ.get("FTLAB_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copy(shot, DOCS_SCREENSHOT)


STUDENTS = ("ana", "ben", "cy")


@pytest.fixture(scope="module")
def class_runs(tmp_path_factory) -> Path:
    """A class's shared runs folder: one folder per student (FTLAB_RUNS=<class>/<student>), each holding that
    student's run of the same exercise, each with its own seed (the class's spread)."""
    runs = tmp_path_factory.mktemp("class") / "runs"
    for seed, student in enumerate(STUDENTS):
        tiny_sft_run.train(runs / student / "01-sft", seed=seed, steps=STEPS)
    return runs


def test_a_class_is_logged_one_group_per_student(class_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(class_runs, runs)
    done = ftlab("track", "--by-student", runs=runs)
    assert done.returncode == 0, done.stderr[-2000:]
    tracked = read_back(runs)
    assert sorted(tracked) == [f"{s}/01-sft" for s in STUDENTS]
    assert {name: run["config"]["_Group"] for name, run in tracked.items()} == \
        {f"{s}/01-sft": s for s in STUDENTS}
    finals = {name: [row["loss"] for row in run["logs"] if "loss" in row][-1] for name, run in tracked.items()}
    assert len(set(finals.values())) == len(STUDENTS), f"three seeds, one loss: {finals}"  # the spread shows


@pytest.mark.skipif(bool(missing_browser()) and not under_ci(), reason=f"browser test: {missing_browser()}")
def test_the_class_dashboard_shows_every_students_run_in_a_real_browser(class_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(class_runs, runs)
    shot = dashboard_screenshot(runs, tmp_path, [f"{s}/01-sft" for s in STUDENTS], "--by-student")
    if os.environ.get("FTLAB_DOCS_SCREENSHOT") == "1":
        shutil.copy(shot, DOCS_SCREENSHOT.with_name("class_dashboard.png"))
