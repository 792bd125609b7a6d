"""Notebook 05's measurements: each PEFT method on the same data and step budget -> quality, cost and what it
takes to deploy (trainable parameters, file size on disk, generation latency, merged or not)."""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path

import torch

from ftlab.core.bottleneck import save_adapters
from ftlab.core.course_data import course_data
from ftlab.core.evaluate import chat_prompts
from ftlab.core.jsonl import update_json
from ftlab.core.lr_sweeps import learning_rates
from ftlab.core.peft_methods import trainable_parameters
from ftlab.core.profiles import Profile
from ftlab.core.provenance import changes, stamp
from ftlab.core.seedstore import Experiment, settings_key
from ftlab.core.stats import mean_std
from ftlab.core.train import fine_tune_and_score


def saved_bytes(model, method: str, folder: Path) -> int:
    """Bytes on disk of what this method ships: the whole model for full FT, otherwise only what it trained."""
    folder = Path(folder)
    if method == "adapters":

        save_adapters(model, folder)
    else:
        model.save_pretrained(folder)  # peft models save only their adapter
    return sum(p.stat().st_size for p in folder.rglob("*.safetensors"))


def _timing_batch(model, tokenizer, rows: list[dict]):
    """The rows' prompts as one left-padded batch on the model's device (what generation needs)."""
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        enc = tokenizer(chat_prompts(tokenizer, rows), return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side
    return enc.to(next(model.parameters()).device)


def _time_generation(model, enc, new_tokens: int, pad_id: int) -> float:
    """Seconds for one greedy generation of exactly `new_tokens` tokens (fixed, so early stoppers gain nothing)."""
    start = time.perf_counter()
    with torch.no_grad():
        model.generate(**enc, do_sample=False, min_new_tokens=new_tokens, max_new_tokens=new_tokens,
                       use_cache=True, pad_token_id=pad_id)
    return time.perf_counter() - start


def latency_rounds(models: dict, tokenizer, rows: list[dict], new_tokens: int = 16,
                   repeats: int = 7) -> dict[str, list[float]]:
    """{name: seconds per round} to generate `new_tokens` for all `rows` in one batch. The models are timed in
    turns, round after round, so a slow moment of the machine hits all of them alike (compare them round by
    round); the first round is a warm-up and is dropped."""
    for model in models.values():
        model.eval()
    batches = {name: _timing_batch(m, tokenizer, rows) for name, m in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    for round_ in range(repeats + 1):
        for name, model in models.items():
            t = _time_generation(model, batches[name], new_tokens, tokenizer.pad_token_id)
            if round_:
                times[name].append(t)
    return times


def median_spread(times: list[float]) -> tuple[float, float]:
    """(median, half the interquartile range) of a list of timings."""
    q1, _, q3 = statistics.quantiles(times, n=4)
    return statistics.median(times), (q3 - q1) / 2


def latency_side_by_side(models: dict, tokenizer, rows: list[dict], new_tokens: int = 16,
                         repeats: int = 7) -> dict[str, tuple[float, float]]:
    """{name: (median, spread)} of `latency_rounds`: spread is half the interquartile range."""
    rounds = latency_rounds(models, tokenizer, rows, new_tokens, repeats)
    return {name: median_spread(ts) for name, ts in rounds.items()}


def merged_copy(model, method: str):
    """LoRA/IA3 folded into the base weights (same outputs, no adapter at inference); None where that is
    impossible (prefix/prompt tokens, bottleneck adapters) or pointless (full FT)."""
    if method not in ("lora", "ia3"):
        return None
    import copy

    return copy.deepcopy(model).merge_and_unload()


def max_logit_difference(a, b, tokenizer, rows: list[dict]) -> float:
    """Largest absolute difference between two models' logits on the same rows (merging should give ~0)."""
    texts = [r["messages"][0]["content"] for r in rows]
    enc = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        return float((a(**enc).logits - b(**enc).logits).abs().max())


def run_method(profile: Profile, method: str, seed: int, learning_rate: float, train: list[dict], test: list[dict],
               keep_model: bool = False) -> dict:
    """One method, one seed: SFT with the profile's settings at `learning_rate`, then quality, size on disk and
    run cost; `keep_model` adds the trained model (for timing it side by side with the others later)."""
    r = fine_tune_and_score(profile, train, None, test, seed, name=f"05-{method}", method=method,
                            peft_options=profile.peft, learning_rate=learning_rate,
                            reuse=method == "full")  # trained once per code version, loaded by a rerun
    model = r["model"]
    trainable, total = trainable_parameters(model)
    row = {"method": method, "seed": seed, "learning_rate": learning_rate,
           "accuracy": r["scores"]["overall"]["accuracy"], "response_loss": r["response_loss"],
           "trainable": trainable, "total": total, "wall_time_s": r["wall_time_s"], "tokens_per_s": r["tokens_per_s"],
           "saved_bytes": saved_bytes(model, method, Path(r["card_path"]).parent / "saved"),
           "card_path": str(r["card_path"])}
    if keep_model:
        row["model"] = model
    return row


def comparison_data(profile: Profile) -> tuple[list[dict], list[dict]]:
    """Notebook 05's training and test rows: notebook 01's."""
    train, _, test = course_data(profile)
    return train, test


def comparison(profile: Profile, train: list[dict], test: list[dict], keep_models: bool = True):
    """Notebook 05's experiment: every method of COMPARED at its swept learning rate, one `run_method` per
    (method, seed); the first live seed keeps its models for the latency measurement. Live and stored twins
    must agree within one test answer in a hundred and 0.02 nats of response loss."""
    first_live = (profile.live_seeds or profile.seeds)[0]
    rates = learning_rates(profile)

    def run(method: str, seed: int) -> dict:
        return run_method(profile, method, seed, rates[method], train, test,
                          keep_model=keep_models and seed == first_live)

    inputs = {"sft": settings_key(profile.sft), "peft": settings_key(profile.peft),
              "learning_rates": rates, "max_new_tokens": profile.max_new_tokens,
              "train": train, "test": test}
    return Experiment("05-peft", profile, COMPARED, run, inputs,
                      tolerance={"accuracy": 0.01, "response_loss": 0.02})


def experiment(profile: Profile) -> Experiment:
    """`comparison` on `comparison_data`, keeping no models: what bench/stored_seeds.py stores."""
    return comparison(profile, *comparison_data(profile), keep_models=False)


def lr_sweep(profile: Profile, grid: dict[str, tuple[float, ...]], train: list[dict], val: list[dict], seed: int = 0,
             out: Path | None = None, widen: int = 2) -> dict:
    """Validation response loss of each method at each learning rate (one seed): the documented sweep the
    profile's per-method learning rates come from. Where the best rate is at the edge of the grid, the grid
    widens by the same factor (at most `widen` more rates), so the winner is a minimum, not a boundary.
    Every point is saved to `out` as soon as it is measured (with provenance and fingerprint), and points
    already there are not re-run while the code and data they came from are unchanged. Processes sweeping
    other methods into the same file at once (one per core) add to it without overwriting each other."""
    result = {"profile": profile.name, "seed": seed, "val_rows": len(val), "losses": {}, "best": {},
              "certifications": []}
    if out:
        result = stamp(result, Path(out), profile.precision)

    def same_sweep(saved: dict | None) -> bool:
        return bool(saved) and (saved["profile"], saved["seed"], saved["val_rows"]) == (
            profile.name, seed, len(val)) and not changes(saved.get("fingerprint"), result["fingerprint"])

    def merged(saved: dict | None) -> dict:
        """This process's points added to those in the file (other methods, other processes)."""
        if same_sweep(saved):
            for method, points in saved["losses"].items():
                for lr, loss in points.items():
                    result["losses"].setdefault(method, {}).setdefault(lr, loss)
            for method, best in saved.get("best", {}).items():
                result["best"].setdefault(method, best)
        return result

    if out and Path(out).exists():
        merged(json.loads(Path(out).read_text()))
    for method, rates in grid.items():
        losses = result["losses"].setdefault(method, {})
        todo, extra = sorted(rates), 0
        while todo:
            lr = todo.pop(0)
            if f"{lr:g}" not in losses:
                losses[f"{lr:g}"] = sweep_point(profile, method, lr, train, val, seed)
                print(f"{method:9s} lr {lr:<8g} validation response loss {losses[f'{lr:g}']:.3f}", flush=True)
                if out:
                    update_json(Path(out), merged)
            if not todo and extra < widen:
                todo = _next_rate(losses, sorted(rates))
                extra += len(todo)
        result["best"][method] = float(min(losses, key=losses.get))
    if out:
        update_json(Path(out), merged)
    return result


def sweep_point(profile: Profile, method: str, learning_rate: float, train: list[dict], val: list[dict], seed: int = 0) -> float:
    """One point of `lr_sweep`: the validation response loss of `method` trained at `learning_rate`."""
    run = fine_tune_and_score(profile, train, None, val, seed, name=f"05-sweep-{method}", method=method,
                              peft_options=profile.peft, learning_rate=learning_rate, generate=False)
    return run["response_loss"]


def _next_rate(losses: dict[str, float], grid: list[float]) -> list[float]:
    """One more rate on the 1-3-10 ladder beyond the edge when the best so far sits on that edge, else none."""
    rates = sorted(float(k) for k in losses)
    best = float(min(losses, key=losses.get))
    if best == rates[-1]:
        return [_ladder(best, up=True)]
    if best == rates[0]:
        return [_ladder(best, up=False)]
    return []


def _ladder(rate: float, up: bool) -> float:
    """The neighbour of `rate` on the ladder ..., 1e-3, 3e-3, 1e-2, 3e-2, ... (up or down)."""
    exponent = math.floor(math.log10(rate) + 1e-9)
    rungs = [m * 10.0 ** e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 3)]
    i = min(range(len(rungs)), key=lambda k: abs(math.log(rungs[k] / rate)))
    return float(f"{rungs[i + 1 if up else i - 1]:.3g}")


def summarise(rows: list[dict], keys: tuple[str, ...]) -> dict[str, dict[str, tuple[float, float]]]:
    """{method: {key: (mean, std over seeds)}} for the numeric `keys` of run_method rows."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        out[method] = {k: mean_std([r[k] for r in mine]) for k in keys if all(k in r for r in mine)}
    return out


def relative(value: tuple[float, float], reference: tuple[float, float]) -> tuple[float, float]:
    """value / reference for two (mean, std) pairs, with the std propagated to first order."""
    (a, sa), (b, sb) = value, reference
    ratio = a / b
    return ratio, (abs(ratio) * ((sa / a) ** 2 + (sb / b) ** 2) ** 0.5 if a else sa / b)


# The methods notebook 05 compares, in the order its tables show them (DoRA is left to an exercise).
COMPARED = ("full", "lora", "qlora", "adapters", "ia3", "prefix", "prompt")


def trainable_names(model, limit: int = 4) -> list[str]:
    """The first few trainable parameter names with their shapes: what a method actually adds or unfreezes."""
    return [f"{n} {tuple(p.shape)}" for n, p in model.named_parameters() if p.requires_grad][:limit]
