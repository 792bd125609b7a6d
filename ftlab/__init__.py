"""ftlab: the lab equipment behind the fine-tuning course in notebooks/ (see README.md)."""
import logging

__version__ = "0.1.0"

# bitsandbytes on CPUs with AVX-512 BF16 tries to fetch an optional kernel from a hub (the `kernels` package)
# and logs a warning when it cannot; the course is offline by design, so that warning is noise here.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
