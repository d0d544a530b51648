#!/usr/bin/env bash
# Fuzzes the REST API from its own OpenAPI document with schemathesis (installed into a virtual
# environment under ~/.cache the first time) against a running `dqc serve`, with an admin token
# so that every route is reached: no answer may be a 5xx, break the document (status, schema,
# content type) or crash the service. Not checked: positive_data_acceptance (a request the
# document allows but dqc refuses with a precise 4xx, such as limit=0; the document does not
# state every bound).
#
# Usage: scripts/fuzz-api.sh [sqlite|postgres] [max examples per operation, default 30]
#   postgres uses $DQC_TEST_POSTGRES_URL (a fresh schema is created and dropped).
# Exits 3 when schemathesis cannot be installed, 1 when it found something.
set -euo pipefail
cd "$(dirname "$0")/.."
engine="${1:-sqlite}" examples="${2:-30}"
venv="${DQC_SCHEMATHESIS_VENV:-$HOME/.cache/dqc-schemathesis}"
. scripts/venv.sh
ensure_venv "$venv" st 'schemathesis==4.*'
cargo build --quiet -p api --bin dqc
dqc="${CARGO_TARGET_DIR:-target}/debug/dqc"
work="$(mktemp -d)"
schema=""
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  if [ -n "$schema" ]; then psql -q "$DQC_TEST_POSTGRES_URL" -c "DROP SCHEMA $schema CASCADE" >/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
store="sqlite://$work/dqc.db"
if [ "$engine" = postgres ]; then
  : "${DQC_TEST_POSTGRES_URL:?set DQC_TEST_POSTGRES_URL to fuzz on PostgreSQL}"
  schema="dqc_fuzz_$$"
  psql -q "$DQC_TEST_POSTGRES_URL" -c "CREATE SCHEMA $schema"
  separator='?'; case "$DQC_TEST_POSTGRES_URL" in *\?*) separator='&' ;; esac
  store="${DQC_TEST_POSTGRES_URL}${separator}options=-c%20search_path%3D$schema"
fi
token="$("$dqc" token --name fuzz --role admin | sed -n 's/^token .*: //p')"
digest="$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)"
mkdir -p "$work/data/exports"
cat > "$work/dqc.toml" <<EOF
[[clusters]]
name = "idc"
role = "baseline"
location = "file://$work/data/{cluster}/{db}.db/{table}/{partition_path}"

[[clusters]]
name = "emr"
role = "candidate"
location = "file://$work/data/{cluster}/{db}.db/{table}/{partition_path}"

[store]
url = "$store"

[api]
listen = "127.0.0.1:0"
allowed_roots = ["$work/data/exports"]
tokens = [{ name = "fuzz", role = "admin", sha256 = "$digest" }]

[runner]
export_dir = "$work/exports"

[[tables]]
name = "dw.orders"
key = ["id"]
EOF
RUST_LOG=info NO_COLOR=1 "$dqc" serve --config "$work/dqc.toml" > "$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  address="$(grep -o 'listening.*127\.0\.0\.1:[0-9]*' "$work/serve.log" | grep -o '127\.0\.0\.1:[0-9]*' | head -1 || true)"
  [ -n "$address" ] && break
  sleep 0.2
done
[ -n "$address" ] || { cat "$work/serve.log" >&2; echo "fuzz-api: dqc serve did not start" >&2; exit 1; }
address="http://$address"
status=0
"$venv/bin/st" run "$address/api/v1/openapi.json" --url "$address" \
  -H "Authorization: Bearer $token" --checks all --exclude-checks positive_data_acceptance \
  --max-examples "$examples" \
  --report junit --report-junit-path "$work/junit.xml" || status=$?
cases="$(grep -o 'tests="[0-9]*"' "$work/junit.xml" | head -1 || true)"
echo "fuzz-api ($engine): schemathesis exit $status; $cases"
kill -0 "$pid" 2>/dev/null || { echo "fuzz-api: dqc serve died" >&2; tail "$work/serve.log" >&2; exit 1; }
exit "$status"
