"""Plots the notebooks show. Each returns the matplotlib Figure, so a notebook can display or save it."""

from __future__ import annotations

import math
import textwrap

import matplotlib.pyplot as plt


def loss_curves(curves: dict[str, list[dict]], x: str = "tokens", ys: tuple[str, ...] = ("train_loss", "heldout_loss"),
                title: str = "Loss", baseline: dict[str, float] | None = None, ylabel: str = "loss (nats/token)"):
    """One line per (run, metric) from history rows; optional horizontal baselines (e.g. unigram loss)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, rows in curves.items():
        for y in ys:
            pts = [(r[x], r[y]) for r in rows if r.get(y) is not None]
            if pts:
                ax.plot(*zip(*pts), label=f"{name}: {y.replace('_', ' ')}", marker="." if len(pts) < 30 else None)
    for label, value in (baseline or {}).items():
        ax.axhline(value, linestyle="--", color="grey")
        ax.annotate(label, (0.01, value), xycoords=("axes fraction", "data"), va="bottom", color="grey")
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cost_bars(rows: list[dict], value: str = "usd", title: str = "Estimated training cost"):
    """Horizontal log-scale bars, one per stage row (model + stage + tokens)."""
    labels = [f"{r['model']} {r['stage']}\n{r['tokens']:.2g} tokens" for r in rows]
    values = [r[value] for r in rows]
    colours = {"pretraining": "tab:red", "SFT": "tab:blue", "domain tuning": "tab:green"}
    fig, ax = plt.subplots(figsize=(7, 0.55 * len(rows) + 1.2))
    ax.barh(labels, values, color=[colours.get(r["stage"], "tab:grey") for r in rows])
    ax.set_xscale("log")
    for i, v in enumerate(values):
        ax.text(v, i, f" ${v:,.0f}" if value == "usd" else f" {v:.3g}", va="center", fontsize=8)
    ax.set_xlim(min(values) / 3, max(values) * 30)
    ax.set_xlabel("US dollars (log scale)" if value == "usd" else value)
    ax.set_title(title)
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def perplexity_bars(values: dict[str, float], title: str = "Held-out perplexity (lower is better)"):
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(values) + 1.2))
    names, ppl = list(values), list(values.values())
    ax.barh(names, ppl, color="tab:purple")
    ax.set_xscale("log")
    for i, v in enumerate(ppl):
        ax.text(v, i, f" {v:,.1f}", va="center", fontsize=9)
    ax.set_xlim(min(ppl) / 2, max(ppl) * 4 if math.isfinite(max(ppl)) else None)
    ax.set_title(title)
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def grouped_bars(groups: dict[str, dict[str, tuple[float, float]]], ylabel: str = "accuracy",
                 title: str = "Accuracy per task"):
    """Bars per category (x) for each group (colour), with ± error bars: {group: {category: (mean, std)}}."""
    import numpy as np
    categories = list(next(iter(groups.values())))
    x = np.arange(len(categories))
    width = 0.8 / len(groups)
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(categories)), 4))
    for i, (name, vals) in enumerate(groups.items()):
        means = [vals[c][0] for c in categories]
        stds = [vals[c][1] for c in categories]
        ax.bar(x + i * width - 0.4 + width / 2, means, width, yerr=stds, capsize=3, label=name)
    ax.set_xticks(x, [textwrap.fill(str(c), 14) for c in categories])  # long names on two lines, not overlapping
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


MEMORY_COLOURS = {"weights": "#4c72b0", "quant_constants": "#8172b2", "optimizer_states": "#dd8452",
                  "gradients": "#c44e52", "activations": "#55a868", "logits_buffers": "#937860",
                  "optimizer_temporaries": "#da8bc3", "gathered_params": "#8c8c8c"}  # the last: FSDP only


def memory_bars(breakdowns: dict[str, dict[str, int]], title: str = "Predicted peak memory of one training step",
                limit_bytes: float | None = None, ax=None):
    """Stacked horizontal bars, one per configuration, split by what holds the memory; an optional device
    limit as a dashed line."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(8, 0.55 * len(breakdowns) + 1.6))
    scale, unit = (2**30, "GiB") if max(sum(b.values()) for b in breakdowns.values()) > 2**30 else (2**20, "MiB")
    labels = list(breakdowns)
    left = [0.0] * len(labels)
    for part, colour in MEMORY_COLOURS.items():
        width = [breakdowns[name].get(part, 0) / scale for name in labels]
        if any(width):
            ax.barh(labels, width, left=left, color=colour, label=part.replace("_", " "))
        left = [a + b for a, b in zip(left, width)]
    if limit_bytes:
        ax.axvline(limit_bytes / scale, color="black", linestyle="--")
        ax.annotate(f"device: {limit_bytes / scale:.0f} {unit}", (limit_bytes / scale, 1.0),
                    xycoords=("data", "axes fraction"), ha="right", va="bottom", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def sweep_lines(curves: dict[str, dict[float, float]], xlabel: str = "learning rate",
                ylabel: str = "validation response loss", title: str = "Learning-rate sweep", ax=None):
    """One line per method over a log-scale x (e.g. loss per learning rate), its minimum ringed; on `ax` when
    given (a panel of a larger figure)."""
    fig, ax = plt.subplots(figsize=(7, 4)) if ax is None else (ax.figure, ax)
    for name, points in curves.items():
        xs = sorted(points)
        line, = ax.plot(xs, [points[x] for x in xs], marker="o", label=name)
        best = min(points, key=points.get)
        ax.scatter([best], [points[best]], s=160, facecolors="none", edgecolors=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pareto(points: dict[str, tuple[float, float, float]], xlabel: str, ylabel: str, title: str,
           logx: bool = True, ax=None):
    """Labelled points {name: (x, y mean, y std)} with error bars: what each option costs (x) for what it
    gives (y). Upper left is better."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 4))
    for name, (x, y, err) in points.items():
        ax.errorbar([x], [y], yerr=[err], fmt="o", capsize=3)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
