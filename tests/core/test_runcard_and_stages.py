import json

import pytest

from ftlab.core import stages
from ftlab.core.settings import PretrainConfig
from ftlab.core.runcard import make_card, read_card, write_card


def test_run_card_records_config_versions_throughput_and_memory(tmp_path):
    card = make_card("demo", PretrainConfig(steps=7), seed=3, tokens=1000, wall_time_s=4.0, metrics={"loss": 1.5})
    path = write_card(card, "demo", tmp_path)
    back = read_card(path)
    assert back["config"]["steps"] == 7 and back["seed"] == 3
    assert back["tokens_per_s"] == pytest.approx(250.0)
    assert back["versions"]["torch"] and back["versions"]["transformers"]
    assert back["peak_memory"]["cpu_peak_rss"] > 10 * 2**20
    assert [p.name for p in tmp_path.iterdir()] == ["demo.json"]  # no temporary file left behind
    json.dumps(back)


def test_six_n_t_and_measured_mfu():
    assert stages.training_flops(2e9, 1e12) == pytest.approx(1.2e22)
    assert stages.measured_mfu(1e6, 1e6, 10.0, 1.2e12) == pytest.approx(0.5)


def test_pretraining_dwarfs_sft_for_the_same_model():
    rows = {(r["model"], r["stage"], r["tokens"]): r for r in stages.cost_table()}
    pre = rows[("Llama-3.1-8B", "pretraining", 15e12)]
    sft = rows[("Llama-3.1-8B", "SFT", stages.sft_tokens(1_000_000))]
    assert pre["usd"] / sft["usd"] == pytest.approx(15e12 / stages.sft_tokens(1_000_000))
    assert pre["gpu_hours"] == pytest.approx(pre["flops"] / (989e12 * 0.4) / 3600)
