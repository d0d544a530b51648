#!/usr/bin/env bash
# Runs an S3-compatible server for the tests: moto's server mode (PyPI `moto[server]`, installed
# into a virtual environment on first use) on 127.0.0.1:PORT, in memory, until the process that
# started this script exits.
#
#   scripts/s3-server.sh PORT
#
# With DQC_S3_LOG=FILE, the server's request log (one line per request) goes to FILE.
# moto accepts any key and secret and does not check signatures (unless started with
# INITIAL_NO_AUTH_ACTION_COUNT=0: then keys it does not know are refused); it serves path-style requests
# and, through the Host header, virtual-hosted ones (what OSS requires).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:?usage: scripts/s3-server.sh PORT}"
venv="${DQC_MOTO_VENV:-$HOME/.cache/dqc-moto}"
. scripts/venv.sh
mkdir -p "$(dirname "$venv")"
# Test binaries start servers concurrently: one installs, the others wait for it.
exec 9>"$venv.lock"
flock 9
ensure_venv "$venv" moto_server 'moto[server]==5.*'
flock -u 9
parent=$PPID
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"${DQC_S3_LOG:-/dev/null}" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
while kill -0 "$parent" 2>/dev/null && kill -0 "$server" 2>/dev/null; do
  sleep 1
done
