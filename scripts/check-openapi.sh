#!/usr/bin/env bash
# Validates the REST API's OpenAPI document with openapi-spec-validator (the Python reference
# validator), installed into a virtual environment under ~/.cache the first time.
# Usage: scripts/check-openapi.sh [path/to/dqc]   (default: builds and runs `cargo run`)
# Exits 3 when the validator cannot be installed (no python3 venv, no PyPI), 1 when the
# document is invalid.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${DQC_OPENAPI_VENV:-$HOME/.cache/dqc-openapi-venv}"
. scripts/venv.sh
ensure_venv "$venv" openapi-spec-validator 'openapi-spec-validator==0.9.*'
document="$(mktemp --suffix=.json)"
trap 'rm -f "$document"' EXIT
if [ $# -ge 1 ]; then "$1" openapi > "$document"; else cargo run --quiet -p api --bin dqc -- openapi > "$document"; fi
"$venv/bin/openapi-spec-validator" "$document"
