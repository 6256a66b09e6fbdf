#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the pinned, known-good set plus the project.
# Re-running is cheap: pip skips what is already installed.
# GPU hosts: install a CUDA build of torch into .venv first (README, "GPU"); the pin
# torch==2.13.0 below is then already satisfied and stays as you installed it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r "${1:-requirements.txt}"
.venv/bin/python -m pip install --quiet --no-deps -e .
