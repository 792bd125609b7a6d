"""ftlab.course.plots: each figure draws the numbers it is given (bar lengths, line points, scales, limits), checked on
the matplotlib objects rather than by eye."""
import math

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ftlab.course import plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _bars(ax):
    return [(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in ax.patches]


def test_loss_curves_one_line_per_run_and_metric_skipping_missing_points():
    curves = {"base": [{"tokens": 1, "train_loss": 3.0, "heldout_loss": None},
                       {"tokens": 2, "train_loss": 2.0, "heldout_loss": 2.5}],
              "sft": [{"tokens": 1, "train_loss": 1.0}]}
    fig = plots.loss_curves(curves, baseline={"unigram": 5.0}, title="T")
    ax = fig.axes[0]
    lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines}
    assert lines["base: train loss"] == ([1, 2], [3.0, 2.0])
    assert lines["base: heldout loss"] == ([2], [2.5])
    assert lines["sft: train loss"] == ([1], [1.0]) and "sft: heldout loss" not in lines
    assert [list(line.get_ydata()) for line in ax.lines if line.get_linestyle() == "--"] == [[5.0, 5.0]]
    assert [t.get_text() for t in ax.texts] == ["unigram"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("tokens", "loss (nats/token)", "T")
    assert ax.lines[0].get_marker() == "."  # few points: marked
    many = plots.loss_curves({"r": [{"step": i, "train_loss": 1.0} for i in range(40)]}, x="step")
    assert many.axes[0].lines[0].get_marker() in ("None", None, "") and many.axes[0].get_xlabel() == "step"


def test_cost_bars_are_the_values_on_a_log_scale():
    rows = [{"model": "A", "stage": "pretraining", "tokens": 2e12, "usd": 1_000_000.0},
            {"model": "B", "stage": "SFT", "tokens": 1e6, "usd": 10.0}]
    ax = plots.cost_bars(rows).axes[0]
    assert [w for _, _, w, _ in _bars(ax)] == [1_000_000.0, 10.0]
    assert ax.get_xscale() == "log" and ax.get_xlim() == pytest.approx((10 / 3, 1_000_000 * 30))
    assert [t.get_text() for t in ax.texts] == [" $1,000,000", " $10"]
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert labels == ["A pretraining\n2e+12 tokens", "B SFT\n1e+06 tokens"]
    colours = [p.get_facecolor() for p in ax.patches]
    assert colours[0] == matplotlib.colors.to_rgba("tab:red") and colours[1] == matplotlib.colors.to_rgba("tab:blue")
    other = plots.cost_bars([dict(rows[1], gpu_hours=2.5)], value="gpu_hours").axes[0]
    assert [t.get_text() for t in other.texts] == [" 2.5"] and other.get_xlabel() == "gpu_hours"


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # matplotlib on the infinite bar
def test_perplexity_bars():
    ax = plots.perplexity_bars({"unigram": 400.0, "tiny": 40.0}).axes[0]
    assert [w for _, _, w, _ in _bars(ax)] == [400.0, 40.0]
    assert ax.get_xlim() == pytest.approx((20.0, 1600.0)) and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.texts] == [" 400.0", " 40.0"]
    inf = plots.perplexity_bars({"diverged": math.inf, "ok": 10.0}).axes[0]  # no limit from an infinite bar
    assert inf.get_xlim()[0] == pytest.approx(5.0)


def test_grouped_bars_positions_heights_and_error_bars():
    groups = {"full": {"x": (0.5, 0.1), "y": (0.7, 0.0)}, "lora": {"x": (0.4, 0.2), "y": (0.6, 0.05)}}
    ax = plots.grouped_bars(groups).axes[0]
    # two groups: width 0.4; centres x - 0.4 + 0.2 + i * 0.4 -> full at -0.2, 0.8; lora at 0.2, 1.2
    centres = [round(x + w / 2, 6) for x, _, w, _ in _bars(ax)]
    assert centres == [-0.2, 0.8, 0.2, 1.2]
    assert [h for *_, h in _bars(ax)] == [0.5, 0.7, 0.4, 0.6]
    caps = [c for c in ax.containers if hasattr(c, "errorbar") and c.errorbar is not None]
    segments = [s for c in caps for s in c.errorbar.lines[2][0].get_segments()]
    assert [round(float(s[1][1] - s[0][1]), 6) for s in segments] == [0.2, 0.0, 0.4, 0.1]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]


def test_memory_bars_stack_the_parts_in_gib_or_mib():
    breakdowns = {"A": {"weights": 2**30, "activations": 2**30, "gradients": 0},
                  "B": {"weights": 2**29}}
    ax = plots.memory_bars(breakdowns, limit_bytes=3 * 2**30).axes[0]
    by_label = {}
    for container in ax.containers:
        by_label[container.get_label()] = [(p.get_x(), p.get_width()) for p in container.patches]
    assert by_label == {"weights": [(0.0, 1.0), (0.0, 0.5)], "activations": [(1.0, 1.0), (0.5, 0.0)]}
    assert ax.get_xlabel() == "GiB"
    assert [list(line.get_xdata()) for line in ax.lines] == [[3.0, 3.0]]
    assert [t.get_text() for t in ax.texts] == ["device: 3 GiB"]
    small = plots.memory_bars({"tiny": {"weights": 3 * 2**20}}).axes[0]
    assert small.get_xlabel() == "MiB" and small.patches[0].get_width() == 3.0 and not small.lines
    fig, ax2 = plt.subplots()
    assert plots.memory_bars({"x": {"weights": 1}}, ax=ax2) is fig  # draws into the axes it is given


def test_sweep_lines_ring_each_minimum():
    ax = plots.sweep_lines({"lora": {1e-3: 2.0, 1e-4: 3.0, 1e-2: 2.5}}).axes[0]
    assert list(ax.lines[0].get_xdata()) == [1e-4, 1e-3, 1e-2] and list(ax.lines[0].get_ydata()) == [3.0, 2.0, 2.5]
    assert [tuple(p) for p in ax.collections[0].get_offsets()] == [(1e-3, 2.0)]
    assert ax.get_xscale() == "log"


def test_pareto_points_with_error_bars_and_names():
    ax = plots.pareto({"lora": (1e5, 0.6, 0.05), "full": (1e7, 0.7, 0.02)}, "params", "accuracy", "P").axes[0]
    assert [t.get_text() for t in ax.texts] == ["lora", "full"]
    assert [tuple(line.get_xydata()[0]) for line in ax.lines if line.get_marker() == "o"] == [(1e5, 0.6), (1e7, 0.7)]
    assert ax.get_xscale() == "log"
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("params", "accuracy", "P")
    fig, ax2 = plt.subplots()
    assert plots.pareto({"a": (1, 1, 0)}, "x", "y", "t", logx=False, ax=ax2) is fig and ax2.get_xscale() == "linear"
