"""Interactive notebook tools (ipywidgets). Each also works headless: its state is plain attributes, and
`update()` recomputes what is shown, so tests and nbval can drive it without a browser."""

from __future__ import annotations

import ipywidgets as w
import matplotlib.pyplot as plt
from IPython.display import clear_output, display

from ftlab.core import memory
from ftlab.core.memory import gib
from ftlab.core.settings import OPTIMIZERS, PRECISIONS, PeftOptions, TrainSetup
from ftlab.course.plots import memory_bars

GPU_SIZES = [("8 GB", 8), ("12 GB", 12), ("16 GB", 16), ("24 GB (RTX 4090)", 24), ("40 GB (A100)", 40),
             ("48 GB (L40S)", 48), ("80 GB (A100/H100)", 80), ("141 GB (H200)", 141)]


METHODS = ("full", "lora", "qlora", "prefix", "prompt", "ia3")


class MemoryCalculator:
    """Model, method, precision, optimizer, batch, sequence length, checkpointing and GPU size in; predicted
    peak memory (stacked bars), whether it fits, and the largest batch that fits out."""

    def __init__(self, model: str = "llama-2-7b", method: str = "lora", gpu_gb: int = 24):
        style = {"description_width": "110px"}
        self.model = w.Dropdown(options=memory.config_names(), value=model, description="model", style=style)
        self.method = w.Dropdown(options=METHODS, value=method, description="method", style=style)
        self.precision = w.Dropdown(options=PRECISIONS, value="bf16", description="precision", style=style)
        self.optimizer = w.Dropdown(options=OPTIMIZERS, value="adamw", description="optimizer", style=style)
        self.batch = w.IntSlider(value=4, min=1, max=64, description="batch size", style=style)
        self.seq = w.Dropdown(options=[128, 256, 512, 1024, 2048, 4096], value=512, description="sequence length",
                              style=style)
        self.lora_r = w.Dropdown(options=[4, 8, 16, 32, 64], value=8, description="LoRA rank", style=style)
        self.checkpointing = w.Checkbox(value=False, description="gradient checkpointing", style=style)
        self.gpu = w.Dropdown(options=GPU_SIZES, value=gpu_gb, description="GPU memory", style=style)
        self.summary = w.HTML()
        self.plot = w.Output()
        controls = [self.model, self.method, self.precision, self.optimizer, self.batch, self.seq, self.lora_r,
                    self.checkpointing, self.gpu]
        for control in controls:
            control.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([w.VBox(controls[:5]), w.VBox(controls[5:])]), self.summary, self.plot])
        self.update()

    def setup(self, **changes) -> TrainSetup:
        values = dict(method=self.method.value, precision=self.precision.value, optimizer=self.optimizer.value,
                      batch_size=self.batch.value, seq_len=self.seq.value, device="cuda",
                      gradient_checkpointing=self.checkpointing.value and self.method.value != "prefix",
                      peft=PeftOptions(lora_r=self.lora_r.value))
        return TrainSetup(**{**values, **changes})

    def update(self) -> None:
        """Recompute the prediction and redraw (called on every change)."""
        budget = self.gpu.value * 2**30
        try:
            setup = self.setup()
            prediction = memory.estimate(self.model.value, setup)
            largest = memory.largest_batch(self.model.value, setup, budget, limit=1024)
        except ValueError as err:
            self.summary.value = f"<b>not a valid setup:</b> {err}"
            return
        fits = prediction.total <= budget
        self.fits, self.total, self.largest_batch = fits, prediction.total, largest
        verdict = "fits" if fits else "does NOT fit"
        self.summary.value = (
            f"<b>{gib(prediction.total)}</b> predicted peak ({prediction.peak_phase}) - <b>{verdict}</b> in "
            f"{self.gpu.label}; largest batch that fits: <b>{largest}</b>; trainable parameters "
            f"{prediction.trainable_params:,} ({prediction.trainable_fraction:.3%})")
        with self.plot:
            clear_output(wait=True)
            label = f"{self.model.value} {setup.method} b{setup.batch_size} s{setup.seq_len}"
            fig = memory_bars({label: prediction.breakdown}, limit_bytes=budget, title="Predicted peak memory")
            display(fig)
            plt.close(fig)

    def _ipython_display_(self):
        display(self.widget)
