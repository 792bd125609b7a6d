"""Where a notebook's time goes, measured inside its kernel: `bench/course_time.py` makes every course kernel it
starts run this file first (an IPython startup file), so nothing in the notebooks or in ftlab changes.

Timers wrap the library calls the course spends its time in, each time counted once, in the innermost category
(a model loaded inside a training call is loading, the trainer's evaluation inside it is evaluation):

- training: `transformers.Trainer.train` (TRL's SFT and DPO trainers included), `ftlab.lessons.pretraining.pretrain`
- evaluation: `GenerationMixin.generate`, `Trainer.evaluate`, ftlab's loss and log-probability scorers
- loading: `from_pretrained` of models and tokenizers
- probes: the memory probes (`ftlab.core.memprobe`, run in helper processes) and the matmul-peak measurement the run
  cards' MFU needs
- imports: this file importing torch, transformers, TRL and ftlab (a notebook's first cell would otherwise)

and count the FLOPs of every run trained live, from the run card each run writes (`ftlab.core.runcard.write_card`):
tokens × FLOPs per token (`ftlab.core.throughput.training_flops_per_token` of the model being trained: 4·N + 2·N
trainable; a run loaded from the run cache trained nothing). After every outermost timed call the totals are
written to the JSON file that FTLAB_TIME_SPLIT names.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

if __name__ == "__main__":  # a kernel runs this file as a startup file; as a command it only explains itself
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    raise SystemExit("run by bench/course_time.py in every course kernel; nothing to do as a command")

START = time.time()

import trl  # noqa: E402,F401  (imported here so that its import time counts as imports, not as the first cell)
from transformers import GenerationMixin, PreTrainedModel, PreTrainedTokenizerBase, Trainer  # noqa: E402

import ftlab.core.evaluate as evaluate  # noqa: E402
import ftlab.core.memprobe as memprobe  # noqa: E402
import ftlab.core.runcard as runcard  # noqa: E402
import ftlab.core.throughput as throughput  # noqa: E402
import ftlab.lessons.pretraining as pretraining  # noqa: E402

OUT = os.environ["FTLAB_TIME_SPLIT"]
totals = {"kernel_started_at": START, "imports": 0.0, "training": 0.0, "evaluation": 0.0,
          "loading": 0.0, "probes": 0.0, "training_flops": 0.0, "training_tokens": 0, "runs": []}
_stack: list[list] = []  # [category, start, seconds spent in nested timed calls]
_last_trained: dict = {}  # FLOPs per token of the model the last Trainer.train call trained, for its run card


def timed(category: str, fn):
    """`fn` with its exclusive time added to `category`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _stack.append([category, time.perf_counter(), 0.0])
        try:
            return fn(*args, **kwargs)
        finally:
            cat, start, nested = _stack.pop()
            spent = time.perf_counter() - start
            totals[cat] += spent - nested
            if _stack:
                _stack[-1][2] += spent
            else:
                _save()
    return wrapper


def _save() -> None:
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(totals, f)
    os.replace(tmp, OUT)


def _train(fn):
    """Trainer.train, noting the FLOPs per token of the model it trains (the run card written next counts them)."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        _last_trained["flops_per_token"] = throughput.training_flops_per_token(self.model)
        return fn(self, *args, **kwargs)
    return timed("training", wrapper)


def _card_written(fn):
    """write_card, adding a live run's training FLOPs to the totals."""
    @functools.wraps(fn)
    def wrapper(card, *args, **kwargs):
        trained = _last_trained.pop("flops_per_token", None)
        per_token = 6.0 * card["parameters"] if card["kind"] == "pretrain" else trained
        if per_token and not card.get("reused_from"):
            totals["training_flops"] += per_token * card["tokens"]
            totals["training_tokens"] += card["tokens"]
            totals["runs"].append({"kind": card["kind"], "tokens": card["tokens"],
                                   "wall_time_s": card["wall_time_s"], "flops": per_token * card["tokens"]})
        return fn(card, *args, **kwargs)
    return wrapper


def _classmethod(category: str, method):
    return classmethod(timed(category, method.__func__))


def patch(module, name: str, wrap) -> None:
    """Replace `module.name` by `wrap(it)`, also where a module imported so far bound it by name (`from … import`)."""
    original = getattr(module, name)
    patched = wrap(original)
    for loaded in list(sys.modules.values()):
        if getattr(loaded, name, None) is original:
            setattr(loaded, name, patched)
    setattr(module, name, patched)


Trainer.train = _train(Trainer.train)
Trainer.evaluate = timed("evaluation", Trainer.evaluate)
GenerationMixin.generate = timed("evaluation", GenerationMixin.generate)
PreTrainedModel.from_pretrained = _classmethod("loading", PreTrainedModel.from_pretrained)
PreTrainedTokenizerBase.from_pretrained = _classmethod("loading", PreTrainedTokenizerBase.from_pretrained)
for name in ("response_loss", "mean_loss", "completion_logprobs", "heldout_perplexity"):
    patch(evaluate, name, functools.partial(timed, "evaluation"))
for name in ("measure", "measure_all"):
    patch(memprobe, name, functools.partial(timed, "probes"))
patch(throughput, "matmul_peak_flops", functools.partial(timed, "probes"))
patch(pretraining, "pretrain", functools.partial(timed, "training"))
patch(runcard, "write_card", _card_written)
totals["imports"] = time.time() - START
_save()
