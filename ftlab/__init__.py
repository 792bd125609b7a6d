"""ftlab: the lab equipment behind the fine-tuning course in notebooks/ (see README.md)."""
import logging
import os
import sys

__version__ = "0.1.0"

# Supported: Linux (tested) and macOS (untested). Windows lacks what ftlab measures with (the `resource` module
# for peak memory, fork and SIGALRM for the memory probes) and what it installs with (bash): say so at import,
# not with an AttributeError halfway through a notebook.
if sys.platform == "win32":
    raise ImportError("ftlab runs on Linux (tested) and macOS (untested), not natively on Windows: it measures peak "
                      "memory with the Unix-only `resource` module and runs memory probes in forked processes. "
                      "On Windows, use WSL2 (https://learn.microsoft.com/windows/wsl/install) and follow README.md.")

# TRL's trainers send a usage ping to huggingface.co from a background thread on every SFTTrainer(...) unless
# HF_HUB_OFFLINE, HF_HUB_DISABLE_TELEMETRY or CI is set (found by tests/test_offline_and_safety.py). ftlab runs
# offline by design, so it opts out; set HF_HUB_DISABLE_TELEMETRY=0 to opt back in. huggingface_hub reads the
# variable once, when it is imported: if it already is, its constant is switched off too.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
if os.environ["HF_HUB_DISABLE_TELEMETRY"].lower() in ("1", "true", "yes", "on") and "huggingface_hub.constants" in sys.modules:
    sys.modules["huggingface_hub.constants"].HF_HUB_DISABLE_TELEMETRY = True

# bitsandbytes on CPUs with AVX-512 BF16 tries to fetch an optional kernel from a hub (the `kernels` package)
# and logs a warning when it cannot; the course is offline by design, so that warning is noise here.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
