#!/usr/bin/env bash
# Install what stacworks needs on a Debian/Ubuntu machine, idempotently:
# PostgreSQL + PostGIS, Chromium, Docker through apt (as root or with sudo), then the Python
# environment (.venv, from requirements.lock) and the validator's own virtualenv.
set -euo pipefail
cd "$(dirname "$0")/../.."

need_apt=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$pg_bin" ] || ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
  need_apt+=(postgresql-15 postgresql-15-postgis-3)
fi
if [ "${STACWORKS_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
  need_apt+=(chromium)
fi
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
# Docker runner tests (tests/containers): the daemon and mmdebstrap for the offline base image.
if [ "${STACWORKS_SKIP_DOCKER:-0}" != 1 ]; then
  command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
  command -v mmdebstrap >/dev/null 2>&1 || need_apt+=(mmdebstrap)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "stacworks needs these packages: ${need_apt[*]}" >&2
    echo "install them as root: apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
  echo "installing ${need_apt[*]} (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if ! command -v uv >/dev/null 2>&1; then
  "$PY" -m pip install -q uv 2>/dev/null || "$PY" -m pip install -q --user uv
fi
UV=$(command -v uv || echo "$HOME/.local/bin/uv")
if [ ! -x .venv/bin/python ]; then
  "$UV" venv -q -p "$PY" .venv
fi
if [ ! -f .venv/.installed ] || [ requirements.lock -nt .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  echo "installing the Python environment (.venv)"
  "$UV" pip install -q -p .venv/bin/python -r requirements.lock
  "$UV" pip install -q -p .venv/bin/python --no-deps -e .
  touch .venv/.installed
fi
if [ ! -x .venv-validator/bin/stac-api-validator ]; then
  echo "installing stac-api-validator (its own virtualenv)"
  "$UV" venv -q -p "$PY" .venv-validator
  "$UV" pip install -q -p .venv-validator/bin/python stac-api-validator==0.6.8
fi
if [ ! -x .venv-checkov/bin/checkov ]; then
  # checkov pins packaging/boto3 versions older than ours: its own virtualenv, like the validator.
  echo "installing checkov (its own virtualenv; lints deploy/aws)"
  "$UV" venv -q -p "$PY" .venv-checkov
  "$UV" pip install -q -p .venv-checkov/bin/python checkov==3.3.30
fi
if [ -f web_map/package.json ] && [ ! -d web_map/node_modules ]; then
  echo "installing the web map's npm packages"
  (cd web_map && npm ci --no-audit --no-fund --silent)
fi
if [ -f web_map/package.json ]; then
  (cd web_map && npm run --silent build)
fi
# The independent Node.js checkers the tests compare against (asl-validator, copc.js): the tests
# fail, never skip, without them.
if [ ! -d tests/node/node_modules ] || [ tests/node/package-lock.json -nt tests/node/node_modules ]; then
  echo "installing the test suite's Node.js checkers (tests/node)"
  (cd tests/node && npm ci --no-audit --no-fund --silent && touch node_modules)
fi
