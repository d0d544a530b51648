#!/usr/bin/env bash
# Validates the REST API's OpenAPI document with openapi-spec-validator (the Python reference
# validator), installed into a virtual environment under ~/.cache the first time.
# Usage: scripts/check-openapi.sh [path/to/dqc]   (default: builds and runs `cargo run`)
# Exits 3 when the validator cannot be installed (no python3 venv, no PyPI), 1 when the
# document is invalid.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${DQC_OPENAPI_VENV:-$HOME/.cache/dqc-openapi-venv}"
if [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet 'openapi-spec-validator==0.9.*'; }; then
    echo "check-openapi: cannot install openapi-spec-validator into $venv" >&2
    rm -rf "$venv"
    exit 3
  fi
fi
document="$(mktemp --suffix=.json)"
trap 'rm -f "$document"' EXIT
if [ $# -ge 1 ]; then "$1" openapi > "$document"; else cargo run --quiet -p api --bin dqc -- openapi > "$document"; fi
"$venv/bin/openapi-spec-validator" "$document"
