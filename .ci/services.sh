#!/usr/bin/env bash
# Install what tests/integration needs from Debian, once: PostgreSQL server binaries
# (the tests start their own throwaway server; no system cluster is used) and
# docker-compose v1, which validates docker-compose.yml without a Docker engine.
# Idempotent: installs nothing when both are present. Needs root and a Debian apt source.
set -euo pipefail

missing=()
if ! command -v pg_ctl >/dev/null && ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  missing+=(postgresql)
fi
if ! command -v docker-compose >/dev/null; then
  missing+=(docker-compose)
fi
if [ "${#missing[@]}" -eq 0 ]; then
  echo "services.sh: postgresql and docker-compose already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "services.sh: need root to install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
