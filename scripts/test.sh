#!/usr/bin/env bash
# The README's test command: set up, start what the integration tests need, run pytest.
# Every test runs (slow and integration ones included); GPU tests skip without CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-dev.txt
if [ "$(id -u)" = 0 ]; then
  bash .ci/services.sh  # Debian's PostgreSQL for tests/integration (root only)
fi
export MIXER_STATE_DIR="${MIXER_STATE_DIR:-$(mktemp -d)}"
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
