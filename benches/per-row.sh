#!/usr/bin/env bash
# Time per row of a large diff under a memory limit against the 2,000,000-row reference diff.
#
#   benches/per-row.sh [--runs N] [--rows N] [--memory-limit SIZE] [BINARY]
#
# The scale issue asks that 2 x 50,000,000 rows diffed with `--memory-limit 2GiB` take at most
# 1.3x the time per row of the 2,000,000-row run, with a peak RSS under 3 GiB and exact counts.
# On this kind of machine the speed drifts by a third within minutes, so the two diffs run in
# turn, N times (default 3), as whole processes: the reference run as `benches/peers.sh` times
# it (no options), the large run with the limit. Prints the medians of wall time and time per
# row, their ratio, the large run's largest peak RSS, and whether every run's counts were right
# (exit 1 when one was not).
# Both data sets come from `benches/peers.sh` (`--rows 50000000 --only-dqc` for the large one).
set -euo pipefail

runs=3 rows=50000000 memory_limit=2GiB
dqc="${CARGO_TARGET_DIR:-$HOME/.cache/dqc-target}/release/dqc"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    --memory-limit) memory_limit="$2"; shift 2 ;;
    -*) echo "unknown argument: $1" >&2; exit 2 ;;
    *) dqc="$1"; shift ;;
  esac
done

peers="${DQC_PEERS_DIR:-$HOME/.cache/dqc-peers}/data"
small="$peers/orders-2000000" large="$peers/orders-$rows"
for data in "$small" "$large"; do
  [ -f "$data/truth.json" ] || { echo "no data set at $data: run benches/peers.sh first" >&2; exit 2; }
done
[ -x "$dqc" ] || { echo "no dqc binary at $dqc: cargo build --release first" >&2; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Appends "wall peak_rss_kib right|WRONG" of one diff of $2 to $out/$1.
diff_once() {
  local name="$1" data="$2"; shift 2
  /usr/bin/time -f '%e %M' -o "$out/time" "$dqc" diff --baseline "$data/baseline" \
    --candidate "$data/candidate" --key order_id --format json "$@" >"$out/report.json" 2>/dev/null || true
  local verdict
  verdict=$(python3 - "$out/report.json" "$data/truth.json" <<'EOF'
import json, sys
truth = json.load(open(sys.argv[2]))
try:
    summary = json.load(open(sys.argv[1]))["summary"]
except (ValueError, KeyError):
    print("WRONG")  # no report: dqc failed (its exit code 2)
    sys.exit()
keys = ["matched", "changed", "only_in_baseline", "only_in_candidate"]
print("right" if all(summary[k] == truth[k] for k in keys) else "WRONG")
EOF
  )
  echo "$(grep -v '^Command' "$out/time") $verdict" >>"$out/$name"
}

for _ in $(seq "$runs"); do
  diff_once small "$small"
  diff_once large "$large" --memory-limit "$memory_limit"
done

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
rows_of() { python3 -c 'import json, sys; t = json.load(open(sys.argv[1])); print(t["rows_baseline"] + t["rows_candidate"])' "$1/truth.json"; }
small_wall=$(cut -d' ' -f1 "$out/small" | median)
large_wall=$(cut -d' ' -f1 "$out/large" | median)
large_rss=$(cut -d' ' -f2 "$out/large" | sort -n | tail -1)
counts=$(cat "$out/small" "$out/large" | grep -q WRONG && echo WRONG || echo right)
echo "$runs runs each in turn, medians; dqc: $dqc"
awk -v sw="$small_wall" -v lw="$large_wall" -v sr="$(rows_of "$small")" -v lr="$(rows_of "$large")" \
  -v rss="$large_rss" -v limit="$memory_limit" -v counts="$counts" 'BEGIN {
    printf "%-34s %8s %12s\n", "run", "wall s", "ns per row"
    printf "%-34s %8.2f %12.1f\n", "2,000,000 rows a side", sw, sw / sr * 1e9
    printf "%-34s %8.2f %12.1f\n", "large, --memory-limit " limit, lw, lw / lr * 1e9
    ratio = sw > 0 ? sprintf("%.2fx", (lw / lr) / (sw / sr)) : "none (no time)"
    printf "time per row, large / 2,000,000: %s; large peak RSS %.0f MiB; counts %s\n",
      ratio, rss / 1024, counts
  }'
[ "$counts" = right ]  # a wrong count fails the run
