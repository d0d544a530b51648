#!/usr/bin/env bash
# Two or more dqc binaries against each other and the scan floor, interleaved in one run.
#
#   benches/interleave.sh [--runs N] [--rows N] [--equal] NAME=BINARY...
#
# On this kind of machine the speed drifts by a third within minutes, so a change is measured
# by running, N times in turn (default 8), `dqc scan` of both sides (with the first binary) and
# each binary's `dqc diff`, on the data set `benches/peers.sh` generated (run it first). Prints
# the medians of wall time and of CPU time (user + sys), each diff's ratio to the scan, and the
# CPU time it spends beyond the scan's. For example, the last commit against the one before:
#
#   git stash; cargo build --release; cp "$CARGO_TARGET_DIR/release/dqc" /tmp/dqc-before; git stash pop
#   cargo build --release
#   benches/interleave.sh --equal before=/tmp/dqc-before after="$CARGO_TARGET_DIR/release/dqc"
set -euo pipefail

runs=8 rows=2000000 equal=""
binaries=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    --equal) equal="-equal"; shift ;;
    *=*) binaries+=("$1"); shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ ${#binaries[@]} -gt 0 ] || { echo "usage: $0 [--runs N] [--rows N] [--equal] NAME=BINARY..." >&2; exit 2; }

data="${DQC_PEERS_DIR:-$HOME/.cache/dqc-peers}/data/orders-$rows$equal"
[ -f "$data/truth.json" ] || { echo "no data set at $data: run benches/peers.sh first" >&2; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Appends "wall cpu" of one run of a command to $out/$1 (`dqc diff` exits 1 on differences).
timed() {
  local name="$1"; shift
  /usr/bin/time -f '%e %U %S' -o "$out/time" "$@" >/dev/null 2>&1 || true
  grep -v '^Command' "$out/time" | awk '{print $1, $2 + $3}' >>"$out/$name"
}

# Each run starts one place further along the list (the scan included), so that no binary always
# runs right after the same other one.
first="${binaries[0]#*=}"
entries=(scan "${binaries[@]}")
for run in $(seq "$runs"); do
  for i in "${!entries[@]}"; do
    entry="${entries[$(( (i + run) % ${#entries[@]} ))]}"
    if [ "$entry" = scan ]; then
      timed scan "$first" scan "$data/baseline" "$data/candidate" --format json
    else
      timed "${entry%%=*}" "${entry#*=}" diff --baseline "$data/baseline" --candidate "$data/candidate" \
        --key order_id --format json
    fi
  done
done

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
scan_wall=$(cut -d' ' -f1 "$out/scan" | median)
scan_cpu=$(cut -d' ' -f2 "$out/scan" | median)
echo "$data, $runs runs each, medians"
printf '%-12s %8s %8s %8s %14s\n' binary "wall s" "x scan" "CPU s" "CPU beyond scan"
printf '%-12s %8s %8s %8s %14s\n' scan "$scan_wall" 1.00 "$scan_cpu" ""
for entry in "${binaries[@]}"; do
  name="${entry%%=*}"
  wall=$(cut -d' ' -f1 "$out/$name" | median)
  cpu=$(cut -d' ' -f2 "$out/$name" | median)
  awk -v n="$name" -v w="$wall" -v c="$cpu" -v sw="$scan_wall" -v sc="$scan_cpu" \
    'BEGIN {printf "%-12s %8.3f %8.2f %8.3f %14.3f\n", n, w, w / sw, c, c - sc}'
done
